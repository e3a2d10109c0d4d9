package routing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icon-edge/icon-edge/internal/confkey"
	"github.com/prometheus/client_golang/prometheus"
)

// PeerConfig is one other region's edge: YAML `peers: [{name, url}]`, or
// the flag `--peer NAME=URL`. Peers are listed in order of preference
// (first = nearest), which is the order failover tries them in.
type PeerConfig struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"` // the peer edge's public base URL; /region.json is polled under it
}

var peerName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ParsePeerFlag parses the value of one --peer flag, NAME=URL.
func ParsePeerFlag(v string) (PeerConfig, error) {
	name, u, ok := strings.Cut(v, "=")
	if !ok || name == "" || u == "" {
		return PeerConfig{}, fmt.Errorf("--peer %q: want NAME=URL, e.g. --peer eu=https://eu.rpc.example.org", v)
	}
	p := PeerConfig{Name: strings.TrimSpace(name), URL: strings.TrimSpace(u)}
	if err := p.check(); err != nil {
		return PeerConfig{}, fmt.Errorf("--peer %q: %w", v, err)
	}
	return p, nil
}

// PeerFlags collects repeated --peer NAME=URL flags (a flag.Value), in the
// order given, which is the order of preference.
type PeerFlags []PeerConfig

func (f *PeerFlags) String() string {
	parts := make([]string, len(*f))
	for i, p := range *f {
		parts[i] = p.Name + "=" + p.URL
	}
	return strings.Join(parts, ",")
}

// Set parses one flag value.
func (f *PeerFlags) Set(v string) error {
	p, err := ParsePeerFlag(v)
	if err != nil {
		return err
	}
	*f = append(*f, p)
	return nil
}

// check reports a bad name or URL, each named by its key (name, url).
func (p PeerConfig) check() error {
	var errs []error
	if !peerName.MatchString(p.Name) {
		errs = append(errs, confkey.New("name", "%q may contain only letters, digits, - and _", p.Name))
	}
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		errs = append(errs, confkey.New("url", "%q must be an http(s) base URL like https://eu.rpc.example.org", p.URL))
	}
	return errors.Join(errs...)
}

// ValidatePeers checks the peers of region self; errors name the YAML key.
func ValidatePeers(self string, peers []PeerConfig) error {
	var errs []error
	seen := map[string]int{}
	for i, p := range peers {
		key := confkey.Index("peers", i)
		if err := p.check(); err != nil {
			errs = append(errs, confkey.In(key, err))
			continue
		}
		if p.Name == self {
			errs = append(errs, confkey.New(key+".name", "%q is this region (region: %s); peers are the other regions", p.Name, self))
		}
		if j, dup := seen[p.Name]; dup {
			errs = append(errs, confkey.New(key+".name", "%q is already peers[%d]", p.Name, j))
		}
		seen[p.Name] = i
	}
	return errors.Join(errs...)
}

// DefaultPeerPollInterval is how often each peer's /region.json is read
// when nothing else is set (peer_poll_interval).
const DefaultPeerPollInterval = 5 * time.Second

// PeerPollerConfig configures the peer poller.
type PeerPollerConfig struct {
	Self       string        // this region's name
	Peers      []PeerConfig  // in order of preference
	Interval   time.Duration // between polls of one peer; default 5 s
	Timeout    time.Duration // per poll; default 2 s
	StaleAfter time.Duration // an answer older than this does not count; default 2×Interval (one lost poll is tolerated)
	Client     *http.Client  // default: a client with Timeout
	Registry   prometheus.Registerer
	History    *History // optional: every poll's verdict is recorded per peer
	Logger     *slog.Logger
}

// PeerState is what the poller knows of one peer.
type PeerState struct {
	Name, URL  string
	Summary    RegionSummary // the last good answer; zero before the first
	HasSummary bool
	LastOK     time.Time     // when the last good answer arrived
	Age        time.Duration // since LastOK, when the state was taken
	LastPoll   time.Time
	LastError  string // why the last poll failed; "" when it succeeded
	// Healthy: the peer answered within StaleAfter and said it is ready.
	Healthy bool
}

type peerEntry struct {
	cfg        PeerConfig
	summary    RegionSummary
	hasSummary bool
	lastOK     time.Time
	lastPoll   time.Time
	lastError  string
}

// PeerPoller polls every peer's /region.json and answers, without locks,
// which peers are healthy. Forwarding asks FirstHealthy on the request
// path, so readers only load an immutable snapshot.
type PeerPoller struct {
	cfg    PeerPollerConfig
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	mu    sync.Mutex // serialises writers of snap
	snap  atomic.Pointer[[]peerEntry]
	up    *prometheus.GaugeVec
	tip   *prometheus.GaugeVec
	polls *prometheus.CounterVec
}

