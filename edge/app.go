package edge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/icon-edge/icon-edge/accesslog"
	"github.com/icon-edge/icon-edge/cache"
	"github.com/icon-edge/icon-edge/capture"
	"github.com/icon-edge/icon-edge/internal/logfmt"
	"github.com/icon-edge/icon-edge/internal/rawconn"
	"github.com/icon-edge/icon-edge/proxy"
	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/redisstate"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/icon-edge/icon-edge/version"
	"github.com/icon-edge/icon-edge/wsbridge"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/valyala/fasthttp"
)

// Edge is one running icon-edge: listener, request path and node pool.
type Edge struct {
	mu       sync.Mutex // one Reload at a time; guards cfg and the parts below
	cfg      Config     // the configuration in force
	log      *slog.Logger
	level    *slog.LevelVar // log_level, when log came from NewLogger
	pool     *upstream.Pool
	proxy    *proxy.Server
	server   *fasthttp.Server
	ln       net.Listener
	registry *prometheus.Registry
	access   *accesslog.Logger
	geo      *geo
	retired  []*accesslog.Logger // replaced by reloads, still delivering
	capture  *capture.Writer     // nil unless capture.path is set
	limiter  *ratelimit.Limiter  // nil unless a ratelimit section is set
	cache    *cache.Cache        // nil when cache.enabled is false
	// Metrics of parts a reload may rebuild, registered when first built.
	limMetrics   *ratelimit.Metrics
	cacheMetrics *cache.Metrics
	bridge       *wsbridge.Bridge
	redis        *redisstate.Client // nil unless the redis section is set
	admin        *fasthttp.Server   // nil unless admin_listen is set
	adminLn      net.Listener
	served       chan error
	stopOnce     sync.Once
	stopErr      error
	cancel       context.CancelFunc
}

// NewLogger builds the process logger: JSON in production, text on a
// terminal. Its level follows log_level on reload.
func NewLogger(format, level string, w io.Writer) *slog.Logger {
	lv := new(slog.LevelVar)
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: logfmt.Durations}
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(&leveled{Handler: h, level: lv})
}

// leveled carries the LevelVar its handler filters by, through With and
// WithGroup, so a reload can change the level of every derived logger.
type leveled struct {
	slog.Handler
	level *slog.LevelVar
}

func (h *leveled) WithAttrs(as []slog.Attr) slog.Handler {
	return &leveled{Handler: h.Handler.WithAttrs(as), level: h.level}
}

func (h *leveled) WithGroup(name string) slog.Handler {
	return &leveled{Handler: h.Handler.WithGroup(name), level: h.level}
}

