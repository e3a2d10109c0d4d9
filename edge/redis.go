package edge

import (
	"fmt"
	"strings"
	"time"

	"github.com/icon-edge/icon-edge/redisstate"
	"github.com/icon-edge/icon-edge/upstream"
)

// The settings for a region of several replicas (docs/redis.md): Redis to
// share limits, final answers and node verdicts, and hedged reads. They are
// kept here, apart from config.go, and validated by validateShared.

// Redis shares state among a region's replicas. Absent: each replica keeps
// its own, and no Redis is ever contacted.
type Redis struct {
	// URL: redis://host:6379/0, rediss:// for TLS; ICON_EDGE_REDIS_URL
	// overrides it (and turns Redis on with the defaults below when the file
	// has no redis section).
	URL string `yaml:"url"`
	// KeyPrefix starts every key and channel, e.g. "icon-edge:eu:": one
	// prefix per region and chain sharing a Redis.
	KeyPrefix string `yaml:"key_prefix"`
	// Timeout bounds each operation on the request path.
	Timeout time.Duration `yaml:"timeout"`
	// OnError: what a client gets when Redis is down or slower than timeout:
	// "local" (this replica's own limits and cache; nothing fails) or "deny"
	// (rate-limited calls are refused with 503 until Redis answers).
	OnError string `yaml:"on_error"`
	// CacheTTL bounds how long a shared final answer lives in Redis;
	// CacheMaxEntryBytes bounds what one answer may take there.
	CacheTTL           time.Duration `yaml:"cache_ttl"`
	CacheMaxEntryBytes int           `yaml:"cache_max_entry_bytes"`
}

// RedisDefaults is the redis section's defaults.
func RedisDefaults() Redis {
	return Redis{KeyPrefix: "icon-edge:", Timeout: 20 * time.Millisecond, OnError: "local",
		CacheTTL: 24 * time.Hour, CacheMaxEntryBytes: 256 << 10}
}

// Hedge sends a read that is slower than most to a second node as well, and
// answers with whichever returns first. Writes and wait methods never.
type Hedge struct {
	Enabled bool `yaml:"enabled"`
	// Delay is the fixed hedge delay; with quantile set, the least delay.
	Delay time.Duration `yaml:"delay"`
	// Quantile: hedge once a read has been out longer than this quantile of
	// its method's recent latencies (0: the fixed delay alone).
	Quantile float64 `yaml:"quantile"`
	// MaxShare caps hedges at this share of reads.
	MaxShare float64 `yaml:"max_share"`
}

// HedgeDefaults is the hedge section's defaults (off; the rest applies once enabled).
func HedgeDefaults() Hedge { return Hedge{Quantile: 0.95, MaxShare: 0.05} }

func applyRedisEnv(c *Config, getenv func(string) string) {
	if v := getenv("ICON_EDGE_REDIS_URL"); v != "" {
		if c.Redis == nil {
			d := RedisDefaults()
			c.Redis = &d
		}
		c.Redis.URL = v
	}
}

// validateShared checks the redis and hedge sections.
func (c *Config) validateShared() error {
	var cs checks
	if r := c.Redis; r != nil {
		if err := redisstate.ParseURL(r.URL); err != nil {
			cs.bad("redis.url", "must be a URL like redis://10.0.2.7:6379/0 or rediss://… (or set ICON_EDGE_REDIS_URL): %v", err)
		}
		if r.KeyPrefix == "" || strings.IndexFunc(r.KeyPrefix, func(c rune) bool { return c <= ' ' || c == 0x7f }) >= 0 {
			cs.bad("redis.key_prefix", "must be non-empty, without spaces or control characters, like \"icon-edge:eu:\", got %q", r.KeyPrefix)
		}
		if r.Timeout <= 0 || r.Timeout > 5*time.Second {
			cs.bad("redis.timeout", "must be a positive duration up to 5s, like 20ms (a request may wait this long), got %v", r.Timeout)
		}
		if r.OnError != "local" && r.OnError != "deny" {
			cs.bad("redis.on_error", "must be local (fall back to this replica's state) or deny (refuse with 503), got %q", r.OnError)
		}
		cs.positive("redis.cache_ttl", r.CacheTTL)
		cs.atLeast("redis.cache_max_entry_bytes", int64(r.CacheMaxEntryBytes), 1)
	}
	if h := c.Hedge; h.Enabled {
		if h.Delay < 0 {
			cs.bad("hedge.delay", "must not be negative, got %v", h.Delay)
		}
		if !(h.Quantile >= 0 && h.Quantile < 1) {
			cs.bad("hedge.quantile", "must be in [0, 1), e.g. 0.95 (0: the fixed delay alone), got %v", h.Quantile)
		}
		if h.Quantile == 0 && h.Delay == 0 {
			cs.bad("hedge.delay", "or hedge.quantile must be set to hedge")
		}
		if !(h.MaxShare > 0 && h.MaxShare <= 1) {
			cs.bad("hedge.max_share", "must be in (0, 1], e.g. 0.05, got %v", h.MaxShare)
		}
	}
	return cs.err()
}

// hedgePolicy is the request path's hedging rule (zero: off).
func (c *Config) hedgePolicy() upstream.HedgePolicy {
	if !c.Hedge.Enabled {
		return upstream.HedgePolicy{}
	}
	return upstream.HedgePolicy{Delay: c.Hedge.Delay, Quantile: c.Hedge.Quantile, MaxShare: c.Hedge.MaxShare}
}

// openRedis connects to the region's Redis when configured (nil otherwise).
// The connection is made in the background: an unreachable Redis does not
// keep the edge from starting.
func (e *Edge) openRedis() (*redisstate.Client, error) {
	r := e.cfg.Redis
	if r == nil {
		return nil, nil
	}
	rc, err := redisstate.Open(redisstate.Config{URL: r.URL, KeyPrefix: r.KeyPrefix, Timeout: r.Timeout,
		OnError: r.OnError, CacheTTL: r.CacheTTL, CacheMaxEntryBytes: r.CacheMaxEntryBytes}, e.registry, e.log)
	if err != nil {
		return nil, fmt.Errorf("config: redis: %w", err)
	}
	return rc, nil
}
