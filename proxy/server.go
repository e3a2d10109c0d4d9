// Package proxy is the edge's request path: it takes JSON-RPC 2.0 calls on
// /api/v3 and /api/v3/{channel}, answers what the edge can answer itself
// (malformed input, unknown methods) exactly as goloop would, and forwards
// the rest to a node chosen by package upstream, retrying reads elsewhere and
// never sending a write twice.
//
// Read it top to bottom: Handler routes; serveRPC parses; forwardSingle and
// forwardBatch send; the write path is in write.go.
package proxy

import (
	"bytes"
	"encoding/json"
	"github.com/icon-edge/icon-edge/accesslog"
	"github.com/icon-edge/icon-edge/capture"
	"github.com/icon-edge/icon-edge/version"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/icon-edge/icon-edge/cache"
	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"github.com/valyala/fastjson"
)

// Config holds the request path's limits and switches.
type Config struct {
	// Region names this edge in /status.json and logs.
	Region string
	// MaxBodyBytes bounds a request body; larger ones get 413.
	MaxBodyBytes int
	// MaxBatch bounds the items of one batch at the edge (goloop: 10; the edge
	// splits batches into NodeBatchLimit-sized chunks).
	MaxBatch int
	// NodeBatchLimit is the nodes' rpcBatchLimit.
	NodeBatchLimit int
	// RequestTimeout bounds a call, retries included.
	RequestTimeout time.Duration
	// AttemptTimeout bounds one read attempt so a stuck node leaves time to retry.
	AttemptTimeout time.Duration
	// MaxRetries bounds extra attempts for a read.
	MaxRetries int
	// DefaultWaitTimeout is the wait methods' timeout when the client sends no
	// Icon-Options timeout (the nodes' default_wait_timeout); MaxWaitTimeout caps it.
	DefaultWaitTimeout, MaxWaitTimeout time.Duration
	// DebugAPI proxies /api/v3d (debug_* methods); off by default.
	DebugAPI bool
	// DisabledMethods are answered -32601 at the edge.
	DisabledMethods []string
	// AdminOnly moves /metrics and /status.json off the public handler (they
	// name internal node addresses); AdminHandler serves them instead.
	AdminOnly bool
}

func (c *Config) setDefaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 100
	}
	if c.NodeBatchLimit <= 0 {
		c.NodeBatchLimit = 10
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 3 * time.Second
	}
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	} else if c.MaxRetries == 0 {
		c.MaxRetries = 2
	}
	if c.DefaultWaitTimeout <= 0 {
		c.DefaultWaitTimeout = 10 * time.Second
	}
	if c.MaxWaitTimeout <= 0 {
		c.MaxWaitTimeout = 60 * time.Second
	}
}

// Server is the edge's HTTP handler.
type Server struct {
	cfg      Config
	pool     *upstream.Pool
	log      *slog.Logger
	methods  map[string]*methodInfo
	disabled map[string]bool
	metrics  *metrics
	parsers  fastjson.ParserPool
	draining atomic.Bool
	promHTTP fasthttp.RequestHandler
	cache    *cache.Cache       // nil: no caching
	limiter  *ratelimit.Limiter // nil: no limits
	access   *accesslog.Logger  // nil: no access log
	ws       WebSocketHandler   // nil: websockets answered 404
	capture  *capture.Writer    // nil: no capture
}

// WebSocketHandler serves goloop's websocket API (package wsbridge). The
// proxy only hands such requests over, so it does not depend on the bridge.
type WebSocketHandler interface {
	IsWebSocket(ctx *fasthttp.RequestCtx) bool
	HandleFastHTTP(ctx *fasthttp.RequestCtx)
}

// SetWebSocket routes websocket upgrades on /api/v3/... to h.
func (s *Server) SetWebSocket(h WebSocketHandler) { s.ws = h }

// New builds the request path over pool. Metrics register on reg; gatherer
// serves /metrics.
func New(cfg Config, pool *upstream.Pool, reg prometheus.Registerer, gatherer prometheus.Gatherer, log *slog.Logger) *Server {
	cfg.setDefaults()
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, pool: pool, log: log, methods: methodTable(), disabled: map[string]bool{}}
	for _, m := range cfg.DisabledMethods {
		s.disabled[m] = true
	}
	s.metrics = newMetrics(reg, s.methods)
	s.promHTTP = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return s
}