// Start validates cfg, starts probing the nodes and begins serving.
func Start(cfg Config, log *slog.Logger) (*Edge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = NewLogger(cfg.LogFormat, cfg.LogLevel, os.Stderr)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	e := &Edge{cfg: cfg, log: log, registry: reg, served: make(chan error, 1)}
	if lh, ok := log.Handler().(*leveled); ok {
		e.level = lh.level
	}
	if err := e.build(); err != nil {
		e.closeParts()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		e.closeParts()
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	e.ln = ln
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.pool.Start(ctx)
	e.geo.start(ctx)
	// Bodies are streamed and read by the gate (body.go), so memory follows
	// what clients send, not what they declare; connections are capped per
	// client address by the listener (conncap.go), not by fasthttp.
	gate := newBodyGate(e.proxy.Handler, e.proxy.ErrorHandler, cfg.Limits, e.registry)
	e.server = &fasthttp.Server{
		Handler:               gate.handle,
		ErrorHandler:          gate.errorHandler,
		HeaderReceived:        gate.headerReceived,
		StreamRequestBody:     true,
		Name:                  "icon-edge",
		NoDefaultServerHeader: true,
		MaxRequestBodySize:    cfg.Limits.MaxBodyBytes,
		IdleTimeout:           cfg.Limits.IdleTimeout,
		ReadTimeout:           cfg.Limits.ReadTimeout,
		WriteTimeout:          cfg.Limits.WriteTimeout,
		CloseOnShutdown:       true,
		// Websockets outlive their hijack handler's bookkeeping: fasthttp must
		// neither close nor recycle a hijacked connection (wsbridge owns it).
		KeepHijackedConns: true,
		Logger:            slogPrintf{log},
	}
	capped := newLazyListener(e.capConns(rawconn.Listener{Listener: ln})) // before the goroutine: a reload may change e.cfg
	go func() { e.served <- e.server.Serve(capped) }()
	if cfg.AdminListen != "" {
		if err := e.startAdmin(cfg.AdminListen); err != nil {
			_ = e.Close()
			return nil, err
		}
	}
	log.Info("icon-edge serving", "listen", ln.Addr().String(), "upstreams", cfg.Upstreams, "region", cfg.Region, "version", version.Version)
	return e, nil
}

// build makes the node pool and the request path with every optional part the
// configuration turns on.
func (e *Edge) build() error {
	cfg, reg, log := e.cfg, e.registry, e.log
	guards, err := ratelimit.NewGuardMetrics(reg)
	if err != nil {
		return err
	}
	if e.redis, err = e.openRedis(); err != nil {
		return err
	}
	pc := cfg.poolConfig()
	pc.GuardMetrics = guards
	pc.Metrics = reg
	if e.redis != nil {
		pc.Verdicts = e.redis
	}
	cfg.Upstream.tunePool(&pc)
	if e.pool, err = upstream.New(pc, log); err != nil {
		return err
	}
	if e.redis != nil {
		e.redis.Subscribe(func(node string, backoff time.Duration, byProbe bool) { e.pool.ApplyEjection(node, backoff, byProbe) },
			e.pool.ApplyTip)
	}
	if e.geo, err = newGeo(cfg, e.pool, reg, e); err != nil {
		return err
	}
	if e.cache, err = e.newCache(cfg.Cache); err != nil {
		return err
	}
	if e.limiter, err = e.newLimiter(cfg.RateLimit); err != nil {
		return err
	}
	if e.access, err = accesslog.New(cfg.AccessLog, reg, log); err != nil {
		return fmt.Errorf("access_log: %w", err)
	}
	if e.capture, err = newCapture(cfg.Capture, reg); err != nil {
		return err
	}
	o := e.proxyOptions(cfg)
	o.Pool, o.Metrics, o.Gatherer, o.Log = e.pool, reg, reg, log
	o.Traffic, o.Ready, o.Pages = e.geo.window, e.geo.ready, e.geo.pages()
	if cfg.WebSocket.Enabled {
		// Per-IP websocket limits count clients, not the proxy in front: the
		// bridge asks the limiter in force, whatever reloads did to it.
		if e.bridge, err = wsbridge.New(bridgeConfig(cfg, e.clientIP), e.pool, reg, log); err != nil {
			return fmt.Errorf("websocket: %w", err)
		}
		o.WebSocket = e.bridge
	}
	if fw := e.geo.failover(); fw != nil {
		o.Failover = fw
	}
	e.proxy, err = proxy.New(o)
	return err
}

// proxyOptions are the request path's settings and parts under cfg.
func (e *Edge) proxyOptions(cfg Config) proxy.Options {
	l := cfg.Limits
	return proxy.Options{Config: proxy.Config{
		Region: cfg.Region, MaxBodyBytes: l.MaxBodyBytes, MaxBatch: l.MaxBatch, NodeBatchLimit: l.NodeBatchLimit,
		RequestTimeout: l.RequestTimeout, AttemptTimeout: l.AttemptTimeout, MaxRetries: &l.MaxRetries,
		DefaultWaitTimeout: l.DefaultWaitTimeout, MaxWaitTimeout: l.MaxWaitTimeout, MaxWaitsPerClient: l.MaxWaitsPerClient,
		DebugAPI: cfg.DebugAPI, DisabledMethods: cfg.DisabledMethods, AdminOnly: cfg.AdminListen != "",
		Hedge: cfg.hedgePolicy(), MicroBatch: cfg.Upstream.microBatch(),
	}, Cache: e.cache, Limiter: e.limiter, AccessLog: e.access, Capture: e.capture}
}

// newCache builds the cache for c (nil when it is off); its metrics are
// registered the first time and shared by every cache a reload builds.
func (e *Edge) newCache(c Cache) (*cache.Cache, error) {
	if !c.Enabled {
		return nil, nil
	}
	if e.cacheMetrics == nil {
		m, err := cache.NewMetrics(e.registry)
		if err != nil {
			return nil, err
		}
		e.cacheMetrics = m
	}
	depth := c.FinalityDepth
	ch, err := cache.NewWithMetrics(cache.Config{MaxBytes: c.MaxBytes, FinalityDepth: &depth}, e.cacheMetrics)
	if err == nil && e.redis != nil {
		ch.SetShared(e.redis) // final answers also in the region's Redis
	}
	return ch, err
}

// newLimiter builds the limiter for rl (nil without a ratelimit section),
// with metrics shared like the cache's.
func (e *Edge) newLimiter(rl *ratelimit.Config) (*ratelimit.Limiter, error) {
	if rl == nil {
		return nil, nil
	}
	if e.limMetrics == nil {
		m, err := ratelimit.NewMetrics(e.registry)
		if err != nil {
			return nil, err
		}
		e.limMetrics = m
	}
	lim, err := ratelimit.NewWithMetrics(*rl, e.limMetrics)
	if err == nil && e.redis != nil {
		lim.SetShared(e.redis, e.cfg.Redis.OnError == "local") // one budget per client across the region
	}
	return lim, err
}

// newCapture opens the capture for c (nil when no path is set).
func newCapture(c Capture, reg prometheus.Registerer) (*capture.Writer, error) {
	if c.Path == "" {
		return nil, nil
	}
	w, err := capture.New(capture.Config{Path: c.Path, Gzip: c.Gzip, SampleRate: c.SampleRate,
		MaxBytes: c.MaxBytes, MaxFiles: c.MaxFiles, BufferSize: c.BufferSize}, reg)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	return w, nil
}

// closeParts releases what build made when the edge never started serving.
func (e *Edge) closeParts() {
	if e.redis != nil {
		e.redis.Close()
	}
	if e.bridge != nil {
		_ = e.bridge.Close()
	}
	if e.access != nil {
		_ = e.access.Close(context.Background())
	}
	if e.capture != nil {
		_ = e.capture.Close()
	}
}

// startAdmin serves the operator endpoints on their own listener.
func (e *Edge) startAdmin(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin_listen %s: %w", addr, err)
	}
	e.adminLn = ln
	e.admin = &fasthttp.Server{Handler: e.proxy.AdminHandler, Name: "icon-edge-admin", NoDefaultServerHeader: true,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, Logger: slogPrintf{e.log}}
	go func() { _ = e.admin.Serve(ln) }()
	e.log.Info("admin endpoints serving", "admin_listen", ln.Addr().String())
	return nil
}

