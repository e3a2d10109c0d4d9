// Package cache keeps answers to ICON JSON-RPC reads that cannot change
// (blocks, transactions and pinned state at or below the final height) and
// short-lived "head" answers that are valid only until the edge sees a new
// tip, bounded by bytes; and it coalesces identical in-flight reads.
//
// The cache stores only the raw JSON of a successful answer's "result"
// member: the caller writes each client's own id around it
// (icon.AppendResponseResult), so a cached answer never leaks another
// client's id. Errors are never stored.
package cache

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fastjson"
	"golang.org/x/sync/singleflight"
)

// Config sizes the cache. Zero values take the defaults.
type Config struct {
	// MaxBytes bounds keys, answers and per-entry bookkeeping together.
	MaxBytes int64 `yaml:"max_bytes"` // default DefaultMaxBytes
	// FinalityDepth: heights at or below tip-FinalityDepth are final. nil
	// takes DefaultFinalityDepth; 0 is a real setting (the tip is final, as
	// on a chain with instant finality).
	FinalityDepth *int64 `yaml:"finality_depth"`
	// Shards splits the cache to cut lock contention (power of two, default
	// up to 16 so that each shard has at least 1 MiB).
	Shards int `yaml:"shards"`
}

const (
	DefaultMaxBytes      = 256 << 20
	DefaultFinalityDepth = 1
	// entryOverhead is what an entry costs beyond its key and answer: the
	// LRU list element, the map slot and allocation rounding. Measured in
	// TestMemoryBoundedByBytes; a low figure would let the heap outgrow
	// MaxBytes with many small entries.
	entryOverhead = 200
)

// Cache is safe for concurrent use.
type Cache struct {
	depth    int64
	seed     maphash.Seed
	shards   []shard
	mask     uint64
	maxEntry int64

	flights singleflight.Group
	parsers fastjson.ParserPool
	// shared is the second level (shared.go); nil: this cache alone.
	shared Shared

	hitFinal, hitHead, hitShared, misses, evictions, coalesced prometheus.Counter
	m                                                          *Metrics
}

type shard struct {
	mu       sync.Mutex
	lru      *simplelru.LRU[uint64, entry]
	maxBytes int64
	bytes    atomic.Int64 // written under mu; atomic so metrics can read it
	entries  atomic.Int64
	_        [64]byte // keep shards' locks on separate cache lines
}

// entry holds key and answer in one allocation; the full key is kept to
// tell apart two keys whose 64-bit hashes collide.
type entry struct {
	buf  []byte
	klen int32
	kind Kind
	tip  int64
}

func (e *entry) key() []byte    { return e.buf[:e.klen] }
func (e *entry) result() []byte { return e.buf[e.klen:] }
func (e *entry) cost() int64    { return int64(cap(e.buf)) + entryOverhead }

// New builds a cache and registers its metrics on reg (nil: not registered).
func New(cfg Config, reg prometheus.Registerer) (*Cache, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	m, err := NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	return build(cfg, m), nil
}

// NewWithMetrics is New reporting into m, whose size gauges then follow the
// new cache: a reload that changes the cache's settings builds its
// replacement this way.
func NewWithMetrics(cfg Config, m *Metrics) (*Cache, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	return build(cfg, m), nil
}

// Close detaches c from its metrics (a reload replaced it or turned the
// cache off); requests still holding c keep working.
func (c *Cache) Close() { c.m.current.CompareAndSwap(c, nil) }

// fill checks cfg and fills the fields left zero.
func (cfg *Config) fill() error {
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxBytes < 64<<10 {
		return fmt.Errorf("cache: MaxBytes %d is below the 64 KiB minimum", cfg.MaxBytes)
	}
	depth := int64(DefaultFinalityDepth)
	if cfg.FinalityDepth != nil {
		depth = *cfg.FinalityDepth
	}
	if depth < 0 {
		return fmt.Errorf("cache: FinalityDepth %d is negative", depth)
	}
	cfg.FinalityDepth = &depth
	if cfg.Shards == 0 {
		cfg.Shards = 16
		for cfg.Shards > 1 && cfg.MaxBytes/int64(cfg.Shards) < 1<<20 {
			cfg.Shards /= 2
		}
	}
	if cfg.Shards < 1 || cfg.Shards&(cfg.Shards-1) != 0 || cfg.Shards > 1024 {
		return fmt.Errorf("cache: Shards %d is not a power of two in [1, 1024]", cfg.Shards)
	}
	return nil
}

func build(cfg Config, m *Metrics) *Cache {
	c := &Cache{
		depth:    *cfg.FinalityDepth,
		seed:     maphash.MakeSeed(),
		shards:   make([]shard, cfg.Shards),
		mask:     uint64(cfg.Shards - 1),
		m:        m,
		hitFinal: m.hitFinal, hitHead: m.hitHead, hitShared: m.hitShared, misses: m.misses, evictions: m.evictions, coalesced: m.coalesced,
	}
	per := cfg.MaxBytes / int64(cfg.Shards)
	// One huge answer must not flush a whole shard.
	c.maxEntry = per / 4
	for i := range c.shards {
		// Size is bounded by bytes below, never by count.
		l, _ := simplelru.NewLRU[uint64, entry](math.MaxInt32, nil) // errs only for size <= 0
		c.shards[i].lru = l
		c.shards[i].maxBytes = per
	}
	m.current.Store(c)
	return c
}

