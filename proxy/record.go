package proxy

import (
	"net"
	"strconv"
	"time"

	"github.com/icon-edge/icon-edge/accesslog"
	"github.com/valyala/fasthttp"
)

// SetAccessLog ships one access-log entry per answered call.
func (s *Server) SetAccessLog(l *accesslog.Logger) { s.access = l }

const keyIDUserValue = "icon-edge.key-id"

// record books one answered call, batch items one by one: the metrics, and
// the access log when one is configured. It is the single place a call ends.
func (s *Server) record(ctx *fasthttp.RequestCtx, c *call, status int, start time.Time, bytes int) {
	took := time.Since(start)
	s.metrics.invalidOrMethod(c.method).observe(c.code, took)
	if !s.access.Enabled() {
		return
	}
	e := accesslog.Entry{
		Time: start, Region: s.cfg.Region, Method: c.methodLabel(), HTTPStatus: status, RPCCode: c.code,
		Latency: took, Upstream: c.upstream, CacheHit: c.cacheHit, Retries: c.retries, Bytes: bytes,
		RequestID: requestID(ctx), ClientIP: net.IP(s.clientIP(ctx).AsSlice()),
	}
	if id, ok := ctx.UserValue(keyIDUserValue).(string); ok {
		e.APIKeyID = id
	}
	s.access.Log(&e)
}

// requestID is the client's X-Request-ID, or the server's own request number.
func requestID(ctx *fasthttp.RequestCtx) string {
	if id := ctx.Request.Header.Peek("X-Request-ID"); len(id) > 0 && len(id) <= 128 {
		return string(id)
	}
	return strconv.FormatUint(ctx.ID(), 10)
}