// Config returns the effective configuration (defaults filled in).
func (s *Server) Config() Config { return s.cfg }

// SetDraining makes /readyz fail so balancers stop sending before shutdown.
func (s *Server) SetDraining(v bool) { s.draining.Store(v) }

var (
	pathAPI      = []byte("/api/v3")
	pathDebugAPI = []byte("/api/v3d")
	ctJSON       = "application/json; charset=UTF-8"
	ctText       = "text/plain; charset=UTF-8"
	// notFound is goloop's 404 body, word for word, so the edge cannot be
	// told from a node by probing odd paths.
	notFound = "Not Found <nil>"
)

// Handler routes one HTTP request.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	defer s.recoverRequest(ctx)
	path := ctx.Path()
	switch {
	case s.ws != nil && s.ws.IsWebSocket(ctx):
		if s.admitUpgrade(ctx) {
			s.ws.HandleFastHTTP(ctx)
		}
	case bytes.HasPrefix(path, pathDebugAPI):
		if !s.cfg.DebugAPI {
			s.text(ctx, fasthttp.StatusNotFound, "debug API is disabled")
			return
		}
		s.serveAPI(ctx, path[len(pathDebugAPI):], true)
	case bytes.HasPrefix(path, pathAPI):
		s.serveAPI(ctx, path[len(pathAPI):], false)
	case string(path) == "/healthz":
		s.text(ctx, fasthttp.StatusOK, "ok")
	case string(path) == "/readyz":
		s.serveReady(ctx)
	case !s.cfg.AdminOnly && s.serveAdmin(ctx, path):
	case bytes.HasPrefix(path, []byte("/api/rosetta")):
		s.text(ctx, fasthttp.StatusNotFound, "rosetta API is disabled")
	default:
		s.text(ctx, fasthttp.StatusNotFound, notFound)
	}
}

// recoverRequest keeps one bad request from taking the region down: fasthttp
// does not recover handler panics, so a bug would otherwise kill the process.
// The client gets -32603 with HTTP 500 and the operator a stack trace.
func (s *Server) recoverRequest(ctx *fasthttp.RequestCtx) {
	if r := recover(); r != nil {
		s.log.Error("panic serving a request; answered 500", "panic", r, "path", string(ctx.Path()),
			"stack", string(debug.Stack()))
		ctx.Response.Reset()
		s.writeJSON(ctx, fasthttp.StatusInternalServerError, icon.AppendResponseError(nil, nil, errInternal))
	}
}

var errInternal = icon.NewError(icon.CodeInternalError, "InternalError")

// AdminHandler serves the operator endpoints on a separate listener:
// /metrics, /status.json, /healthz and /readyz.
func (s *Server) AdminHandler(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	switch {
	case s.serveAdmin(ctx, path):
	case string(path) == "/healthz":
		s.text(ctx, fasthttp.StatusOK, "ok")
	case string(path) == "/readyz":
		s.serveReady(ctx)
	default:
		s.text(ctx, fasthttp.StatusNotFound, "Not Found")
	}
}

// serveAdmin answers /metrics and /status.json; false for any other path.
func (s *Server) serveAdmin(ctx *fasthttp.RequestCtx, path []byte) bool {
	switch string(path) {
	case "/metrics":
		s.promHTTP(ctx)
	case "/status.json":
		s.serveStatus(ctx)
	default:
		return false
	}
	return true
}

// serveAPI checks what follows /api/v3: nothing, "/", or "/{channel}".
// The channel goes to the node unchanged, so an unknown one gets the node's
// own 404 "No channel".
func (s *Server) serveAPI(ctx *fasthttp.RequestCtx, rest []byte, debugAPI bool) {
	if !debugAPI && ctx.IsGet() && (bytes.HasSuffix(rest, []byte("/block")) || bytes.HasSuffix(rest, []byte("/event"))) {
		// A websocket path without the upgrade: goloop's websocket library answers this.
		ctx.Response.Header.Set("Sec-Websocket-Version", "13")
		ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("Bad Request\nwebsocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header")
		s.metrics.httpStatus(fasthttp.StatusBadRequest)
		return
	}
	if len(rest) > 0 && (rest[0] != '/' || bytes.IndexByte(rest[1:], '/') >= 0) {
		s.text(ctx, fasthttp.StatusNotFound, notFound)
		return
	}
	switch {
	case ctx.IsPost():
		s.serveRPC(ctx, debugAPI)
	case ctx.IsOptions():
		s.serveCORSPreflight(ctx)
	default:
		s.text(ctx, fasthttp.StatusNotFound, notFound)
	}
}

