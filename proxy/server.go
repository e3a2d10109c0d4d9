// Package proxy is the edge's request path. It takes JSON-RPC 2.0 calls on
// /api/v3 and /api/v3/{channel}, answers what the edge can answer itself
// (malformed input, unknown methods) exactly as goloop would, and hands the
// rest to package upstream, which picks a node and runs the attempt loop.
//
// Read it top to bottom: Handler (this file) routes paths; serveRPC (rpc.go)
// runs every call, single or batch, through the same stages — parse
// (parse.go), admit (admit.go), cache (cached.go), route (forward.go,
// batch.go) — and every answer leaves through answer.go.
package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/icon-edge/icon-edge/accesslog"
	"github.com/icon-edge/icon-edge/cache"
	"github.com/icon-edge/icon-edge/capture"
	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/routing"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/icon-edge/icon-edge/version"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"github.com/valyala/fastjson"
)

// Config holds the request path's limits and switches. Zero values of
// fields where zero is no valid setting take DefaultConfig's; MaxRetries,
// where 0 is a real setting, is a pointer.
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
	// MaxRetries bounds extra attempts for a read; nil takes the default.
	MaxRetries *int
	// DefaultWaitTimeout is the wait methods' timeout when the client sends no
	// Icon-Options timeout (the nodes' default_wait_timeout); MaxWaitTimeout caps it.
	DefaultWaitTimeout, MaxWaitTimeout time.Duration
	// DebugAPI proxies /api/v3d (debug_* methods); off by default.
	DebugAPI bool
	// MaxWaitsPerClient bounds the wait calls one client may hold open at
	// once (0: no bound); more are answered 429 at once.
	MaxWaitsPerClient int
	// DisabledMethods are answered -32601 at the edge.
	DisabledMethods []string
	// AdminOnly moves /metrics and /status.json off the public handler (they
	// name internal node addresses); AdminHandler serves them instead.
	AdminOnly bool
	// Hedge sends slow idempotent reads to a second node as well (zero: off).
	// Writes and wait methods are never hedged.
	Hedge upstream.HedgePolicy
	// MicroBatch merges concurrent single reads into node batches
	// (microbatch.go); off unless MaxItems > 1.
	MicroBatch MicroBatchConfig
}

// DefaultMaxRetries is how many other nodes a failed read may try.
const DefaultMaxRetries = 2

// DefaultMaxWaitsPerClient is the per-client bound on open wait calls in
// DefaultConfig. A Config built in Go with 0 has no bound.
const DefaultMaxWaitsPerClient = 16

// DefaultConfig is the request path's configuration when nothing is set
// (the edge's limits.* defaults).
func DefaultConfig() Config {
	retries := DefaultMaxRetries
	return Config{MaxBodyBytes: 1 << 20, MaxBatch: 100, NodeBatchLimit: 10, RequestTimeout: 10 * time.Second,
		AttemptTimeout: 3 * time.Second, MaxRetries: &retries, DefaultWaitTimeout: 10 * time.Second,
		MaxWaitTimeout: 60 * time.Second, MaxWaitsPerClient: DefaultMaxWaitsPerClient}
}

// withDefaults fills the fields left unset.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	for _, f := range []struct{ v, def *int }{{&c.MaxBodyBytes, &d.MaxBodyBytes}, {&c.MaxBatch, &d.MaxBatch},
		{&c.NodeBatchLimit, &d.NodeBatchLimit}} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	for _, f := range []struct{ v, def *time.Duration }{{&c.RequestTimeout, &d.RequestTimeout},
		{&c.AttemptTimeout, &d.AttemptTimeout}, {&c.DefaultWaitTimeout, &d.DefaultWaitTimeout},
		{&c.MaxWaitTimeout, &d.MaxWaitTimeout}} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	if c.MaxRetries == nil {
		c.MaxRetries = d.MaxRetries
	}
	return c
}

