package edge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/icon-edge/icon-edge/routing"
	"github.com/icon-edge/icon-edge/routing/cloudflare"
	"github.com/icon-edge/icon-edge/statuspage"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/icon-edge/icon-edge/version"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// historyHours is how much availability the status page draws.
const historyHours = 6

// geo is this region as one of several: its readiness with hysteresis, its
// public summary (/region.json) and status page (/status), the peers it
// polls and fails over to.
type geo struct {
	name      string
	publicURL atomic.Pointer[string] // a reload may change it
	pool      *upstream.Pool
	window    *routing.Window
	verdict   *routing.Verdict
	history   *routing.History
	peers     *routing.PeerPoller // nil without peers
	forwarder *routing.Forwarder  // nil without peers
	health    *cloudflare.HealthPoller
	draining  atomic.Bool
	interval  atomic.Int64 // ns between readiness observations: health.probe_interval, as reloads set it
	lastTip   atomic.Int64 // the highest tip seen: a region whose nodes all died still says where it was
}

func newGeo(cfg Config, pool *upstream.Pool, reg prometheus.Registerer, e *Edge) (*geo, error) {
	g := &geo{name: cfg.regionName(), pool: pool, window: routing.NewWindow(),
		verdict: routing.NewVerdict(cfg.Readiness), history: routing.NewHistory(historyHours)}
	g.publicURL.Store(&cfg.PublicURL)
	g.interval.Store(int64(cfg.Health.ProbeInterval))
	if len(cfg.Peers) > 0 {
		var err error
		g.peers, err = routing.NewPeerPoller(routing.PeerPollerConfig{Self: g.name, Peers: cfg.Peers, Interval: cfg.PeerPollInterval,
			Registry: reg, History: g.history, Logger: e.log})
		if err != nil {
			return nil, fmt.Errorf("config: peers: %w", err)
		}
		if g.forwarder, err = routing.NewForwarder(g.name, g.peers, reg); err != nil {
			return nil, err
		}
	}
	if cfg.Cloudflare != nil && cfg.CloudflarePoolHealth {
		opts := cloudflare.OptionsFromEnv(os.Getenv)
		if opts.Token == "" {
			return nil, errors.New("config: cloudflare_pool_health needs CLOUDFLARE_API_TOKEN in the environment")
		}
		opts.Logger = e.log
		hp, err := cloudflare.NewHealthPoller(cloudflare.HealthPollerConfig{Options: opts, Config: *cfg.Cloudflare,
			Regions: []string{g.name}, Registry: reg, Logger: e.log})
		if err != nil {
			return nil, fmt.Errorf("config: cloudflare: %w", err)
		}
		g.health = hp
	}
	return g, nil
}

// start observes readiness every probe interval and polls the peers.
func (g *geo) start(ctx context.Context) {
	g.observe(time.Now())
	go func() {
		every := time.Duration(g.interval.Load())
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				g.observe(now)
			}
			if d := time.Duration(g.interval.Load()); d != every {
				every = d
				t.Reset(every)
			}
		}
	}()
	if g.peers != nil {
		g.peers.Start(ctx)
	}
	if g.health != nil {
		g.health.Start(ctx)
	}
}

func (g *geo) observe(now time.Time) {
	if tip := g.pool.Tip(); tip > g.lastTip.Load() {
		g.lastTip.Store(tip)
	}
	g.verdict.Observe(routing.Observation{InSync: g.inSync(), Draining: g.draining.Load()})
	g.history.Record(g.name, now, g.verdict.Ready())
}

func (g *geo) inSync() int {
	n := 0
	for _, node := range g.pool.Nodes() {
		if g.pool.InSync(node) {
			n++
		}
	}
	return n
}

func (g *geo) ready() (bool, string) {
	if g.verdict.Ready() {
		return true, ""
	}
	return false, g.verdict.Reason()
}

// summary is /region.json: counts, never node addresses.
func (g *geo) summary() routing.RegionSummary {
	s := routing.RegionSummary{Name: g.name, Ready: g.verdict.Ready() && !g.draining.Load(), InSync: g.inSync(),
		Total: len(g.pool.Nodes()), Tip: max(g.pool.Tip(), g.lastTip.Load(), 0), Version: version.Version, PublicURL: *g.publicURL.Load(),
		ObservedAt: time.Now().UTC()}
	s.SetWindow(g.window.Stats())
	return s
}

func (g *geo) page() statuspage.Page {
	var peers []routing.PeerState
	if g.peers != nil {
		peers = g.peers.Peers()
	}
	return statuspage.Build(g.summary(), peers, g.history, time.Now())
}

// pages are the public endpoints this adds to the edge.
func (g *geo) pages() map[string]fasthttp.RequestHandler {
	return map[string]fasthttp.RequestHandler{
		"/region.json": routing.SummaryHandler(g.summary),
		"/status":      statuspage.Handler(g.page),
	}
}

// failover is the forwarder as the request path sees it (nil-safe).
func (g *geo) failover() *routing.Forwarder { return g.forwarder }
