package proxy

import (
	"bytes"
	"net/netip"
	"strconv"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/valyala/fasthttp"
)

// SetLimiter turns on per-client access control and rate limits.
func (s *Server) SetLimiter(l *ratelimit.Limiter) { s.limiter = l }

var (
	errRateLimited = icon.NewError(icon.CodeServerError, "ServerError: rate limit exceeded; retry later")
	errForbidden   = icon.NewError(icon.CodeServerError, "ServerError: forbidden")
)

// clientOf identifies who sent the request: the socket peer, or the address
// a trusted proxy vouches for, plus the API key if one was sent.
func (s *Server) clientOf(ctx *fasthttp.RequestCtx) ratelimit.Client {
	return s.limiter.Identify(s.clientIP(ctx), ctx.Request.Header.Peek(s.limiter.APIKeyHeader()))
}

// clientIP is the socket peer, or the client a trusted proxy names when
// limits (and so trusted proxies) are configured.
func (s *Server) clientIP(ctx *fasthttp.RequestCtx) netip.Addr {
	peer, _ := netip.AddrFromSlice(ctx.RemoteIP())
	if s.limiter == nil {
		return peer.Unmap()
	}
	return s.limiter.ClientIP(peer.Unmap(), func(name string) []byte { return headerAll(ctx, name) })
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

// admit applies the limiter to a single call or a whole batch; a refused
// request is answered at once (429 with Retry-After, or 401/403), never queued.
func (s *Server) admit(ctx *fasthttp.RequestCtx, calls []call, id []byte, start time.Time) bool {
	if s.limiter == nil {
		return true
	}
	client := s.clientOf(ctx)
	if client.KeyID != "" {
		ctx.SetUserValue(keyIDUserValue, client.KeyID)
	}
	var first *call
	readCost, writes := 0, 0
	var d ratelimit.Decision
	for i := range calls {
		c := &calls[i]
		if c.err != nil || c.method == nil {
			continue
		}
		if first == nil {
			first = c
		}
		if !s.limiter.MethodAllowed(client, c.method.name) {
			d = s.limiter.Admit(client, c.method.name, c.method.kind == routeWrite)
			return s.refuse(ctx, first, id, d, start)
		}
		if c.method.kind == routeWrite {
			writes++
		} else {
			readCost += s.limiter.Cost(c.method.name)
		}
	}
	// Reads and writes have their own budgets; a batch pays into both.
	if readCost > 0 {
		if d = s.limiter.AdmitN(client, readCost, false); !d.OK {
			return s.refuse(ctx, first, id, d, start)
		}
	}
	if writes > 0 {
		if d = s.limiter.AdmitN(client, writes, true); !d.OK {
			return s.refuse(ctx, first, id, d, start)
		}
	}
	return true
}

// admitUpgrade applies access control and one unit of the client's budget to
// a websocket handshake, before any node session is spent on it.
func (s *Server) admitUpgrade(ctx *fasthttp.RequestCtx) bool {
	if s.limiter == nil {
		return true
	}
	d := s.limiter.AdmitN(s.clientOf(ctx), 1, false)
	if d.OK {
		return true
	}
	if d.HTTPStatus() == fasthttp.StatusTooManyRequests {
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(max(d.RetryAfterSeconds(), 1)))
	}
	s.text(ctx, d.HTTPStatus(), d.Reason)
	return false
}

func (s *Server) refuse(ctx *fasthttp.RequestCtx, c *call, id []byte, d ratelimit.Decision, start time.Time) bool {
	e := errForbidden
	if d.HTTPStatus() == fasthttp.StatusTooManyRequests {
		e = errRateLimited
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(max(d.RetryAfterSeconds(), 1)))
	}
	body := icon.AppendResponseError(nil, id, e)
	s.writeJSON(ctx, d.HTTPStatus(), body)
	refused := call{method: c.method, code: e.Code}
	s.record(ctx, &refused, d.HTTPStatus(), start, len(body))
	return false
}

// Limiter is the configured limiter, nil when limits are off.
func (s *Server) Limiter() *ratelimit.Limiter { return s.limiter }