// serveCORSPreflight answers as goloop does: browsers may call from anywhere.
func (s *Server) serveCORSPreflight(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE")
	h.Set("Access-Control-Allow-Origin", "*")
	if rh := ctx.Request.Header.Peek("Access-Control-Request-Headers"); len(rh) > 0 {
		h.SetBytesV("Access-Control-Allow-Headers", rh)
	}
	h.Set("Access-Control-Max-Age", "3600")
	h.Set("Vary", "Access-Control-Request-Headers")
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	s.metrics.httpStatus(fasthttp.StatusNoContent)
}

func (s *Server) serveReady(ctx *fasthttp.RequestCtx) {
	switch {
	case s.draining.Load():
		s.text(ctx, fasthttp.StatusServiceUnavailable, "draining")
	case !s.pool.Ready():
		s.text(ctx, fasthttp.StatusServiceUnavailable, "no upstream node in sync")
	default:
		s.text(ctx, fasthttp.StatusOK, "ok")
	}
}

// statusDoc is /status.json.
type statusDoc struct {
	Region   string            `json:"region,omitempty"`
	Version  string            `json:"version"`
	Ready    bool              `json:"ready"`
	Draining bool              `json:"draining"`
	Tip      int64             `json:"tip"`
	MaxLag   int64             `json:"max_lag"`
	Nodes    []upstream.Status `json:"nodes"`
}

func (s *Server) serveStatus(ctx *fasthttp.RequestCtx) {
	doc := statusDoc{Region: s.cfg.Region, Version: version.Version, Ready: s.pool.Ready(), Draining: s.draining.Load(),
		Tip: s.pool.Tip(), MaxLag: s.pool.MaxLag(), Nodes: s.pool.Snapshot()}
	b, _ := json.MarshalIndent(doc, "", "  ")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
	s.metrics.httpStatus(fasthttp.StatusOK)
}

func (s *Server) text(ctx *fasthttp.RequestCtx, status int, body string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType(ctText)
	ctx.SetBodyString(body)
	s.metrics.httpStatus(status)
}

// ErrorHandler answers what fasthttp rejects before the handler runs; an
// oversized body is a client mistake and gets a JSON-RPC error with 413.
func (s *Server) ErrorHandler(ctx *fasthttp.RequestCtx, err error) {
	if _, ok := err.(*fasthttp.ErrSmallBuffer); ok {
		ctx.SetStatusCode(fasthttp.StatusRequestHeaderFieldsTooLarge)
		ctx.SetBodyString("Request Header Fields Too Large")
		s.metrics.httpStatus(fasthttp.StatusRequestHeaderFieldsTooLarge)
		return
	}
	if err == fasthttp.ErrBodyTooLarge {
		s.rpcError(ctx, fasthttp.StatusRequestEntityTooLarge, nil, errBodyTooLarge)
		return
	}
	s.rpcError(ctx, fasthttp.StatusBadRequest, nil, icon.ErrParse)
}

var errBodyTooLarge = icon.NewError(icon.CodeInvalidRequest, "InvalidRequest: request body too large")

// rpcError writes a single JSON-RPC error answer made at the edge.
func (s *Server) rpcError(ctx *fasthttp.RequestCtx, status int, id []byte, e *icon.Error) {
	body := icon.AppendResponseError(nil, id, e)
	s.writeJSON(ctx, status, body)
	s.record(ctx, &call{code: e.Code}, status, time.Now(), len(body))
}

func (s *Server) writeJSON(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.SetStatusCode(status)
	ctx.SetContentType(ctJSON)
	ctx.Response.Header.Set("Vary", "Origin")
	ctx.SetBody(append(body, '\n'))
	s.metrics.httpStatus(status)
}
