package edge

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// bodyFreeBytes of every body are not charged to the in-flight budget: a
// normal JSON-RPC call fits in them and arrives with its headers, so a budget
// held by large or slow bodies never refuses it. fasthttp prefetches this much
// per connection before the handler runs; connections are capped per IP.
const bodyFreeBytes = 8 << 10

// bodyGate reads request bodies for the request path. The server streams
// bodies (StreamRequestBody), so fasthttp no longer allocates what a client
// declares in Content-Length before it arrives; the gate reads what actually
// arrives into fasthttp's pooled body buffer, charging bytes beyond
// bodyFreeBytes to a budget shared by every connection, under the body
// timeout set when the headers arrived (a slow sender is closed without an
// answer, like one that never finished its headers). Only then does the
// request path run, reading the body with ctx.PostBody() as before.
type bodyGate struct {
	next       fasthttp.RequestHandler
	errorNext  func(*fasthttp.RequestCtx, error)
	maxBody    int
	budget     int64
	timeout    time.Duration
	inFlight   atomic.Int64
	scratch    sync.Pool
	refused    *prometheus.CounterVec
	timeouts   *prometheus.CounterVec
	inFlightGa prometheus.GaugeFunc
}

func newBodyGate(next fasthttp.RequestHandler, errorNext func(*fasthttp.RequestCtx, error), l Limits,
	reg prometheus.Registerer) *bodyGate {
	g := &bodyGate{next: next, errorNext: errorNext, maxBody: l.MaxBodyBytes, budget: l.MaxBodyBytesInFlight,
		timeout: l.BodyTimeout}
	g.scratch.New = func() any { b := make([]byte, 16<<10); return &b }
	g.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "icon_edge_request_bodies_refused_total",
		Help: "Request bodies refused before the request path, by reason (too_large: 413, budget: 503).",
	}, []string{"reason"})
	g.timeouts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "icon_edge_client_timeouts_total",
		Help: "Client connections closed without an answer for sending too slowly, by phase: request (nothing, " +
			"or not all headers within read_timeout, or not the first 8 KiB of a body within body_timeout) or body " +
			"(the rest of a larger body not within body_timeout).",
	}, []string{"phase"})
	g.inFlightGa = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "icon_edge_request_body_bytes_in_flight",
		Help: "Request body bytes being received or served, beyond the first 8 KiB of each (limits.max_body_bytes_in_flight).",
	}, func() float64 { return float64(g.inFlight.Load()) })
	reg.MustRegister(g.refused, g.timeouts, g.inFlightGa)
	return g
}

var errBodyBudget = icon.NewError(icon.CodeServerError, "ServerError: too many request bodies in flight; retry later")

// headerReceived starts the body timeout once a request's headers are in, for
// requests that have a body (the read timeout still bounds the headers).
func (g *bodyGate) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if cl := h.ContentLength(); cl > 0 || cl == -1 {
		return fasthttp.RequestConfig{ReadTimeout: g.timeout}
	}
	return fasthttp.RequestConfig{}
}

// handle reads the body, then hands the request on.
func (g *bodyGate) handle(ctx *fasthttp.RequestCtx) {
	rs := ctx.RequestBodyStream()
	if rs == nil {
		g.next(ctx)
		return
	}
	if ctx.Request.Header.ContentLength() > g.maxBody {
		// Streaming hands over bodies of any declared size; refuse before reading.
		g.refused.WithLabelValues("too_large").Inc()
		ctx.SetConnectionClose()
		g.errorNext(ctx, fasthttp.ErrBodyTooLarge)
		return
	}
	charged, err := g.read(ctx, rs)
	defer g.inFlight.Add(-charged) // held until the answer is written
	switch {
	case err == nil:
		g.next(ctx)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		g.refused.WithLabelValues("too_large").Inc()
		ctx.SetConnectionClose()
		g.errorNext(ctx, fasthttp.ErrBodyTooLarge)
	case errors.Is(err, errOverBudget):
		g.refused.WithLabelValues("budget").Inc()
		ctx.Response.Header.Set("Retry-After", "1")
		g.answer(ctx, fasthttp.StatusServiceUnavailable, errBodyBudget)
	case isTimeout(err):
		// As for a body too slow to fill fasthttp's first 8 KiB (errorHandler):
		// no answer, the connection just ends.
		g.timeouts.WithLabelValues("body").Inc()
		closeQuietly(ctx)
	default:
		// Broken chunked framing, or the client went away mid-body: what
		// fasthttp answered for these before bodies were streamed.
		ctx.SetConnectionClose()
		g.errorNext(ctx, err)
	}
}

var errOverBudget = errors.New("request body budget exhausted")

// read moves the body from the stream into the request's own buffer as it
// arrives, so memory follows what was received, not what was declared. It
// returns what it charged to the budget; the caller gives it back.
func (g *bodyGate) read(ctx *fasthttp.RequestCtx, rs io.Reader) (charged int64, err error) {
	// The prefetched bytes stay with the stream (fasthttp moves the buffer
	// there); the request gets a fresh pooled buffer for the whole body.
	ctx.Request.ResetBody()
	bp := g.scratch.Get().(*[]byte)
	defer g.scratch.Put(bp)
	buf := *bp
	total := 0
	for {
		n, rerr := rs.Read(buf)
		if n > 0 {
			total += n
			if total > g.maxBody {
				return charged, fasthttp.ErrBodyTooLarge
			}
			if over := int64(total-bodyFreeBytes) - charged; over > 0 {
				if g.inFlight.Add(over) > g.budget {
					g.inFlight.Add(-over)
					return charged, errOverBudget
				}
				charged += over
			}
			ctx.Request.AppendBody(buf[:n])
		}
		switch {
		case rerr == io.EOF:
			return charged, nil
		case rerr != nil:
			return charged, rerr
		}
	}
}

// answer ends a request the gate refused: a JSON-RPC error, and the
// connection closes (the rest of the body is not worth reading).
func (g *bodyGate) answer(ctx *fasthttp.RequestCtx, status int, e *icon.Error) {
	ctx.SetConnectionClose()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json; charset=UTF-8")
	ctx.SetBody(append(icon.AppendResponseError(nil, nil, e), '\n'))
}

// errorHandler takes what fasthttp rejects before a handler runs. A client
// that sent nothing (or not all its headers) within the read timeout is
// closed without an answer, as goloop's net/http server does, and counted as
// a timeout rather than as a malformed call; everything else goes to the
// request path's handler.
func (g *bodyGate) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	if isTimeout(err) {
		g.timeouts.WithLabelValues("request").Inc()
		closeQuietly(ctx)
		return
	}
	g.errorNext(ctx, err)
}

// closeQuietly ends a connection without an answer: fasthttp still writes a
// response after the handler, and a closed connection takes none of it.
func closeQuietly(ctx *fasthttp.RequestCtx) {
	ctx.SetConnectionClose()
	if c := ctx.Conn(); c != nil {
		_ = c.Close()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
