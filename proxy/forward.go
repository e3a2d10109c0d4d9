package proxy

import (
	"bytes"
	"errors"
	"strconv"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/routing"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// The route stage: a call goes to a node through upstream's attempt loop
// with its method's policy; what the loop could not settle (no node, every
// attempt failed, a write whose delivery is unknown) is answered here.

// Errors the edge itself answers when no node can. HTTP statuses say the same
// to load balancers: 503 nothing to send to, 502 nodes failed, 504 too slow.
var (
	errNoUpstream  = icon.NewError(icon.CodeServerError, "ServerError: no upstream node available")
	errUpstreamBad = icon.NewError(icon.CodeServerError, "ServerError: upstream node failed")
	errUpstreamTO  = icon.NewError(icon.CodeServerError, "ServerError: upstream node timed out")
)

// forward sends body (c's bytes, or the whole request's) for call c and
// leaves an answer for the client in resp, whatever happens.
func (s *Server) forward(x *exchange, c *call, body []byte, resp *fasthttp.Response) {
	if s.micro != nil && s.micro.eligible(c) {
		batched, done := s.micro.forward(x, c, resp)
		defer done()
		if batched {
			return
		}
	}
	if max := x.st.cfg.MaxWaitsPerClient; c.method.Wait && max > 0 {
		client := s.client(x)
		ok, counted := s.waits.acquire(client, max)
		if !ok {
			setJSON(resp, fasthttp.StatusTooManyRequests, icon.AppendResponseError(nil, c.id, errTooManyWaits(max)))
			return
		}
		if counted {
			defer s.waits.release(client)
		}
	}
	deadline := x.st.deadline(x, c.method)
	r := s.send(x.origin, c.need, body, resp, deadline, c.method.policy)
	c.upstream, c.retries = r.Node, r.Retries
	switch {
	case r.Uncertain:
		s.log.Warn("write may have reached the node; not resending", "upstream", r.Node,
			"outcome", r.Outcome.String(), "err", r.Err)
		s.settleWrite(c, x.origin.path, resp)
	case errors.Is(r.Err, upstream.ErrWaitBudget):
		setJSON(resp, fasthttp.StatusServiceUnavailable, icon.AppendResponseError(nil, c.id, errNodesBusyWaiting))
		resp.Header.Set("Retry-After", "1")
	case r.Answered() && (r.Outcome != upstream.OutcomeHTTP5xx || c.method.Kind == routing.Write):
		// The node's answer stands (a write a node answered was delivered).
	default:
		// No local node served it (a write: none took it): another region
		// may, once.
		if peer, ok := s.failover(x, body, resp, deadline); ok {
			c.upstream = "region:" + peer
			return
		}
		if !r.Answered() {
			// A write that no node took was never sent: the client may resend it.
			edgeFailure(resp, c.id, r.Outcome, r.Tried == 0 || c.method.Kind == routing.Write)
		}
	}
}

// failover forwards a request no local node could serve to the first healthy
// peer region, unless it already came from one.
func (s *Server) failover(x *exchange, body []byte, resp *fasthttp.Response, deadline time.Time) (string, bool) {
	if s.regions == nil || x.hopped {
		return "", false
	}
	req := s.nodeRequest(x.origin, body)
	defer fasthttp.ReleaseRequest(req)
	if ip := s.client(x); ip.IsValid() {
		req.Header.Set("X-Forwarded-For", ip.String()) // the peer limits the client, not this edge
	}
	answer := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(answer)
	peer, ok := s.regions.Forward(req, answer, deadline)
	if ok {
		answer.CopyTo(resp)
	}
	return peer, ok
}

// send is one trip through the attempt loop with a request built from the
// client's: same path (so the channel passes through), same Icon-Options.
func (s *Server) send(o origin, need upstream.Need, body []byte, resp *fasthttp.Response, deadline time.Time, pol upstream.Policy) upstream.Result {
	req := s.nodeRequest(o, body)
	defer fasthttp.ReleaseRequest(req)
	return s.pool.Send(need, req, resp, deadline, pol)
}

// nodeRequest builds what a node (or a peer region) gets; release it.
func (s *Server) nodeRequest(o origin, body []byte) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURIBytes(o.path)
	req.Header.SetContentType("application/json")
	if len(o.iconOptions) > 0 {
		req.Header.SetBytesV("Icon-Options", o.iconOptions)
	}
	req.SetBodyRaw(body)
	return req
}

