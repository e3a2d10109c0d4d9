// Package upstream keeps the set of ICON nodes behind the edge: where they are
// (sources), how they are doing (health), and which one serves a request
// (selection). Every node is probed with icx_getLastBlock on an interval and
// measured on live traffic; the chain tip is the highest height among healthy
// nodes, and a node is in sync when tip − height ≤ MaxLag.
package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icon-edge/icon-edge/internal/rawconn"
	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// Config describes the pool.
type Config struct {
	// Upstreams are --upstream values: http://host:port or dns+http://name:port.
	Upstreams []string
	// ProbePath is the JSON-RPC path probes use, e.g. /api/v3 or /api/v3/icon_dex.
	ProbePath string
	// MaxLag is how many blocks behind the tip a node may be and still serve
	// latest-state reads.
	MaxLag int64
	// ResolveInterval is how often DNS sources are re-resolved.
	ResolveInterval time.Duration
	// MaxConnsPerNode bounds the keep-alive pool to each node.
	MaxConnsPerNode int
	// MaxWaitsPerNode bounds the wait calls (held open by the node) open on
	// each node; default half of MaxConnsPerNode.
	MaxWaitsPerNode int
	// MaxIdleConnDuration closes idle keep-alive connections after this long.
	MaxIdleConnDuration time.Duration
	// MaxResponseBodySize bounds what a node may answer.
	MaxResponseBodySize int
	// PipelineConns is how many pipelined connections each node gets for
	// short reads (pipeline.go); 0 sends every call on its own connection.
	// PipelineDepth bounds the calls in flight on one of them (default 64);
	// past it calls take the ordinary connections.
	PipelineConns, PipelineDepth int
	Health                       HealthConfig
	// MaxRPSPerNode caps the request rate sent to each node (0 = no cap);
	// requests over it wait up to MaxWait, then are shed without being sent.
	MaxRPSPerNode int
	MaxWait       time.Duration
	// GuardMetrics counts shed requests (icon_edge_upstream_shed_total).
	GuardMetrics *ratelimit.GuardMetrics
	// Resolver overrides DNS resolution (tests).
	Resolver Resolver
	// Metrics registers the pool's metrics (per-node state, retries); nil
	// keeps them unregistered.
	Metrics prometheus.Registerer
	// Verdicts publishes this replica's ejections and tip to the region's
	// other replicas (verdicts.go); nil: this replica judges alone.
	Verdicts VerdictSink
}

// DefaultConfig is the pool's configuration when nothing is set (no upstreams).
func DefaultConfig() Config {
	var c Config
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.ProbePath == "" {
		c.ProbePath = "/api/v3"
	}
	if c.MaxLag <= 0 {
		c.MaxLag = 2
	}
	if c.ResolveInterval <= 0 {
		c.ResolveInterval = 10 * time.Second
	}
	if c.MaxConnsPerNode <= 0 {
		c.MaxConnsPerNode = 512
	}
	if c.MaxWaitsPerNode <= 0 {
		c.MaxWaitsPerNode = max(c.MaxConnsPerNode/2, 1)
	}
	if c.MaxIdleConnDuration <= 0 {
		c.MaxIdleConnDuration = 30 * time.Second
	}
	if c.MaxResponseBodySize <= 0 {
		c.MaxResponseBodySize = 64 << 20
	}
	if c.PipelineDepth <= 0 {
		c.PipelineDepth = 64
	}
	c.Health.setDefaults()
}

// Need is what a request requires of the node that serves it.
type Need struct {
	// Latest: the request reads the latest state, so only in-sync nodes qualify.
	Latest bool
	// MinHeight: the request is pinned to this height; only nodes at or above
	// it qualify. Zero means not pinned.
	MinHeight int64
}

