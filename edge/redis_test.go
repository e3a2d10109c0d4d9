package edge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func loadYAML(t *testing.T, text string) (Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	if err := LoadFile(path, &cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func TestRedisSectionTakesDefaults(t *testing.T) {
	cfg, err := loadYAML(t, "upstreams: [http://127.0.0.1:1]\nredis:\n  url: rediss://user:pw@redis.internal:6380/0\n  key_prefix: \"icon-edge:eu:\"\n")
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Redis
	if r == nil || r.URL != "rediss://user:pw@redis.internal:6380/0" || r.KeyPrefix != "icon-edge:eu:" ||
		r.Timeout != 20*time.Millisecond || r.OnError != "local" || r.CacheTTL != 24*time.Hour || r.CacheMaxEntryBytes != 256<<10 {
		t.Fatalf("redis section: %+v", r)
	}
	if cfg.Hedge.Enabled {
		t.Fatal("hedging is on by default")
	}
	none, err := loadYAML(t, "upstreams: [http://127.0.0.1:1]\n")
	if err != nil || none.Redis != nil {
		t.Fatalf("no redis section: %+v %v", none.Redis, err)
	}
	h, err := loadYAML(t, "upstreams: [http://127.0.0.1:1]\nhedge:\n  enabled: true\n")
	if err != nil || h.Hedge != (Hedge{Enabled: true, Quantile: 0.95, MaxShare: 0.05}) {
		t.Fatalf("hedge section: %+v %v", h.Hedge, err)
	}
	if p := h.hedgePolicy(); !p.On() || p.Quantile != 0.95 {
		t.Fatalf("hedge policy %+v", p)
	}
}

func TestRedisURLFromEnvironment(t *testing.T) {
	cfg := Defaults()
	cfg.Upstreams = []string{"http://127.0.0.1:1"}
	ApplyEnv(&cfg, func(k string) string {
		if k == "ICON_EDGE_REDIS_URL" {
			return "redis://10.0.0.9:6379/2"
		}
		return ""
	})
	if cfg.Redis == nil || cfg.Redis.URL != "redis://10.0.0.9:6379/2" || cfg.Redis.OnError != "local" {
		t.Fatalf("env did not turn redis on: %+v", cfg.Redis)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRedisAndHedgeErrorsNameTheField(t *testing.T) {
	for _, c := range []struct{ yaml, field string }{
		{"redis:\n  url: http://x\n", "redis.url"},
		{"redis:\n  key_prefix: x\n", "redis.url"},
		{"redis:\n  url: redis://x:1\n  timeout: 0s\n", "redis.timeout"},
		{"redis:\n  url: redis://x:1\n  timeout: 1m\n", "redis.timeout"},
		{"redis:\n  url: redis://x:1\n  on_error: open\n", "redis.on_error"},
		{"redis:\n  url: redis://x:1\n  on_eror: deny\n", "on_eror"},
		{"redis:\n  url: redis://x:1\n  cache_max_entry_bytes: -1\n", "redis.cache_max_entry_bytes"},
		{"hedge:\n  enabled: true\n  quantile: 1.5\n", "hedge.quantile"},
		{"hedge:\n  enabled: true\n  quantile: 0\n", "hedge.delay"},
		{"hedge:\n  enabled: true\n  max_share: 0\n", "hedge.max_share"},
		{"hedge:\n  enabled: true\n  delay: -1ms\n", "hedge.delay"},
		{"hedge:\n  enable: true\n", "enable"},
	} {
		_, err := loadYAML(t, "upstreams: [http://127.0.0.1:1]\n"+c.yaml)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%q: error %v does not name %q", c.yaml, err, c.field)
		}
	}
}

func TestRedisNeedsARestartHedgingReloads(t *testing.T) {
	for _, k := range []string{"redis", "redis.url", "redis.on_error"} {
		if !needsRestart(k) {
			t.Errorf("%s reloads live, but the Redis connection is made once", k)
		}
	}
	for _, k := range []string{"hedge.enabled", "hedge.quantile"} {
		if needsRestart(k) {
			t.Errorf("%s needs a restart; the request path's policies reload live", k)
		}
	}
}