// AdminAddr is where /metrics and /status.json are served when admin_listen
// is set ("" otherwise).
func (e *Edge) AdminAddr() string {
	if e.adminLn == nil {
		return ""
	}
	return e.adminLn.Addr().String()
}

// Addr is where the edge listens (useful with port 0).
func (e *Edge) Addr() string { return e.ln.Addr().String() }

// URL is the edge's base URL, e.g. http://127.0.0.1:9080.
func (e *Edge) URL() string { return "http://" + e.Addr() }

// Config is the configuration in force: the one Start was given, as reloads
// changed it (settings that need a restart keep their running values).
func (e *Edge) Config() Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg
}

// Pool exposes the node pool (status page, tests).
func (e *Edge) Pool() *upstream.Pool { return e.pool }

// Registry is the edge's metrics registry, for other components to join.
func (e *Edge) Registry() *prometheus.Registry { return e.registry }

// Shutdown drains: /readyz fails for the drain delay so balancers move away,
// then the listener closes and open requests finish within ctx. Calling it
// again returns the first result.
func (e *Edge) Shutdown(ctx context.Context, drainDelay time.Duration) error {
	e.stopOnce.Do(func() { e.stopErr = e.shutdown(ctx, drainDelay) })
	return e.stopErr
}

func (e *Edge) shutdown(ctx context.Context, drainDelay time.Duration) error {
	e.proxy.SetDraining(true)
	e.geo.draining.Store(true)
	if drainDelay > 0 {
		e.log.Info("draining: /readyz now fails", "delay", drainDelay)
		select {
		case <-time.After(drainDelay):
		case <-ctx.Done():
		}
	}
	if e.bridge != nil {
		_ = e.bridge.Close() // websockets are not requests: Shutdown would wait on them forever
	}
	err := e.server.ShutdownWithContext(ctx)
	if e.admin != nil {
		_ = e.admin.Shutdown()
	}
	e.cancel()
	e.pool.Close()
	if e.redis != nil {
		e.redis.Close() // after the pool: its probes may still publish verdicts
	}
	<-e.served
	// Flush what was logged and captured while requests finished, with a
	// budget of its own: slow requests may have used up ctx.
	flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range append(e.retired, e.access) {
		if cerr := l.Close(flushCtx); cerr != nil && err == nil {
			err = cerr
		}
	}
	if cerr := e.proxy.CloseCapture(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// Close stops at once (tests).
func (e *Edge) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return e.Shutdown(ctx, 0)
}

type slogPrintf struct{ log *slog.Logger }

func (l slogPrintf) Printf(format string, args ...any) { l.log.Warn(fmt.Sprintf(format, args...)) }