// Pool is the live set of nodes.
type Pool struct {
	// cfg is the configuration the pool was built with; live holds what a
	// reload may change (Reconfigure), read on every request and probe.
	cfg  Config
	live atomic.Pointer[Config]
	log  *slog.Logger

	nodes atomic.Pointer[[]*Node] // every node that may take traffic or is draining
	tip   atomic.Int64

	resolveMu sync.Mutex // one resolve at a time: ticker and reloads
	tipMu     sync.Mutex // tip is recomputed from many probe goroutines

	mu      sync.Mutex // membership changes
	sources []Source
	lastOK  map[string][]string // each source's last good answer, kept when it fails
	byURL   map[string]*Node
	probes  map[*Node]context.CancelFunc

	retries *prometheus.CounterVec

	// Hedged reads (hedge.go): the credit that caps their share, the
	// latencies of reads whose policy keeps none of its own, the counters.
	hedgeCredit atomic.Int64
	latencies   Latencies
	hedges      map[string]prometheus.Counter

	// Verdicts shared with other replicas (verdicts.go).
	remoteTip    atomic.Int64 // highest tip another replica published recently
	remoteTipAt  atomic.Int64 // when it arrived, unix ns
	syncTip      atomic.Int64 // the tip in-sync decisions use
	publishedTip atomic.Int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a pool; Start begins probing and resolving.
func New(cfg Config, log *slog.Logger) (*Pool, error) {
	cfg.setDefaults()
	if log == nil {
		log = slog.Default()
	}
	if len(cfg.Upstreams) == 0 {
		return nil, errors.New("upstreams: at least one upstream is required")
	}
	sources, err := parseSources(cfg.Upstreams, cfg.Resolver)
	if err != nil {
		return nil, err
	}
	p := &Pool{cfg: cfg, log: log, sources: sources, lastOK: map[string][]string{},
		byURL: map[string]*Node{}, probes: map[*Node]context.CancelFunc{}}
	live := cfg
	p.live.Store(&live)
	empty := []*Node{}
	p.nodes.Store(&empty)
	p.tip.Store(-1)
	p.syncTip.Store(-1)
	p.publishedTip.Store(-1)
	p.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "icon_edge_retries_total",
		Help: "Attempts repeated on another node, by reason.",
	}, []string{"reason"})
	hedges := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "icon_edge_hedges_total",
		Help: "Hedged reads by result: won (the hedge answered first), lost, skipped_cap (share cap reached), skipped_no_node.",
	}, []string{"result"})
	p.hedges = map[string]prometheus.Counter{}
	for _, r := range []string{HedgeWon, HedgeLost, HedgeSkippedCap, HedgeSkippedNoNode} {
		p.hedges[r] = hedges.WithLabelValues(r)
	}
	if cfg.Metrics != nil {
		if err := cfg.Metrics.Register(p.retries); err != nil {
			return nil, fmt.Errorf("upstream: registering metrics: %w", err)
		}
		if err := cfg.Metrics.Register(hedges); err != nil {
			return nil, fmt.Errorf("upstream: registering metrics: %w", err)
		}
		if err := cfg.Metrics.Register(NewCollector(p)); err != nil {
			return nil, fmt.Errorf("upstream: registering metrics: %w", err)
		}
	}
	return p, nil
}

func parseSources(raw []string, r Resolver) ([]Source, error) {
	out := make([]Source, 0, len(raw))
	for _, u := range raw {
		s, err := ParseSource(strings.TrimSpace(u), r)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Start resolves the sources once (so the first probes go out at once) and
// keeps resolving and probing until ctx ends or Close.
func (p *Pool) Start(ctx context.Context) {
	p.ctx, p.cancel = context.WithCancel(ctx)
	p.resolve()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		every := p.conf().ResolveInterval
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.ctx.Done():
				return
			case <-t.C:
				p.resolve()
			}
			if now := p.conf().ResolveInterval; now != every { // changed by a reload
				every = now
				t.Reset(every)
			}
		}
	}()
}

// Close stops probing and closes idle connections.
func (p *Pool) Close() {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	for _, n := range *p.nodes.Load() {
		n.client.CloseIdleConnections()
		n.probeClient.CloseIdleConnections()
		n.closePipe()
	}
}

// conf is the configuration in force: what the pool was built with, as the
// last Reconfigure changed it.
func (p *Pool) conf() *Config { return p.live.Load() }

// newGuard is a node's request-rate cap under cfg (nil: none).
func (p *Pool) newGuard(url string, cfg *Config) *ratelimit.UpstreamGuard {
	if cfg.MaxRPSPerNode <= 0 {
		return nil
	}
	return ratelimit.NewUpstreamGuard(url, cfg.MaxRPSPerNode, cfg.MaxWait, p.cfg.GuardMetrics)
}

