package ratelimit

import (
	"fmt"
	"hash/maphash"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Rejection reasons, also the "reason" label of
// icon_edge_ratelimit_rejections_total.
const (
	ReasonRate   = "rate"   // over the client's budget: HTTP 429 + Retry-After
	ReasonDenied = "denied" // address on the deny list: HTTP 403
	ReasonMethod = "method" // method not allowed for the tier: HTTP 403
	ReasonKey    = "key"    // API key not configured: HTTP 401
	// ReasonUnavailable: the shared budget store (Redis) cannot decide and
	// on_error is deny: HTTP 503 + Retry-After (shared.go).
	ReasonUnavailable = "unavailable"
)

var reasons = [...]string{ReasonRate, ReasonDenied, ReasonMethod, ReasonKey, ReasonUnavailable}

// Indexes into reasons.
const (
	rRate = iota
	rDenied
	rMethod
	rKey
	rUnavailable
)

// Decision is the answer to Admit. RetryAfter is set for ReasonRate.
type Decision struct {
	OK         bool
	Reason     string
	RetryAfter time.Duration
	// Cost and Burst are set when a request costs more than the whole
	// bucket holds (a large batch): waiting cannot help, splitting can.
	Cost, Burst int
}

// OverBurst reports a refusal that no wait can cure: the request costs more
// tokens than the client's bucket holds.
func (d Decision) OverBurst() bool { return d.Cost > d.Burst }

// HTTPStatus is the status to answer a refused request with (200 if OK).
func (d Decision) HTTPStatus() int {
	switch d.Reason {
	case "":
		return 200
	case ReasonRate:
		return 429
	case ReasonKey:
		return 401
	case ReasonUnavailable:
		return 503
	}
	return 403
}

// RetryAfterSeconds is the Retry-After header value: whole seconds, at least 1.
func (d Decision) RetryAfterSeconds() int {
	s := int(math.Ceil(d.RetryAfter.Seconds()))
	return max(s, 1)
}

type status uint8

const (
	statusOK status = iota
	statusExempt
	statusDenied
	statusBadKey
)

// Client is who a request is charged to, from Identify.
type Client struct {
	// Addr is the client address, IPv6 reduced to its prefix.
	Addr netip.Addr
	// KeyID names the API key (empty without one); safe to log.
	KeyID  string
	tier   *tier
	status status
}

// Tier is the client's tier name, for logs.
func (c Client) Tier() string {
	if c.tier == nil {
		return AnonymousTier
	}
	return c.tier.name
}

type tier struct {
	name              string
	unlimited         bool
	rps, writeRPS     rate.Limit
	burst, writeBurst int
	exact             map[string]struct{}
	prefixes          []string
	all               bool
	rejected          [len(reasons)]prometheus.Counter
}

func newTier(name string, t Tier, rej *prometheus.CounterVec) *tier {
	tr := &tier{
		name: name, unlimited: t.Unlimited,
		rps: rate.Limit(t.RequestsPerSecond), burst: t.Burst,
		writeRPS: rate.Limit(t.WriteRequestsPerSecond), writeBurst: t.WriteBurst,
		exact: map[string]struct{}{},
	}
	for _, g := range t.AllowedMethods {
		switch {
		case g == "*":
			tr.all = true
		case strings.HasSuffix(g, "*"):
			tr.prefixes = append(tr.prefixes, strings.TrimSuffix(g, "*"))
		default:
			tr.exact[g] = struct{}{}
		}
	}
	for i, r := range reasons {
		tr.rejected[i] = rej.WithLabelValues(r, name)
	}
	return tr
}

func (t *tier) allows(method string) bool {
	if t.all {
		return true
	}
	if _, ok := t.exact[method]; ok {
		return true
	}
	for _, p := range t.prefixes {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}

type apiKey struct {
	id   string
	tier *tier
}

// Limiter is safe for concurrent use.
type Limiter struct {
	enabled bool
	cost    map[string]int
	trusted []netip.Prefix
	allow   []netip.Prefix
	deny    []netip.Prefix
	headers []string
	v6bits  int
	keys    map[string]apiKey
	anon    *tier
	badKey  *tier
	tiers   map[string]*tier
	keyHdr  string
	seed    maphash.Seed
	shards  []clientShard
	now     func() time.Time
	m       *Metrics
	// shared enforces budgets across replicas (shared.go); nil: this
	// replica's buckets alone.
	shared      Shared
	sharedLocal bool // on a shared-store error, fall back to this replica's buckets
}

type clientKey struct {
	addr netip.Addr
	key  string
}

type buckets struct {
	read  *rate.Limiter
	write *rate.Limiter // created on the client's first write
	// shared is set with a shared store (shared.go).
	shared *sharedBuckets
}

type clientShard struct {
	mu  sync.Mutex
	lru *simplelru.LRU[clientKey, *buckets]
	n   atomic.Int64
	_   [64]byte
}

const clientShards = 16

// Metrics are a limiter's Prometheus series, registered once. A limiter
// rebuilt by a configuration reload reports into the same ones
// (NewWithMetrics), so counts continue; the tracked-clients gauge follows the
// newest limiter.
type Metrics struct {
	rejected *prometheus.CounterVec
	current  atomic.Pointer[Limiter]
}

// NewMetrics makes the limiter metrics and registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "icon_edge_ratelimit_rejections_total", Help: "Requests refused before any upstream work, by reason (rate, denied, method, key) and client tier.",
	}, []string{"reason", "tier"})}
	tracked := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "icon_edge_ratelimit_tracked_clients", Help: "Clients (IPs, IPv6 prefixes or API keys) with a tracked bucket; bounded by max_clients.",
	}, func() float64 {
		if l := m.current.Load(); l != nil {
			return float64(l.TrackedClients())
		}
		return 0
	})
	if reg != nil {
		for _, c := range []prometheus.Collector{m.rejected, tracked} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("ratelimit: registering metrics: %w", err)
			}
		}
	}
	return m, nil
}