// NewPeerPoller checks the peers and registers the metrics
// icon_edge_peer_up{peer} and icon_edge_peer_tip_height{peer}.
func NewPeerPoller(c PeerPollerConfig) (*PeerPoller, error) {
	if err := ValidatePeers(c.Self, c.Peers); err != nil {
		return nil, err
	}
	if c.Interval <= 0 {
		c.Interval = DefaultPeerPollInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 2 * c.Interval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: c.Timeout}
	}
	p := &PeerPoller{cfg: c, client: client, log: c.Logger, now: time.Now,
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "icon_edge_peer_up",
			Help: "1 while the peer region answered /region.json recently and says it is ready; failover uses only such peers.",
		}, []string{"peer"}),
		tip: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "icon_edge_peer_tip_height",
			Help: "Chain tip the peer region reported in its last good /region.json.",
		}, []string{"peer"}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "icon_edge_peer_polls_total",
			Help: "Polls of peers' /region.json by result (ok, error).",
		}, []string{"peer", "result"}),
	}
	entries := make([]peerEntry, len(c.Peers))
	for i, pc := range c.Peers {
		pc.URL = strings.TrimRight(pc.URL, "/")
		entries[i] = peerEntry{cfg: pc}
		p.up.WithLabelValues(pc.Name).Set(0)
	}
	p.snap.Store(&entries)
	if c.Registry != nil {
		for _, col := range []prometheus.Collector{p.up, p.tip, p.polls} {
			if err := c.Registry.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// Start polls every peer each Interval until ctx ends.
func (p *PeerPoller) Start(ctx context.Context) {
	go func() {
		t := time.NewTicker(p.cfg.Interval)
		defer t.Stop()
		for {
			p.PollOnce(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// PollOnce polls every peer once, concurrently, and returns when all are
// done (each bounded by Timeout).
func (p *PeerPoller) PollOnce(ctx context.Context) {
	peers := *p.snap.Load()
	var wg sync.WaitGroup
	for i := range peers {
		wg.Add(1)
		go func(name, base string) {
			defer wg.Done()
			sum, err := p.fetch(ctx, base)
			if err == nil && sum.Name != name {
				err = fmt.Errorf("answered as region %q: check the peer's URL", sum.Name)
			}
			p.update(name, sum, err)
		}(peers[i].cfg.Name, peers[i].cfg.URL)
	}
	wg.Wait()
}

func (p *PeerPoller) fetch(ctx context.Context, base string) (RegionSummary, error) {
	var sum RegionSummary
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/region.json", nil)
	if err != nil {
		return sum, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return sum, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sum, fmt.Errorf("/region.json answered HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return sum, err
	}
	if err := json.Unmarshal(body, &sum); err != nil {
		return sum, fmt.Errorf("/region.json is not a region summary: %w", err)
	}
	if err := sum.Check(); err != nil {
		return sum, fmt.Errorf("/region.json is not sane: %w", err)
	}
	return sum, nil
}

// update publishes one poll's result as a new snapshot.
func (p *PeerPoller) update(name string, sum RegionSummary, err error) {
	now := p.now()
	p.mu.Lock()
	old := *p.snap.Load()
	next := append([]peerEntry(nil), old...)
	var e *peerEntry
	for i := range next {
		if next[i].cfg.Name == name {
			e = &next[i]
		}
	}
	e.lastPoll = now
	if err != nil {
		if e.lastError != err.Error() {
			p.log.Warn("peer region poll failed", "peer", name, "url", e.cfg.URL, "err", err)
		}
		e.lastError = err.Error()
		p.polls.WithLabelValues(name, "error").Inc()
	} else {
		if e.lastError != "" {
			p.log.Info("peer region answers again", "peer", name, "ready", sum.Ready)
		}
		e.summary, e.hasSummary, e.lastOK, e.lastError = sum, true, now, ""
		p.tip.WithLabelValues(name).Set(float64(sum.Tip))
		p.polls.WithLabelValues(name, "ok").Inc()
	}
	p.snap.Store(&next)
	healthy := p.healthy(e, now)
	p.mu.Unlock()
	v := 0.0
	if healthy {
		v = 1
	}
	p.up.WithLabelValues(name).Set(v)
	if p.cfg.History != nil {
		p.cfg.History.Record(name, now, healthy)
	}
}

func (p *PeerPoller) healthy(e *peerEntry, now time.Time) bool {
	return e.hasSummary && e.summary.Ready && now.Sub(e.lastOK) <= p.cfg.StaleAfter
}

func (p *PeerPoller) state(e *peerEntry, now time.Time) PeerState {
	s := PeerState{Name: e.cfg.Name, URL: e.cfg.URL, Summary: e.summary, HasSummary: e.hasSummary,
		LastOK: e.lastOK, LastPoll: e.lastPoll, LastError: e.lastError, Healthy: p.healthy(e, now)}
	if e.hasSummary {
		s.Age = now.Sub(e.lastOK)
	}
	return s
}

// Peers returns every peer in order of preference.
func (p *PeerPoller) Peers() []PeerState {
	now := p.now()
	entries := *p.snap.Load()
	out := make([]PeerState, len(entries))
	for i := range entries {
		out[i] = p.state(&entries[i], now)
	}
	return out
}

// FirstHealthy is the peer to fail over to: the first healthy one in order
// of preference. ok is false when no peer is healthy.
func (p *PeerPoller) FirstHealthy() (PeerState, bool) {
	now := p.now()
	entries := *p.snap.Load()
	for i := range entries {
		if p.healthy(&entries[i], now) {
			return p.state(&entries[i], now), true
		}
	}
	return PeerState{}, false
}

// Healthy reports one peer by name.
func (p *PeerPoller) Healthy(name string) bool {
	now := p.now()
	entries := *p.snap.Load()
	for i := range entries {
		if entries[i].cfg.Name == name {
			return p.healthy(&entries[i], now)
		}
	}
	return false
}