// Reconfigure applies a reloaded configuration without dropping requests:
// the upstream list (as SetUpstreams), the probe path, interval, timeout and
// every other health setting, max lag, the DNS resolve interval, the wait
// share per node and the per-node rate cap take effect at once (probes at
// their next tick). What the node connections were built with stays:
// MaxConnsPerNode, MaxIdleConnDuration, MaxResponseBodySize and the
// pipelining settings (a restart applies them); so do Resolver, GuardMetrics
// and Metrics.
func (p *Pool) Reconfigure(cfg Config) error {
	cfg.setDefaults()
	if _, err := parseSources(cfg.Upstreams, p.cfg.Resolver); err != nil {
		return err
	}
	cfg.MaxConnsPerNode, cfg.MaxIdleConnDuration, cfg.MaxResponseBodySize = p.cfg.MaxConnsPerNode, p.cfg.MaxIdleConnDuration, p.cfg.MaxResponseBodySize
	cfg.PipelineConns, cfg.PipelineDepth = p.cfg.PipelineConns, p.cfg.PipelineDepth
	cfg.Resolver, cfg.GuardMetrics, cfg.Metrics, cfg.Verdicts = p.cfg.Resolver, p.cfg.GuardMetrics, p.cfg.Metrics, p.cfg.Verdicts
	old := p.conf()
	p.mu.Lock()
	p.live.Store(&cfg)
	if cfg.MaxRPSPerNode != old.MaxRPSPerNode || cfg.MaxWait != old.MaxWait {
		for u, n := range p.byURL {
			n.guard.Store(p.newGuard(u, &cfg))
		}
	}
	p.mu.Unlock()
	p.updateTip()
	return p.SetUpstreams(cfg.Upstreams)
}

// SetUpstreams replaces the configured upstreams (config reload). Nodes that
// stay keep their state; new ones join after passing a probe; vanished ones drain.
func (p *Pool) SetUpstreams(raw []string) error {
	sources, err := parseSources(raw, p.cfg.Resolver)
	if err != nil {
		return err
	}
	if len(sources) == 0 {
		return errors.New("upstreams: at least one upstream is required")
	}
	p.mu.Lock()
	p.sources = sources // lastOK stays: a source kept across a reload keeps its fallback
	p.mu.Unlock()
	p.resolve()
	return nil
}

// resolve asks every source for its nodes and reconciles membership.
func (p *Pool) resolve() {
	p.resolveMu.Lock()
	defer p.resolveMu.Unlock()
	p.mu.Lock()
	sources := slices.Clone(p.sources)
	p.mu.Unlock()

	want := map[string]bool{}
	for _, s := range sources {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		urls, err := s.Nodes(ctx)
		cancel()
		p.mu.Lock()
		if err != nil {
			// A failed lookup must not drain a healthy fleet: keep what the
			// source listed last time.
			p.log.Warn("upstream source failed; keeping its previous nodes", "source", s.String(), "err", err)
			urls = p.lastOK[s.String()]
		} else {
			p.lastOK[s.String()] = urls
		}
		p.mu.Unlock()
		for _, u := range urls {
			want[u] = true
		}
	}
	p.reconcile(want)
}

func (p *Pool) reconcile(want map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx == nil || p.ctx.Err() != nil {
		return
	}
	for u := range want {
		n, ok := p.byURL[u]
		if ok && n.State() != StateDraining {
			continue
		}
		if ok { // came back while draining: keep its connections and history
			n.setState(StateStarting)
			p.log.Info("upstream node listed again", "upstream", u)
			continue
		}
		probes := p.newClient(u)
		probes.MaxConns = 2
		n = newNode(u, p.newClient(u), probes)
		n.guard.Store(p.newGuard(u, p.conf()))
		if p.cfg.PipelineConns > 0 && !strings.HasPrefix(u, "https://") {
			n.pipe = newPipeline(n.client.Addr, p.cfg.PipelineConns, p.cfg.PipelineDepth, p.cfg.MaxResponseBodySize,
				p.cfg.MaxIdleConnDuration)
		}
		p.byURL[u] = n
		p.log.Info("upstream node added", "upstream", u)
		p.startProbe(n)
	}
	for u, n := range p.byURL {
		if !want[u] && n.State() != StateDraining {
			n.setState(StateDraining)
			p.log.Info("upstream node draining", "upstream", u, "inflight", n.InFlight())
		}
	}
	p.publishLocked()
}

func (p *Pool) newClient(base string) *fasthttp.HostClient {
	addr := strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://")
	isTLS := strings.HasPrefix(base, "https://")
	hc := &fasthttp.HostClient{
		Addr:                          addr,
		IsTLS:                         isTLS,
		MaxConns:                      p.cfg.MaxConnsPerNode,
		MaxIdleConnDuration:           p.cfg.MaxIdleConnDuration,
		MaxResponseBodySize:           p.cfg.MaxResponseBodySize,
		ReadBufferSize:                16 << 10,
		DisableHeaderNamesNormalizing: true,
		NoDefaultUserAgentHeader:      true,
		// Raw reads and writes, as on the pipelined connections (rawconn);
		// TLS, when the node speaks it, runs over the wrapped socket. What
		// fasthttp does itself without a dial function stays: the default
		// port, and a dial bounded by the time the attempt has left.
		DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
			addr = fasthttp.AddMissingPort(addr, isTLS)
			var c net.Conn
			var err error
			if timeout > 0 {
				c, err = fasthttp.DialTimeout(addr, timeout)
			} else {
				c, err = fasthttp.Dial(addr)
			}
			if err != nil {
				return nil, err
			}
			return rawconn.Wrap(c), nil
		},
		// The edge decides itself what may be retried: a write must never be
		// sent twice behind its back.
		RetryIfErr: func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
	}
	if isTLS {
		hc.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return hc
}