// New validates cfg (zero fields take DefaultConfig's values) and builds a
// Limiter; metrics go to reg (nil: not registered).
func New(cfg Config, reg prometheus.Registerer) (*Limiter, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	m, err := NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	return build(cfg, m), nil
}

// NewWithMetrics is New reporting into m, which then follows the new
// limiter: a reload builds the replacement of a running limiter this way.
func NewWithMetrics(cfg Config, m *Metrics) (*Limiter, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	return build(cfg, m), nil
}

// Close detaches l from its metrics (a reload replaced it or turned limits
// off); requests still holding l keep working.
func (l *Limiter) Close() { l.m.current.CompareAndSwap(l, nil) }

// build makes a Limiter from a configuration Validate accepted.
func build(cfg Config, m *Metrics) *Limiter {
	l := &Limiter{
		enabled: cfg.Enabled,
		cost:    cfg.costs(),
		headers: slices.Clone(cfg.ProxyHeaders),
		keys:    map[string]apiKey{},
		tiers:   map[string]*tier{},
		keyHdr:  cfg.APIKeyHeader,
		seed:    maphash.MakeSeed(),
		now:     time.Now,
		v6bits:  cfg.IPv6PrefixLen,
		m:       m,
	}
	l.trusted, _ = parsePrefixes("trusted_proxies", cfg.TrustedProxies)
	l.allow, _ = parsePrefixes("allow", cfg.Allow)
	l.deny, _ = parsePrefixes("deny", cfg.Deny)
	all := map[string]Tier{AnonymousTier: {
		RequestsPerSecond: cfg.RequestsPerSecond, Burst: cfg.Burst,
		WriteRequestsPerSecond: cfg.WriteRequestsPerSecond, WriteBurst: cfg.WriteBurst,
		AllowedMethods: cfg.AllowedMethods,
	}}
	for name, t := range cfg.Tiers {
		if t.AllowedMethods == nil {
			t.AllowedMethods = DefaultAllowedMethods
		}
		all[name] = t
	}
	for name, t := range all {
		l.tiers[name] = newTier(name, t, m.rejected)
	}
	l.anon = l.tiers[AnonymousTier]
	l.badKey = newTier(unknownKeyTier, Tier{}, m.rejected)
	for _, k := range cfg.Keys {
		l.keys[k.Key] = apiKey{id: k.ID, tier: l.tiers[k.Tier]}
	}
	l.shards = make([]clientShard, clientShards)
	per := (cfg.MaxClients + clientShards - 1) / clientShards
	// Keep the total at or under MaxClients.
	per = max(per-boolInt(per*clientShards > cfg.MaxClients), 1)
	for i := range l.shards {
		lru, _ := simplelru.NewLRU[clientKey, *buckets](per, nil) // errs only for size <= 0
		l.shards[i].lru = lru
	}
	m.current.Store(l)
	return l
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// APIKeyHeader is the configured header name to read a key from.
func (l *Limiter) APIKeyHeader() string { return l.keyHdr }

// KeysEnabled reports whether any API key is configured.
func (l *Limiter) KeysEnabled() bool { return len(l.keys) > 0 }

// TrackedClients is the number of clients with a bucket.
func (l *Limiter) TrackedClients() int {
	var n int64
	for i := range l.shards {
		n += l.shards[i].n.Load()
	}
	return int(n)
}

// Identify says who a request from ip (from ClientIP), presenting apiKey
// (nil or empty: none), is charged to. An unknown key is refused by Admit
// rather than downgraded, so a typo does not silently cut a paying
// client's limits. apiKey is ignored when no keys are configured.
func (l *Limiter) Identify(ip netip.Addr, apiKey []byte) Client {
	ip = ip.Unmap()
	c := Client{Addr: ip, tier: l.anon}
	if ip.Is6() && l.v6bits < 128 {
		if p, err := ip.Prefix(l.v6bits); err == nil {
			c.Addr = p.Addr()
		}
	}
	if len(apiKey) > 0 && len(l.keys) > 0 {
		k, ok := l.keys[string(apiKey)]
		if !ok {
			c.tier, c.status = l.badKey, statusBadKey
			return c
		}
		c.tier, c.KeyID = k.tier, k.id
	}
	switch {
	case contains(l.allow, ip):
		c.status = statusExempt
	case contains(l.deny, ip):
		c.status = statusDenied
	}
	return c
}

func contains(list []netip.Prefix, ip netip.Addr) bool {
	for _, p := range list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Cost is the number of tokens method takes from its budget (the method
// table's cost unless method_cost overrides it). Charging a single call caps it at the
// tier's burst: a method dearer than the whole bucket empties it rather than
// becoming impossible to call.
func (l *Limiter) Cost(method string) int {
	if c, ok := l.cost[method]; ok {
		return c
	}
	return 1
}

// MethodAllowed reports whether c's tier may call method.
func (l *Limiter) MethodAllowed(c Client, method string) bool {
	if c.tier == nil {
		c.tier = l.anon
	}
	return c.tier.allows(method)
}

// Admit decides one request: access (deny list, key, method allowlist),
// then the client's budget: Cost(method) tokens from the read budget, or
// from the write budget when write is set (the caller knows which methods write).
func (l *Limiter) Admit(c Client, method string, write bool) Decision {
	if c.tier == nil {
		c.tier = l.anon // a zero Client is an anonymous one
	}
	if d, done := l.access(c); done {
		return d
	}
	if !c.tier.allows(method) {
		return l.reject(c, rMethod)
	}
	return l.take(c, l.Cost(method), write, true)
}

// AdmitN charges n tokens at once (a batch: the sum of its items' Cost)
// after the same access checks as Admit, except the method allowlist, which
// the caller checks per item with MethodAllowed. A request costing more than
// the bucket's burst is refused (Decision.OverBurst): batching must not buy
// more than the budget.
func (l *Limiter) AdmitN(c Client, n int, write bool) Decision {
	if c.tier == nil {
		c.tier = l.anon
	}
	if d, done := l.access(c); done {
		return d
	}
	return l.take(c, max(n, 1), write, false)
}

func (l *Limiter) access(c Client) (Decision, bool) {
	switch c.status {
	case statusDenied:
		return l.reject(c, rDenied), true
	case statusBadKey:
		return l.reject(c, rKey), true
	}
	return Decision{}, false
}

func (l *Limiter) reject(c Client, reason int) Decision {
	c.tier.rejected[reason].Inc()
	return Decision{Reason: reasons[reason]}
}

// take charges n tokens. capped: a single call dearer than the whole bucket
// empties it rather than becoming impossible to call.
func (l *Limiter) take(c Client, n int, write, capped bool) Decision {
	t := c.tier
	if !l.enabled || t.unlimited || c.status == statusExempt {
		return Decision{OK: true}
	}
	b, lim := l.bucket(c, write)
	burst := t.burst
	if write {
		burst = t.writeBurst
	}
	if n > burst {
		if !capped {
			d := l.reject(c, rRate)
			d.Cost, d.Burst = n, burst
			return d
		}
		n = burst
	}
	if l.shared != nil {
		return l.takeShared(c, b, n, write, burst)
	}
	return l.takeLocal(c, lim, n)
}

// takeLocal charges n tokens from this replica's own bucket.
func (l *Limiter) takeLocal(c Client, lim *rate.Limiter, n int) Decision {
	now := l.now()
	if lim.AllowN(now, n) {
		return Decision{OK: true}
	}
	d := l.reject(c, rRate)
	missing := float64(n) - lim.TokensAt(now)
	d.RetryAfter = time.Duration(missing / float64(lim.Limit()) * float64(time.Second))
	return d
}

func (l *Limiter) bucket(c Client, write bool) (*buckets, *rate.Limiter) {
	k := clientKey{addr: c.Addr, key: c.KeyID}
	if c.KeyID != "" {
		// One budget per key, wherever it is used from.
		k.addr = netip.Addr{}
	}
	s := &l.shards[maphash.Comparable(l.seed, k)%clientShards]
	s.mu.Lock()
	b, ok := s.lru.Get(k)
	if !ok {
		b = &buckets{read: rate.NewLimiter(c.tier.rps, c.tier.burst)}
		if l.shared != nil {
			b.shared = &sharedBuckets{keys: sharedKeys(k)}
		}
		if !s.lru.Add(k, b) {
			s.n.Add(1)
		}
	}
	lim := b.read
	if write {
		if b.write == nil {
			b.write = rate.NewLimiter(c.tier.writeRPS, c.tier.writeBurst)
		}
		lim = b.write
	}
	s.mu.Unlock()
	return b, lim
}
