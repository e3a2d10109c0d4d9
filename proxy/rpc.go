package proxy

import (
	"bytes"
	"strconv"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// Errors the edge itself answers when no node can. HTTP statuses say the same
// to load balancers: 503 nothing to send to, 502 nodes failed, 504 too slow.
var (
	errNoUpstream  = icon.NewError(icon.CodeServerError, "ServerError: no upstream node available")
	errUpstreamBad = icon.NewError(icon.CodeServerError, "ServerError: upstream node failed")
	errUpstreamTO  = icon.NewError(icon.CodeServerError, "ServerError: upstream node timed out")
)

// serveRPC handles one POST: a single call or a batch.
func (s *Server) serveRPC(ctx *fasthttp.RequestCtx, debugAPI bool) {
	start := time.Now()
	defer allowOrigin(ctx) // last, so no answer path can lose it
	body := ctx.PostBody()
	s.capture.Record(ctx.Path(), body) // nil-safe; copies what it samples, never blocks
	if len(bytes.TrimSpace(body)) == 0 {
		s.rpcError(ctx, fasthttp.StatusBadRequest, nil, icon.ErrEmptyBody)
		return
	}
	p := s.parsers.Get()
	defer s.parsers.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil || hasControlBytes(body) || hasBadEscape(body) {
		s.rpcError(ctx, fasthttp.StatusBadRequest, nil, icon.ErrParse)
		return
	}
	if v.Type() == fastjson.TypeArray {
		s.serveBatch(ctx, v, body, debugAPI, start)
		return
	}
	var c call
	s.parseCall(v, debugAPI, &c)
	if c.err != nil {
		c.code = c.err.Code
		body := icon.AppendResponseError(nil, c.id, c.err)
		s.writeJSON(ctx, fasthttp.StatusBadRequest, body)
		s.record(ctx, &c, fasthttp.StatusBadRequest, start, len(body))
		return
	}
	if s.limiter != nil && !s.admit(ctx, []call{c}, c.id, start) {
		return
	}
	if c.notify && c.method.kind != routeWrite {
		// goloop does not execute a read nobody waits for.
		ctx.SetStatusCode(fasthttp.StatusOK)
		s.metrics.httpStatus(fasthttp.StatusOK)
		return
	}
	if s.cache != nil && c.method.kind != routeWrite && s.serveCached(ctx, &c, start) {
		return
	}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	upstreamRequest(req, s.originOf(ctx), body)
	resp := &ctx.Response
	deadline := s.deadline(ctx, c.method, start)
	if c.method.kind == routeWrite {
		s.sendWrite(&c, req, resp, deadline)
	} else {
		s.sendRead(&c, req, resp, deadline)
	}
	// The node's answer goes to the client as it came; only hop-by-hop state is ours.
	resp.Header.ResetConnectionClose()
	c.code = answerCode(resp)
	s.metrics.httpStatus(resp.StatusCode())
	s.record(ctx, &c, resp.StatusCode(), start, len(resp.Body()))
}

// origin is what a node request copies from the client's request. It is read
// once up front: fasthttp's header lookups are not safe from several goroutines.
type origin struct {
	path, iconOptions []byte
}

// originOf reads the parts of the client's request that nodes get. A wait
// timeout above the edge's cap is rewritten to the cap, so the node gives up
// (and answers -31006 itself) before the edge does.
func (s *Server) originOf(ctx *fasthttp.RequestCtx) origin {
	o := origin{path: ctx.Path(), iconOptions: ctx.Request.Header.Peek("Icon-Options")}
	if ms, ok := iconOptionTimeout(o.iconOptions); ok && ms > s.cfg.MaxWaitTimeout.Milliseconds() {
		o.iconOptions = withTimeout(o.iconOptions, s.cfg.MaxWaitTimeout.Milliseconds())
	}
	return o
}

// withTimeout rewrites the timeout of an Icon-Options header, keeping the rest.
func withTimeout(h []byte, ms int64) []byte {
	var out []byte
	for part := range bytes.SplitSeq(h, []byte{','}) {
		if k, _, ok := bytes.Cut(bytes.TrimSpace(part), []byte{'='}); ok && string(bytes.TrimSpace(k)) == "timeout" {
			part = []byte("timeout=" + strconv.FormatInt(ms, 10))
		}
		if len(out) > 0 {
			out = append(out, ',')
		}
		out = append(out, bytes.TrimSpace(part)...)
	}
	return out
}

// allowOrigin lets browser dApps read any answer, as goloop does.
func allowOrigin(ctx *fasthttp.RequestCtx) {
	if len(ctx.Request.Header.Peek("Origin")) > 0 {
		ctx.Response.Header.Set("Access-Control-Allow-Origin", "*")
	}
}

// upstreamRequest prepares the request to a node: same path (so the channel
// passes through), same body, and the Icon-Options that steer wait methods.
func upstreamRequest(req *fasthttp.Request, o origin, body []byte) {
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURIBytes(o.path)
	req.Header.SetContentType("application/json")
	if len(o.iconOptions) > 0 {
		req.Header.SetBytesV("Icon-Options", o.iconOptions)
	}
	req.SetBodyRaw(body)
}

// deadline is when a call must be answered. Wait methods may run as long as
// the client asked the node to wait (Icon-Options timeout), plus a margin for
// the node to answer its own timeout before the edge gives up.
func (s *Server) deadline(ctx *fasthttp.RequestCtx, mi *methodInfo, start time.Time) time.Time {
	if !mi.wait {
		return start.Add(s.cfg.RequestTimeout)
	}
	return start.Add(s.waitTimeout(ctx.Request.Header.Peek("Icon-Options")) + 2*time.Second)
}

// waitTimeout is how long a wait method may wait: the client's Icon-Options
// timeout, else the default, never more than MaxWaitTimeout.
func (s *Server) waitTimeout(iconOptions []byte) time.Duration {
	if ms, ok := iconOptionTimeout(iconOptions); ok {
		if ms >= s.cfg.MaxWaitTimeout.Milliseconds() { // compared in ms: no overflow for huge values
			return s.cfg.MaxWaitTimeout
		}
		return time.Duration(ms) * time.Millisecond
	}
	return min(s.cfg.DefaultWaitTimeout, s.cfg.MaxWaitTimeout)
}

// iconOptionTimeout reads "timeout=<ms>" from an Icon-Options header
// ("timeout=5000", "debug=true,timeout=100").
func iconOptionTimeout(h []byte) (int64, bool) {
	for len(h) > 0 {
		var part []byte
		part, h, _ = bytes.Cut(h, []byte{','})
		k, v, ok := bytes.Cut(bytes.TrimSpace(part), []byte{'='})
		if ok && string(bytes.TrimSpace(k)) == "timeout" {
			ms, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			return ms, err == nil && ms >= 0
		}
	}
	return 0, false
}

// sendRead sends a read to a node that meets its need, retrying on another
// node after a transport failure, a 5xx, or a -31004 from a node that may
// simply not have the block yet. resp always ends up holding an answer.
func (s *Server) sendRead(c *call, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) {
	var triedBuf [4]*upstream.Node
	tried := triedBuf[:0]
	var saved *fasthttp.Response // a not-found answer, kept in case no other node knows better
	defer func() {
		if saved != nil {
			fasthttp.ReleaseResponse(saved)
		}
	}()
	last := upstream.OutcomeOK
	for attempt := 0; ; attempt++ {
		n := s.pool.Pick(c.need, tried)
		if n == nil {
			break
		}
		tried = append(tried, n)
		c.upstream = n.URL()
		outcome, _ := s.pool.Do(n, req, resp, upstream.Attempt{Deadline: s.attemptDeadline(c.method, deadline), Long: c.method.wait})
		last = outcome
		more := attempt < s.cfg.MaxRetries && time.Now().Before(deadline)
		if outcome == upstream.OutcomeOK {
			// A -31004 is worth a second opinion only from a node that was
			// behind the tip: one at the tip speaks for the chain, and asking
			// every node about an unknown hash would multiply junk lookups.
			behind := n.Height() < s.pool.Tip()
			if !(c.method.retryNotFound && more && behind && answerCode(resp) == icon.CodeNotFound) {
				return
			}
			if saved == nil {
				saved = fasthttp.AcquireResponse()
			}
			resp.CopyTo(saved)
			s.metrics.retry("not_found")
			c.retries++
			continue
		}
		if !more {
			break
		}
		s.metrics.retry(outcome.String())
		c.retries++
	}
	switch {
	case saved != nil:
		saved.CopyTo(resp)
	case last == upstream.OutcomeHTTP5xx:
		// The node's own 5xx answer is already in resp.
	default:
		edgeFailure(resp, c.id, last, len(tried) == 0)
	}
}

// attemptDeadline bounds one attempt so a stuck node leaves time to retry,
// except for wait methods: their node legitimately holds the call open.
func (s *Server) attemptDeadline(mi *methodInfo, deadline time.Time) time.Time {
	if mi.wait {
		return deadline
	}
	return earlier(deadline, time.Now().Add(s.cfg.AttemptTimeout))
}

// edgeFailure writes the edge's answer when no node could give one.
func edgeFailure(resp *fasthttp.Response, id []byte, last upstream.Outcome, noNode bool) {
	status, e := fasthttp.StatusBadGateway, errUpstreamBad
	switch {
	case noNode || last == upstream.OutcomeShed:
		status, e = fasthttp.StatusServiceUnavailable, errNoUpstream
	case last == upstream.OutcomeTimeout:
		status, e = fasthttp.StatusGatewayTimeout, errUpstreamTO
	}
	setJSON(resp, status, icon.AppendResponseError(nil, id, e))
}

func setJSON(resp *fasthttp.Response, status int, body []byte) {
	resp.Reset()
	resp.SetStatusCode(status)
	resp.Header.SetContentType(ctJSON)
	resp.Header.Set("Vary", "Origin")
	resp.SetBody(append(body, '\n'))
}

// answerCode is the code a call is counted under: 0 for a result, the
// JSON-RPC error code (negative) for an error, and the HTTP status (positive,
// never a JSON-RPC code) for an answer that is not JSON-RPC at all, such as
// goloop's plain-text 404 "No channel". goloop answers every JSON-RPC error
// with 400, so only non-200 bodies are parsed.
func answerCode(resp *fasthttp.Response) int {
	st := resp.StatusCode()
	if st == fasthttp.StatusOK {
		return 0
	}
	if code := fastjson.GetInt(resp.Body(), "error", "code"); code != 0 {
		return code
	}
	return st
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