// Metrics are the cache's Prometheus series, registered once. A cache
// rebuilt by a configuration reload reports into the same ones
// (NewWithMetrics), so counts continue; the size gauges follow the newest cache.
type Metrics struct {
	hitFinal, hitHead, hitShared, misses, evictions, coalesced prometheus.Counter
	current                                                    atomic.Pointer[Cache]
}

// NewMetrics makes the cache metrics and registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{}
	hits := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "icon_edge_cache_hits_total", Help: "Answers served from the cache, by entry kind (final, head, or shared: a final answer from the region's Redis).",
	}, []string{"kind"})
	m.hitFinal = hits.WithLabelValues("final")
	m.hitHead = hits.WithLabelValues("head")
	m.hitShared = hits.WithLabelValues("shared")
	m.misses = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "icon_edge_cache_misses_total", Help: "Cache lookups that found no valid entry (absent, or a head entry from an older tip).",
	})
	m.evictions = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "icon_edge_cache_evictions_total", Help: "Entries dropped to stay under the byte bound.",
	})
	m.coalesced = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "icon_edge_coalesced_total", Help: "Reads answered by joining an identical in-flight upstream call.",
	})
	bytesG := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "icon_edge_cache_bytes", Help: "Bytes charged to cache entries (keys, answers and bookkeeping).",
	}, func() float64 {
		if c := m.current.Load(); c != nil {
			return float64(c.Bytes())
		}
		return 0
	})
	entriesG := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "icon_edge_cache_entries", Help: "Entries in the cache.",
	}, func() float64 {
		if c := m.current.Load(); c != nil {
			return float64(c.Len())
		}
		return 0
	})
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{hits, m.misses, m.evictions, m.coalesced, bytesG, entriesG} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("cache: registering metrics: %w", err)
		}
	}
	return m, nil
}

// Bytes is the total charged to entries; it never exceeds MaxBytes.
func (c *Cache) Bytes() int64 {
	var n int64
	for i := range c.shards {
		n += c.shards[i].bytes.Load()
	}
	return n
}

// Len is the number of entries.
func (c *Cache) Len() int {
	var n int64
	for i := range c.shards {
		n += c.shards[i].entries.Load()
	}
	return int(n)
}

func (c *Cache) locate(key []byte) (uint64, *shard) {
	h := maphash.Bytes(c.seed, key)
	// The shard takes the top bits; the map inside hashes h again.
	return h, &c.shards[(h>>48)&c.mask]
}

// Get returns the cached result for key, valid at tip: a Final entry always,
// a Head entry only if it was filled at this same tip. The returned slice is
// shared and must not be modified.
func (c *Cache) Get(key []byte, tip int64) (result []byte, ok bool) {
	result, kind, ok := c.lookup(key, tip)
	switch {
	case !ok:
		c.misses.Inc()
	case kind == Head:
		c.hitHead.Inc()
	default:
		c.hitFinal.Inc()
	}
	return result, ok
}

func (c *Cache) lookup(key []byte, tip int64) ([]byte, Kind, bool) {
	h, s := c.locate(key)
	s.mu.Lock()
	e, ok := s.lru.Get(h)
	if !ok || !bytes.Equal(e.key(), key) {
		s.mu.Unlock()
		return nil, NoCache, false
	}
	if e.kind == Head && e.tip != tip {
		// Stale for good: tips only move on. Free its bytes now.
		s.remove(h, e)
		s.mu.Unlock()
		return nil, NoCache, false
	}
	s.mu.Unlock()
	return e.result(), e.kind, true
}

// Put stores a successful answer's raw "result" JSON for key, if method's
// kind (from Classify, at the same tip) and the answer itself allow it; it
// reports whether it stored. Call it only for answers without an "error".
// result is copied.
func (c *Cache) Put(key []byte, method string, kind Kind, tip int64, result []byte) bool {
	return c.put(key, method, kind, tip, result, true)
}

// put stores locally and, when share is set and the entry is final, in the
// second level.
func (c *Cache) put(key []byte, method string, kind Kind, tip int64, result []byte, share bool) bool {
	if kind == NoCache {
		return false
	}
	var p *fastjson.Parser
	if kind != Final {
		p = c.parsers.Get()
	}
	kind, ok := storable(method, kind, tip, c.depth, result, p)
	if p != nil {
		c.parsers.Put(p)
	}
	if !ok {
		return false
	}
	size := len(key) + len(result)
	if int64(size)+entryOverhead > c.maxEntry || len(key) > math.MaxInt32 {
		return false
	}
	buf := make([]byte, size)
	copy(buf, key)
	copy(buf[len(key):], result)
	e := entry{buf: buf, klen: int32(len(key)), kind: kind, tip: tip}

	h, s := c.locate(key)
	s.mu.Lock()
	if old, ok := s.lru.Peek(h); ok {
		s.remove(h, old)
	}
	s.lru.Add(h, e)
	s.bytes.Add(e.cost())
	s.entries.Add(1)
	var evicted int
	for s.bytes.Load() > s.maxBytes {
		oh, old, ok := s.lru.GetOldest()
		if !ok {
			break
		}
		s.remove(oh, old)
		evicted++
	}
	s.mu.Unlock()
	if evicted > 0 {
		c.evictions.Add(float64(evicted))
	}
	if share && kind == Final && c.shared != nil {
		c.shared.PutAnswer(key, result)
	}
	return true
}

// remove must be called with s.mu held.
func (s *shard) remove(h uint64, e entry) {
	s.lru.Remove(h)
	s.bytes.Add(-e.cost())
	s.entries.Add(-1)
}

var errNilFn = errors.New("cache: nil function")