// Options is everything a Server is built from. Optional parts are nil when off.
type Options struct {
	Config Config
	// Pool is the node pool; required.
	Pool *upstream.Pool
	// Metrics registers the request path's metrics; Gatherer serves /metrics.
	Metrics  prometheus.Registerer
	Gatherer prometheus.Gatherer
	Log      *slog.Logger
	// Cache answers final and head reads and coalesces identical ones.
	Cache *cache.Cache
	// Limiter applies access control and per-client rate limits.
	Limiter *ratelimit.Limiter
	// AccessLog ships one entry per answered call.
	AccessLog *accesslog.Logger
	// Capture records a sample of requests (path and body) for replay.
	Capture *capture.Writer
	// WebSocket serves goloop's websocket API (package wsbridge).
	WebSocket WebSocketHandler
	// Failover forwards what no local node can serve to a peer region.
	Failover Failover
	// Traffic sees every answered request: its latency and whether it
	// failed (HTTP 5xx), for the region's public summary.
	Traffic interface {
		Observe(took time.Duration, failed bool)
	}
	// Ready decides /readyz (after draining); nil: a node is in sync.
	Ready func() (ready bool, reason string)
	// Pages are extra GET endpoints on the public port (/region.json, /status).
	Pages map[string]fasthttp.RequestHandler
}

// Failover sends a request to another region (package routing's
// Forwarder): once, relaying the answer unchanged. ok is false when no peer
// could take it; resp then holds nothing useful.
type Failover interface {
	Forward(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) (peer string, ok bool)
}

// WebSocketHandler serves goloop's websocket API (package wsbridge). The
// proxy only hands such requests over, so it does not depend on the bridge.
type WebSocketHandler interface {
	IsWebSocket(ctx *fasthttp.RequestCtx) bool
	HandleFastHTTP(ctx *fasthttp.RequestCtx)
}

// method is a routing.Method as the request path uses it: with its policy
// and its metrics resolved once.
type method struct {
	*routing.Method
	policy  upstream.Policy
	metrics *methodMetrics
}

// Server is the edge's HTTP handler. New builds it; Reconfigure swaps what a
// reload may change (settings.go).
type Server struct {
	live     atomic.Pointer[settings]
	pool     *upstream.Pool
	log      *slog.Logger
	metrics  *metrics
	byMethod map[string]*methodMetrics // every method's metrics, enabled or not
	// Recent read latencies per method (and for read chunks), which hedging
	// judges slowness by; kept across reloads like the metrics.
	latencies      map[string]*upstream.Latencies
	chunkLatencies *upstream.Latencies
	parsers        fastjson.ParserPool
	draining       atomic.Bool
	promHTTP       fasthttp.RequestHandler
	ws             WebSocketHandler
	waits          waitGuard
	regions        Failover // nil: no cross-region failover
	traffic        interface{ Observe(time.Duration, bool) }
	ready          func() (bool, string)
	pages          map[string]fasthttp.RequestHandler
	micro          *microBatcher // nil: micro-batching off (upstream.micro_batch; a restart applies it)
}

