package proxy

import (
	"github.com/icon-edge/icon-edge/accesslog"
	"github.com/icon-edge/icon-edge/cache"
	"github.com/icon-edge/icon-edge/capture"
	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/routing"
	"github.com/icon-edge/icon-edge/upstream"
)

// settings is what a configuration reload may change in the request path:
// the limits and switches, and the optional parts (cache, limiter, access
// log, capture). It is immutable; a reload builds a new one and swaps the
// pointer. A request reads the pointer once, when it starts, and keeps that
// snapshot to its end: no lock on the hot path, and no request sees half of
// one configuration and half of the next.
type settings struct {
	cfg     Config
	retries int
	methods map[string]*method // enabled methods; the rest answer -32601
	chunk   upstream.Policy    // a node batch of reads
	cache   *cache.Cache
	limiter *ratelimit.Limiter
	access  *accesslog.Logger
	capture *capture.Writer
}

// settingsFor resolves o's configuration and parts into a snapshot.
func (s *Server) settingsFor(o Options) *settings {
	cfg := o.Config.withDefaults()
	st := &settings{cfg: cfg, retries: *cfg.MaxRetries, cache: o.Cache, limiter: o.Limiter,
		access: o.AccessLog, capture: o.Capture}
	disabled := map[string]bool{}
	for _, name := range cfg.DisabledMethods {
		disabled[name] = true
	}
	st.methods = map[string]*method{}
	for i := range routing.Methods() {
		rm := &routing.Methods()[i]
		if disabled[rm.Name] {
			continue // answered -32601, as if goloop had no such method
		}
		st.methods[rm.Name] = &method{Method: rm, policy: st.policyFor(rm, s.latencies[rm.Name]), metrics: s.methodMetrics(rm.Name)}
	}
	st.chunk = upstream.Policy{Retries: st.retries, AttemptTimeout: cfg.AttemptTimeout}
	if cfg.Hedge.On() { // a chunk holds only reads (batch.go)
		st.chunk.Hedge = cfg.Hedge
		st.chunk.Hedge.Latencies = s.chunkLatencies
	}
	return st
}

// policyFor turns a method's facts into the attempt loop's rules; lat is
// where the method's read latencies are kept for hedging.
func (st *settings) policyFor(m *routing.Method, lat *upstream.Latencies) upstream.Policy {
	p := upstream.Policy{Retries: st.retries, AttemptTimeout: st.cfg.AttemptTimeout, Long: m.Wait}
	if m.Kind == routing.Write {
		// A write attempt that times out cannot be retried anyway, so it gets
		// the whole deadline: a slow node may still take it.
		p.SentOnce, p.AttemptTimeout = true, 0
	}
	if m.RetryNotFound {
		p.NotFound = upstream.NotFoundAskAhead
	}
	if m.Kind == routing.Read && !m.Wait && st.cfg.Hedge.On() {
		p.Hedge = st.cfg.Hedge
		p.Hedge.Latencies = lat // judged against its own method's latencies
	}
	return p
}

// Reconfigure applies a reloaded configuration: o's Config (every limit,
// timeout and switch, the disabled methods, the debug API, the region) and
// its parts (Cache, Limiter, AccessLog, Capture; nil turns one off) serve
// every request that starts from now on; requests already running finish
// with what they started with. What New fixed stays: Pool, Metrics,
// Gatherer, Log, WebSocket, and Config.AdminOnly (the admin listener). The
// caller owns the parts and closes the ones it replaced.
func (s *Server) Reconfigure(o Options) {
	o.Config.AdminOnly = s.live.Load().cfg.AdminOnly
	s.live.Store(s.settingsFor(o))
}

// Config returns the configuration in force (defaults filled in).
func (s *Server) Config() Config { return s.live.Load().cfg }

// Limiter is the limiter in force, nil when limits are off.
func (s *Server) Limiter() *ratelimit.Limiter { return s.live.Load().limiter }
