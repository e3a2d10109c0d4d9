package proxy

import (
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
	peer, _ := netip.AddrFromSlice(ctx.RemoteIP())
	ip := s.limiter.ClientIP(peer.Unmap(), func(name string) []byte { return ctx.Request.Header.Peek(name) })
	return s.limiter.Identify(ip, ctx.Request.Header.Peek(s.limiter.APIKeyHeader()))
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
	cost, write := 0, false
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
		cost += s.limiter.Cost(c.method.name)
		write = write || c.method.kind == routeWrite
	}
	if cost == 0 && !write {
		return true
	}
	if d = s.limiter.AdmitN(client, max(cost, 1), write); d.OK {
		return true
	}
	return s.refuse(ctx, first, id, d, start)
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
