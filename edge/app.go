package edge

import (
	"context"
	"fmt"
	"github.com/icon-edge/icon-edge/accesslog"
	"github.com/icon-edge/icon-edge/capture"
	"github.com/icon-edge/icon-edge/version"
	"github.com/icon-edge/icon-edge/wsbridge"
	"io"
	"log/slog"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/icon-edge/icon-edge/cache"
	"github.com/icon-edge/icon-edge/internal/logfmt"
	"github.com/icon-edge/icon-edge/proxy"
	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/valyala/fasthttp"
)

// Edge is one running icon-edge: listener, request path and node pool.
type Edge struct {
	cfg      Config
	log      *slog.Logger
	pool     *upstream.Pool
	proxy    *proxy.Server
	server   *fasthttp.Server
	ln       net.Listener
	registry *prometheus.Registry
	access   *accesslog.Logger
	geo      *geo
	capture  *capture.Writer // nil unless capture.path is set
	bridge   *wsbridge.Bridge
	admin    *fasthttp.Server // nil unless admin_listen is set
	adminLn  net.Listener
	served   chan error
	stopOnce sync.Once
	stopErr  error
	cancel   context.CancelFunc
}

// NewLogger builds the process logger: JSON in production, text on a terminal.
func NewLogger(format, level string, w io.Writer) *slog.Logger {
	var lv slog.Level
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
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
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
	go func() { e.served <- e.server.Serve(e.capConns(ln)) }()
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
	pc := cfg.poolConfig()
	pc.GuardMetrics = guards
	pc.Metrics = reg
	if e.pool, err = upstream.New(pc, log); err != nil {
		return err
	}
	if e.geo, err = newGeo(cfg, e.pool, reg, e); err != nil {
		return err
	}
	o := proxy.Options{Pool: e.pool, Metrics: reg, Gatherer: reg, Log: log, Traffic: e.geo.window, Ready: e.geo.ready,
		Pages: e.geo.pages(), Config: proxy.Config{
			Region: cfg.Region, MaxBodyBytes: cfg.Limits.MaxBodyBytes, MaxBatch: cfg.Limits.MaxBatch,
			NodeBatchLimit: cfg.Limits.NodeBatchLimit, RequestTimeout: cfg.Limits.RequestTimeout,
			AttemptTimeout: cfg.Limits.AttemptTimeout, MaxRetries: &cfg.Limits.MaxRetries,
			DefaultWaitTimeout: cfg.Limits.DefaultWaitTimeout, MaxWaitTimeout: cfg.Limits.MaxWaitTimeout,
			DebugAPI: cfg.DebugAPI, DisabledMethods: cfg.DisabledMethods, AdminOnly: cfg.AdminListen != "",
			MaxWaitsPerClient: cfg.Limits.MaxWaitsPerClient,
		}}
	if cfg.Cache.Enabled {
		if o.Cache, err = cache.New(cache.Config{MaxBytes: cfg.Cache.MaxBytes, FinalityDepth: &cfg.Cache.FinalityDepth}, reg); err != nil {
			return fmt.Errorf("config: cache: %w", err)
		}
	}
	if cfg.RateLimit != nil {
		if o.Limiter, err = ratelimit.New(*cfg.RateLimit, reg); err != nil {
			return fmt.Errorf("config: ratelimit: %w", err)
		}
	}
	if e.access, err = accesslog.New(cfg.AccessLog, reg, log); err != nil {
		return fmt.Errorf("config: access_log: %w", err)
	}
	o.AccessLog = e.access
	if c := cfg.Capture; c.Path != "" {
		if e.capture, err = capture.New(capture.Config{Path: c.Path, Gzip: c.Gzip, SampleRate: c.SampleRate,
			MaxBytes: c.MaxBytes, MaxFiles: c.MaxFiles, BufferSize: c.BufferSize}, reg); err != nil {
			return fmt.Errorf("config: capture: %w", err)
		}
		o.Capture = e.capture
	}
	if cfg.WebSocket.Enabled {
		if e.bridge, err = newBridge(cfg, e.pool, reg, log, o.Limiter); err != nil {
			return fmt.Errorf("config: websocket: %w", err)
		}
		o.WebSocket = e.bridge
	}
	if fw := e.geo.failover(); fw != nil {
		o.Failover = fw
	}
	e.proxy, err = proxy.New(o)
	return err
}

// closeParts releases what build made when the edge never started serving.
func (e *Edge) closeParts() {
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

// Pool exposes the node pool (status page, tests).
func (e *Edge) Pool() *upstream.Pool { return e.pool }

// Registry is the edge's metrics registry, for other components to join.
func (e *Edge) Registry() *prometheus.Registry { return e.registry }

// Reload applies a new configuration without dropping requests. The
// upstreams change at once; every other section that differs is named in a
// warning, because it takes effect only after a restart.
func (e *Edge) Reload(next Config) error {
	if err := next.Validate(); err != nil {
		return err
	}
	if err := e.pool.SetUpstreams(next.Upstreams); err != nil {
		return err
	}
	if pending := restartOnly(e.cfg, next); len(pending) > 0 {
		e.log.Warn("config reloaded: upstreams applied; these settings changed but need a restart", "settings", pending)
	}
	e.cfg.Upstreams = next.Upstreams
	e.log.Info("config reloaded", "upstreams", next.Upstreams)
	return nil
}

// restartOnly lists the YAML sections that differ between a and b, other
// than the upstreams (which reload live).
func restartOnly(a, b Config) []string {
	a.Upstreams, b.Upstreams = nil, nil
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := 0; i < va.NumField(); i++ {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, strings.Split(va.Type().Field(i).Tag.Get("yaml"), ",")[0])
		}
	}
	return out
}

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
	<-e.served
	// Flush what was logged and captured while requests finished, with a
	// budget of its own: slow requests may have used up ctx.
	flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cerr := e.access.Close(flushCtx); cerr != nil && err == nil {
		err = cerr
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
