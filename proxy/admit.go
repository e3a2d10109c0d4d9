package proxy

import (
	"bytes"
	"net/netip"
	"strconv"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/routing"
	"github.com/valyala/fasthttp"
)

var (
	errRateLimited = icon.NewError(icon.CodeServerError, "ServerError: rate limit exceeded; retry later")
	errForbidden   = icon.NewError(icon.CodeServerError, "ServerError: forbidden")
	// errLimitsUnavailable: the region's shared budgets (Redis) cannot be
	// checked and redis.on_error is deny.
	errLimitsUnavailable = icon.NewError(icon.CodeServerError, "ServerError: rate limits unavailable; retry later")
)

// admit applies access control and the client's budgets to the whole request
// (every valid call of a batch, cached or not); a refused request is answered
// at once (429 with Retry-After, or 401/403), never queued.
func (s *Server) admit(x *exchange) bool {
	lim := x.st.limiter
	if lim == nil {
		return true
	}
	client := lim.Identify(s.client(x), x.ctx.Request.Header.Peek(lim.APIKeyHeader()))
	if client.KeyID != "" {
		x.ctx.SetUserValue(keyIDUserValue, client.KeyID)
	}
	var first *call
	readCost, writeCost := 0, 0
	for i := range x.calls {
		c := &x.calls[i]
		if c.err != nil || c.method == nil {
			continue
		}
		if first == nil {
			first = c
		}
		if !lim.MethodAllowed(client, c.method.Name) {
			return s.refuse(x, first, lim.Admit(client, c.method.Name, c.method.Kind == routing.Write))
		}
		if c.method.Kind == routing.Write {
			writeCost += lim.Cost(c.method.Name)
		} else {
			readCost += lim.Cost(c.method.Name)
		}
	}
	// Reads and writes have their own budgets; a batch pays into both.
	if readCost > 0 {
		if d := lim.AdmitN(client, readCost, false); !d.OK {
			return s.refuse(x, first, d)
		}
	}
	if writeCost > 0 {
		if d := lim.AdmitN(client, writeCost, true); !d.OK {
			return s.refuse(x, first, d)
		}
	}
	return true
}

// refuse answers a request the limiter turned away, counted under the method
// of its first valid call.
func (s *Server) refuse(x *exchange, first *call, d ratelimit.Decision) bool {
	e := errForbidden
	switch {
	case d.OverBurst():
		e = icon.NewError(icon.CodeServerError, "ServerError: rate limit exceeded; this request costs "+
			strconv.Itoa(d.Cost)+" tokens, more than the burst of "+strconv.Itoa(d.Burst)+"; split the batch")
	case d.HTTPStatus() == fasthttp.StatusTooManyRequests:
		e = errRateLimited
		x.ctx.Response.Header.Set("Retry-After", strconv.Itoa(max(d.RetryAfterSeconds(), 1)))
	case d.HTTPStatus() == fasthttp.StatusServiceUnavailable:
		e = errLimitsUnavailable
		x.ctx.Response.Header.Set("Retry-After", strconv.Itoa(max(d.RetryAfterSeconds(), 1)))
	}
	var m *method
	if first != nil {
		m = first.method
	}
	var id []byte
	if !x.batch {
		id = x.calls[0].id
	}
	s.answerRefused(x, d.HTTPStatus(), id, e, m)
	return false
}

// admitUpgrade applies access control and one unit of the client's budget to
// a websocket handshake, before any node session is spent on it.
func (s *Server) admitUpgrade(ctx *fasthttp.RequestCtx, lim *ratelimit.Limiter) bool {
	if lim == nil {
		return true
	}
	d := lim.AdmitN(lim.Identify(clientIP(ctx, lim), ctx.Request.Header.Peek(lim.APIKeyHeader())), 1, false)
	if d.OK {
		return true
	}
	if st := d.HTTPStatus(); st == fasthttp.StatusTooManyRequests || st == fasthttp.StatusServiceUnavailable {
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(max(d.RetryAfterSeconds(), 1)))
	}
	s.text(ctx, d.HTTPStatus(), d.Reason)
	return false
}

const keyIDUserValue = "icon-edge.key-id"

// clientIP is the socket peer, or the client a trusted proxy names when
// limits (and so trusted proxies) are configured.
func clientIP(ctx *fasthttp.RequestCtx, lim *ratelimit.Limiter) netip.Addr {
	peer, _ := netip.AddrFromSlice(ctx.RemoteIP())
	if lim == nil {
		return peer.Unmap()
	}
	return lim.ClientIP(peer.Unmap(), func(name string) []byte { return headerAll(ctx, name) })
}

// headerAll joins every line of a header, so a proxy that appends its own
// X-Forwarded-For line (instead of extending the client's) is read in full and
// the client's forged first line is not mistaken for the whole story.
func headerAll(ctx *fasthttp.RequestCtx, name string) []byte {
	vals := ctx.Request.Header.PeekAll(name)
	switch len(vals) {
	case 0:
		return nil
	case 1:
		return vals[0]
	}
	return bytes.Join(vals, []byte(", "))
}