// settleWrite answers a write whose delivery is unknown. A node that knows
// the hash (pending in its pool, executing, or done) proves the write
// arrived; then a plain send succeeded and a send-and-wait timed out waiting,
// just as goloop reports it. Otherwise the client learns the hash with a
// timeout, and may resend safely: a node rejects a duplicate transaction.
func (s *Server) settleWrite(c *call, path []byte, resp *fasthttp.Response) {
	txHash := ""
	if c.params != nil {
		txHash, _ = icon.TxHash(c.params.MarshalTo(nil))
	}
	if txHash == "" {
		edgeFailure(resp, c.id, upstream.OutcomeTimeout, false)
		return
	}
	data := icon.AppendJSONString(nil, txHash)
	if s.pool.TxKnown(path, txHash, time.Now().Add(3*time.Second)) {
		s.metrics.writeSettled("arrived")
		if c.method.Wait {
			e := &icon.Error{Code: icon.CodeTimeout, Message: "Timeout: the node did not answer in time", Data: data}
			setJSON(resp, fasthttp.StatusBadRequest, icon.AppendResponseError(nil, c.id, e))
			return
		}
		setJSON(resp, fasthttp.StatusOK, icon.AppendResponseResult(nil, c.id, data))
		return
	}
	s.metrics.writeSettled("unknown")
	e := &icon.Error{Code: icon.CodeTimeout, Message: "Timeout: delivery unknown; query or resend the transaction", Data: data}
	setJSON(resp, fasthttp.StatusGatewayTimeout, icon.AppendResponseError(nil, c.id, e))
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
	if status == fasthttp.StatusServiceUnavailable {
		// Nodes come back within a probe round or two: a client (and a
		// balancer) may retry after a second.
		resp.Header.Set("Retry-After", "1")
	}
}

// setJSON replaces whatever resp held with an answer of the edge's own.
func setJSON(resp *fasthttp.Response, status int, body []byte) {
	resp.Reset()
	writeJSON(resp, status, body)
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

// origin is what a node request copies from the client's request. It is read
// once up front: fasthttp's header lookups are not safe from several goroutines.
type origin struct {
	path, iconOptions []byte
}

// originOf reads the parts of the client's request that nodes get. A wait
// timeout above the edge's cap is rewritten to the cap, so the node gives up
// (and answers -31006 itself) before the edge does.
func (st *settings) originOf(ctx *fasthttp.RequestCtx) origin {
	o := origin{path: ctx.Path(), iconOptions: ctx.Request.Header.Peek("Icon-Options")}
	if ms, ok := iconOptionTimeout(o.iconOptions); ok && ms > st.cfg.MaxWaitTimeout.Milliseconds() {
		o.iconOptions = withTimeout(o.iconOptions, st.cfg.MaxWaitTimeout.Milliseconds())
	}
	return o
}

// deadline is when a call must be answered. Wait methods may run as long as
// the client asked the node to wait (Icon-Options timeout), plus a margin for
// the node to answer its own timeout before the edge gives up.
func (st *settings) deadline(x *exchange, m *method) time.Time {
	if !m.Wait {
		return x.start.Add(st.cfg.RequestTimeout)
	}
	return x.start.Add(st.waitTimeout(x.origin.iconOptions) + 2*time.Second)
}

// waitTimeout is how long a wait method may wait: the client's Icon-Options
// timeout, else the default, never more than MaxWaitTimeout. goloop reads
// timeout=0 as "no timeout given" and waits its default, so the edge does too.
func (st *settings) waitTimeout(iconOptions []byte) time.Duration {
	if ms, ok := iconOptionTimeout(iconOptions); ok && ms > 0 {
		if ms >= st.cfg.MaxWaitTimeout.Milliseconds() { // compared in ms: no overflow for huge values
			return st.cfg.MaxWaitTimeout
		}
		return time.Duration(ms) * time.Millisecond
	}
	return min(st.cfg.DefaultWaitTimeout, st.cfg.MaxWaitTimeout)
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