// New builds the request path.
func New(o Options) (*Server, error) {
	if o.Pool == nil {
		return nil, errors.New("proxy: a node pool is required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = prometheus.NewRegistry()
	}
	s := &Server{pool: o.Pool, log: o.Log, ws: o.WebSocket, regions: o.Failover, traffic: o.Traffic, ready: o.Ready, pages: o.Pages}
	if s.ready == nil {
		s.ready = func() (bool, string) { return o.Pool.Ready(), "no upstream node in sync" }
	}
	var err error
	if s.metrics, err = newMetrics(o.Metrics); err != nil {
		return nil, err
	}
	s.byMethod = map[string]*methodMetrics{}
	s.latencies, s.chunkLatencies = map[string]*upstream.Latencies{}, upstream.NewLatencies()
	for _, m := range routing.Methods() {
		s.latencies[m.Name] = upstream.NewLatencies()
	}
	for _, m := range routing.Methods() {
		s.byMethod[m.Name] = s.metrics.forMethod(m.Name)
	}
	s.promHTTP = func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(fasthttp.StatusNotFound) }
	if o.Gatherer != nil {
		s.promHTTP = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))
	}
	s.waits.open = map[netip.Addr]int{}
	s.live.Store(s.settingsFor(o))
	if mb := s.live.Load().cfg.MicroBatch; mb.MaxItems > 1 {
		if s.micro, err = newMicroBatcher(s, mb, o.Metrics); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// methodMetrics is a method's metrics, kept across reloads.
func (s *Server) methodMetrics(name string) *methodMetrics { return s.byMethod[name] }

// SetDraining makes /readyz fail so balancers stop sending before shutdown.
func (s *Server) SetDraining(v bool) { s.draining.Store(v) }

// CloseCapture flushes and closes the capture in force, if any.
func (s *Server) CloseCapture() error {
	return s.live.Load().capture.Close() // nil-safe
}

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
	st := s.live.Load()
	path := ctx.Path()
	switch {
	case s.ws != nil && s.ws.IsWebSocket(ctx):
		if s.admitUpgrade(ctx, st.limiter) {
			s.ws.HandleFastHTTP(ctx)
		}
	case bytes.HasPrefix(path, pathDebugAPI):
		if !st.cfg.DebugAPI {
			s.text(ctx, fasthttp.StatusNotFound, "debug API is disabled")
			return
		}
		s.serveAPI(ctx, st, path[len(pathDebugAPI):], true)
	case bytes.HasPrefix(path, pathAPI):
		s.serveAPI(ctx, st, path[len(pathAPI):], false)
	case string(path) == "/healthz":
		s.text(ctx, fasthttp.StatusOK, "ok")
	case string(path) == "/readyz":
		s.serveReady(ctx)
	case !st.cfg.AdminOnly && s.serveAdmin(ctx, path):
	case s.servePage(ctx, path):
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
		writeJSON(&ctx.Response, fasthttp.StatusInternalServerError, icon.AppendResponseError(nil, nil, errInternal))
		s.metrics.httpStatus(fasthttp.StatusInternalServerError)
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
	case s.servePage(ctx, path):
	default:
		s.text(ctx, fasthttp.StatusNotFound, "Not Found")
	}
}

// servePage serves the extra public endpoints; false for any other path.
func (s *Server) servePage(ctx *fasthttp.RequestCtx, path []byte) bool {
	h := s.pages[string(path)]
	if h == nil {
		return false
	}
	h(ctx)
	s.metrics.httpStatus(ctx.Response.StatusCode())
	return true
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
func (s *Server) serveAPI(ctx *fasthttp.RequestCtx, st *settings, rest []byte, debugAPI bool) {
	if !debugAPI && ctx.IsGet() && isWebSocketPath(ctx.Request.URI().PathOriginal()) {
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
		s.serveRPC(ctx, st, debugAPI)
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
	default:
		if ok, why := s.ready(); !ok {
			s.text(ctx, fasthttp.StatusServiceUnavailable, why)
			return
		}
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
	doc := statusDoc{Region: s.live.Load().cfg.Region, Version: version.Version, Ready: s.pool.Ready(), Draining: s.draining.Load(),
		Tip: s.pool.Tip(), MaxLag: s.pool.MaxLag(), Nodes: s.pool.Snapshot()}
	b, _ := json.MarshalIndent(doc, "", "  ")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
	s.metrics.httpStatus(fasthttp.StatusOK)
}

// text answers the non-JSON-RPC endpoints.
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
		s.text(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "Request Header Fields Too Large")
		return
	}
	x := s.begin(ctx, s.live.Load(), false)
	defer s.end(x)
	if err == fasthttp.ErrBodyTooLarge {
		s.answerError(x, fasthttp.StatusRequestEntityTooLarge, nil, errBodyTooLarge)
		return
	}
	s.answerError(x, fasthttp.StatusBadRequest, nil, icon.ErrParse)
}

var errBodyTooLarge = icon.NewError(icon.CodeInvalidRequest, "InvalidRequest: request body too large")
