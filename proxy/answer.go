package proxy

import (
	"net"
	"strconv"
	"time"

	"github.com/icon-edge/icon-edge/accesslog"
	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/routing"
	"github.com/valyala/fasthttp"
)

// Every JSON-RPC answer leaves through this file: the answer* functions put
// the body in place, and finish does what every answer needs — CORS, the
// HTTP status metric, and one metric sample and access-log entry per call.

// answerError answers the whole request with one error the edge made
// itself (an unreadable body, a batch over the limit, an invalid call).
func (s *Server) answerError(x *exchange, status int, id []byte, e *icon.Error) {
	if len(x.calls) == 0 {
		x.calls = x.one[:] // counted once, as an invalid call
	}
	if !x.batch {
		x.calls[0].code = e.Code
	}
	body := icon.AppendResponseError(nil, id, e)
	writeJSON(&x.ctx.Response, status, body)
	if x.batch { // the items were never served: count the request once
		x.one[0] = call{code: e.Code}
		x.calls = x.one[:]
	}
	s.finish(x, status)
}

// answerRefused answers a request the limiter refused, counted once under m.
func (s *Server) answerRefused(x *exchange, status int, id []byte, e *icon.Error, m *method) {
	writeJSON(&x.ctx.Response, status, icon.AppendResponseError(nil, id, e))
	x.one[0] = call{method: m, code: e.Code}
	x.calls = x.one[:]
	s.finish(x, status)
}

// answerNothing answers a request made only of notifications: goloop sends
// 200 with no body.
func (s *Server) answerNothing(x *exchange) {
	x.ctx.SetStatusCode(fasthttp.StatusOK)
	s.finish(x, fasthttp.StatusOK)
}

// relay answers with what is already in the response: a node's answer passed
// through as it came, or the edge's failure answer. Only hop-by-hop state is ours.
func (s *Server) relay(x *exchange) {
	resp := &x.ctx.Response
	resp.Header.ResetConnectionClose()
	x.calls[0].code = answerCode(resp)
	s.finish(x, resp.StatusCode())
}

// answerBatch assembles a batch answer in the client's order.
func (s *Server) answerBatch(x *exchange) {
	out := make([]byte, 0, 256*len(x.calls))
	out = append(out, '[')
	answered := 0
	for i := range x.calls {
		c := &x.calls[i]
		if c.answer == nil {
			continue // a notification: nobody waits for it
		}
		if answered > 0 {
			out = append(out, ',')
		}
		out = append(out, c.answer...)
		answered++
	}
	if answered == 0 {
		s.answerNothing(x)
		return
	}
	writeJSON(&x.ctx.Response, fasthttp.StatusOK, append(out, ']'))
	s.finish(x, fasthttp.StatusOK)
}

// finish books the answer in place: CORS so browser dApps can read it (as
// goloop allows), the HTTP status, and each call that was served or refused.
func (s *Server) finish(x *exchange, status int) {
	ctx := x.ctx
	if len(ctx.Request.Header.Peek("Origin")) > 0 {
		ctx.Response.Header.Set("Access-Control-Allow-Origin", "*")
	}
	s.metrics.httpStatus(status)
	took := time.Since(x.start)
	if s.traffic != nil {
		s.traffic.Observe(took, status >= 500)
	}
	for i := range x.calls {
		c := &x.calls[i]
		if c.err == nil && c.notify && (c.method == nil || c.method.Kind == routing.Read) {
			continue // a read nobody waits for was not served
		}
		callStatus, n := status, len(ctx.Response.Body())
		if x.batch {
			callStatus, n = fasthttp.StatusOK, len(c.answer)
		}
		s.record(x, c, callStatus, took, n)
	}
}

// record books one call: its metrics, and the access log when one is on.
func (s *Server) record(x *exchange, c *call, status int, took time.Duration, bytes int) {
	mm := s.metrics.invalid
	if c.method != nil {
		mm = c.method.metrics
	}
	mm.observe(c.code, took)
	if !x.st.access.Enabled() {
		return
	}
	e := accesslog.Entry{
		Time: x.start, Region: x.st.cfg.Region, Method: c.methodLabel(), HTTPStatus: status, RPCCode: c.code,
		Latency: took, Upstream: c.upstream, CacheHit: c.cacheHit, Retries: c.retries, Bytes: bytes,
		RequestID: requestID(x.ctx), ClientIP: net.IP(s.client(x).AsSlice()),
	}
	if id, ok := x.ctx.UserValue(keyIDUserValue).(string); ok {
		e.APIKeyID = id
	}
	x.st.access.Log(&e)
}

// requestID is the client's X-Request-ID, or the server's own request number.
func requestID(ctx *fasthttp.RequestCtx) string {
	if id := ctx.Request.Header.Peek("X-Request-ID"); len(id) > 0 && len(id) <= 128 {
		return string(id)
	}
	return strconv.FormatUint(ctx.ID(), 10)
}

// writeJSON sets a whole JSON answer made at the edge.
func writeJSON(resp *fasthttp.Response, status int, body []byte) {
	resp.SetStatusCode(status)
	resp.Header.SetContentType(ctJSON)
	resp.Header.Set("Vary", "Origin")
	resp.SetBody(body)
	resp.AppendBodyString("\n")
}