// publishLocked rebuilds the node list readers see and drops drained nodes.
func (p *Pool) publishLocked() {
	list := make([]*Node, 0, len(p.byURL))
	for u, n := range p.byURL {
		if n.State() == StateDraining && n.InFlight() == 0 {
			delete(p.byURL, u)
			if cancel := p.probes[n]; cancel != nil {
				cancel()
				delete(p.probes, n)
			}
			n.client.CloseIdleConnections()
			n.probeClient.CloseIdleConnections()
			n.closePipe()
			p.log.Info("upstream node removed", "upstream", u)
			continue
		}
		list = append(list, n)
	}
	slices.SortFunc(list, func(a, b *Node) int { return strings.Compare(a.url, b.url) })
	p.nodes.Store(&list)
	p.updateTip()
}

func (p *Pool) startProbe(n *Node) {
	ctx, cancel := context.WithCancel(p.ctx)
	p.probes[n] = cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.probeLoop(ctx, n)
	}()
}

func (p *Pool) probeLoop(ctx context.Context, n *Node) {
	every := p.conf().Health.ProbeInterval
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if now := p.conf().Health.ProbeInterval; now != every { // changed by a reload
			every = now
			t.Reset(every)
		}
		if n.probeDue(time.Now()) {
			p.probeOnce(ctx, n)
		}
		if n.State() == StateDraining {
			p.mu.Lock()
			p.publishLocked()
			p.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Pool) probeOnce(ctx context.Context, n *Node) {
	cfg := p.conf()
	h, took, err := probe(ctx, n, cfg.ProbePath, cfg.Health.ProbeTimeout)
	if ctx.Err() != nil {
		return
	}
	if errors.Is(err, fasthttp.ErrNoFreeConns) {
		return // the probe could not be sent: load, not a dead node
	}
	if err != nil {
		// A node that answers its probe with an error is up but erroring (a
		// share of errors is what outlier detection weighs); only a long run
		// of such answers, or a short run of no answer at all, means down.
		if n.markFailure(err, errors.Is(err, errProbeAnswer), &cfg.Health, time.Now()) {
			p.log.Warn("upstream node ejected", "upstream", n.url, "err", err, "retry_in", n.backoffNow())
			p.shareEjection(n, true)
		}
		p.updateTip()
		return
	}
	n.observeLatency(took)
	n.observeHeight(h)
	if n.markSuccess(true, &cfg.Health) {
		p.log.Info("upstream node healthy", "upstream", n.url, "height", h)
	}
	p.updateTip()
}

func (n *Node) backoffNow() time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.backoff
}

// updateTip recomputes the tip from healthy nodes. When the nodes that were
// ahead die, the survivors define the chain this region can serve; answering
// from them beats answering nothing, and /readyz still tells the balancer.
func (p *Pool) updateTip() {
	p.tipMu.Lock()
	defer p.tipMu.Unlock()
	tip := int64(-1)
	for _, n := range *p.nodes.Load() {
		if n.State() == StateHealthy {
			tip = max(tip, n.Height())
		}
	}
	p.tip.Store(tip)
	p.syncTip.Store(p.syncTipFor(tip))
	p.publishTip(tip)
}

// Tip is the highest height among healthy nodes, -1 when none is known.
func (p *Pool) Tip() int64 { return p.tip.Load() }

// MaxLag is the configured in-sync tolerance.
func (p *Pool) MaxLag() int64 { return p.conf().MaxLag }

// Nodes is the current node list (read-only; do not modify).
func (p *Pool) Nodes() []*Node { return *p.nodes.Load() }

// InSync reports whether n may serve latest-state reads: within MaxLag of
// the tip (or of a higher tip another replica saw, verdicts.go).
func (p *Pool) InSync(n *Node) bool {
	return n.State() == StateHealthy && n.Height() >= 0 && p.syncTip.Load()-n.Height() <= p.conf().MaxLag
}

// Ready reports whether at least one node is in sync.
func (p *Pool) Ready() bool {
	for _, n := range *p.nodes.Load() {
		if p.InSync(n) {
			return true
		}
	}
	return false
}
