// Package edge wires the icon-edge process: configuration (YAML file, flags,
// ICON_EDGE_* environment), the upstream pool, the request path, metrics,
// reload on SIGHUP and graceful drain.
package edge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/icon-edge/icon-edge/accesslog"
	"github.com/icon-edge/icon-edge/cache"
	"github.com/icon-edge/icon-edge/capture"
	"github.com/icon-edge/icon-edge/internal/procs"
	"github.com/icon-edge/icon-edge/proxy"
	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/routing"
	"github.com/icon-edge/icon-edge/routing/cloudflare"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/icon-edge/icon-edge/wsbridge"
	"gopkg.in/yaml.v3"
)

// Config is the whole edge configuration. YAML keys are the documented names.
type Config struct {
	Listen      string `yaml:"listen"`
	AdminListen string `yaml:"admin_listen"` // set: /metrics and /status.json only here
	Region      string `yaml:"region"`
	LogFormat   string `yaml:"log_format"` // auto | json | text
	LogLevel    string `yaml:"log_level"`  // debug | info | warn | error
	// Procs is how many processors run the edge's goroutines: adaptive
	// (follow the load, internal/procs), all, or a number. GOMAXPROCS in
	// the environment wins.
	Procs           string   `yaml:"procs"`
	Upstreams       []string `yaml:"upstreams"`
	Channel         string   `yaml:"channel"` // probes use /api/v3/{channel} when set
	DebugAPI        bool     `yaml:"debug_api"`
	DisabledMethods []string `yaml:"disabled_methods"`
	Health          Health   `yaml:"health"`
	Limits          Limits   `yaml:"limits"`
	Shutdown        Shutdown `yaml:"shutdown"`
	Cache           Cache    `yaml:"cache"`
	// RateLimit turns on per-client limits and access control when present.
	RateLimit *ratelimit.Config `yaml:"ratelimit"`
	// AccessLog ships one document per call to Elasticsearch and/or a file.
	AccessLog accesslog.Config `yaml:"access_log"`
	WebSocket WebSocket        `yaml:"websocket"`
	// Capture records a sample of requests for icon-loadtest replay; off
	// unless a path is set.
	Capture Capture `yaml:"capture"`
	// Upstream tunes node connections: pipelining, micro-batching (upstreamcfg.go).
	Upstream UpstreamTuning `yaml:"upstream"`
	// PublicURL is this region's own public URL, shown to peers and people.
	PublicURL string `yaml:"public_url"`
	// Peers are the other regions' edges, in order of preference (first =
	// nearest): polled for health, and where requests go that no local
	// node can serve.
	Peers []routing.PeerConfig `yaml:"peers"`
	// PeerPollInterval is how often each peer's /region.json is read.
	PeerPollInterval time.Duration `yaml:"peer_poll_interval"`
	// Readiness is /readyz with hysteresis (min_synced_nodes, flip_after).
	Readiness routing.VerdictConfig `yaml:"readiness"`
	// Cloudflare declares the geo load balancer (icon-edge cloudflare
	// plan|apply|drain|undrain); the edge itself needs it only for
	// CloudflarePoolHealth.
	Cloudflare *cloudflare.Config `yaml:"cloudflare"`
	// CloudflarePoolHealth: read this region's pool health from Cloudflare's
	// API (once a minute, CLOUDFLARE_API_TOKEN) into metrics.
	CloudflarePoolHealth bool `yaml:"cloudflare_pool_health"`

	// A region of several replicas (redis.go): shared state through Redis
	// (nil: none), hedged reads.
	Redis *Redis `yaml:"redis"`
	Hedge Hedge  `yaml:"hedge"`
}

// regionName is this region's name in /region.json and the status page.
func (c *Config) regionName() string {
	if c.Region == "" {
		return "local"
	}
	return c.Region
}

// Capture configures request capture (timestamp, path, body; never client addresses).
type Capture struct {
	Path       string  `yaml:"path"`
	Gzip       bool    `yaml:"gzip"`
	SampleRate float64 `yaml:"sample_rate"`
	MaxBytes   int64   `yaml:"max_bytes"`
	MaxFiles   int     `yaml:"max_files"`
	BufferSize int     `yaml:"buffer_size"`
}

// WebSocket configures the bridge for /api/v3/{channel}/block and /event
// (docs/wsbridge.md).
type WebSocket struct {
	Enabled                 bool          `yaml:"enabled"`
	MaxConnections          int           `yaml:"max_connections"`
	MaxConnsPerIP           int           `yaml:"max_conns_per_ip"`
	MaxMessageSize          int64         `yaml:"max_message_size"`
	MaxSubscriptionsPerConn int           `yaml:"max_subscriptions_per_conn"`
	SendQueue               int           `yaml:"send_queue"`
	PingInterval            time.Duration `yaml:"ping_interval"`
	IdleTimeout             time.Duration `yaml:"idle_timeout"`
	// Node sessions and distinct subscriptions (docs/operations.md): past
	// them a subscriber gets goloop's -31005 "too many monitor".
	MaxSessionsPerNode int `yaml:"max_sessions_per_node"`
	MaxFilterSetsPerIP int `yaml:"max_filter_sets_per_ip"`
	MaxFilterSets      int `yaml:"max_filter_sets"`
}

// Cache configures the answer cache and in-flight coalescing.
type Cache struct {
	Enabled       bool  `yaml:"enabled"`
	MaxBytes      int64 `yaml:"max_bytes"`
	FinalityDepth int64 `yaml:"finality_depth"`
}

// Health configures probing and in-sync tracking.
type Health struct {
	ProbeInterval time.Duration `yaml:"probe_interval"`
	ProbeTimeout  time.Duration `yaml:"probe_timeout"`
	MaxLag        int64         `yaml:"max_lag"`
	EjectAfter    int           `yaml:"eject_after"`
	// Outlier detection on live traffic (see upstream/outlier.go).
	OutlierWindow      time.Duration `yaml:"outlier_window"`
	OutlierFailureRate float64       `yaml:"outlier_failure_rate"`
	OutlierMinRequests int           `yaml:"outlier_min_requests"`
	MaxEjectedPercent  int           `yaml:"max_ejected_percent"`
	RecoverAfter       int           `yaml:"recover_after"`
	BackoffMin         time.Duration `yaml:"backoff_min"`
	BackoffMax         time.Duration `yaml:"backoff_max"`
	ResolveInterval    time.Duration `yaml:"resolve_interval"`
}

// Limits bounds requests and the work done for them.
type Limits struct {
	MaxBodyBytes       int           `yaml:"max_body_bytes"`
	MaxBatch           int           `yaml:"max_batch"`
	NodeBatchLimit     int           `yaml:"node_batch_limit"`
	RequestTimeout     time.Duration `yaml:"request_timeout"`
	AttemptTimeout     time.Duration `yaml:"attempt_timeout"`
	MaxRetries         int           `yaml:"max_retries"`
	DefaultWaitTimeout time.Duration `yaml:"default_wait_timeout"`
	MaxWaitTimeout     time.Duration `yaml:"max_wait_timeout"`
	MaxConnsPerNode    int           `yaml:"max_conns_per_node"`
	// MaxWaitsPerNode bounds wait calls open on one node (its share of
	// max_conns_per_node); MaxWaitsPerClient those of one client IP.
	MaxWaitsPerNode   int           `yaml:"max_waits_per_node"`
	MaxWaitsPerClient int           `yaml:"max_waits_per_client"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	// ReadTimeout bounds waiting for and reading one request's headers (its
	// body then has BodyTimeout), so a slow sender cannot hold a connection;
	// WriteTimeout bounds writing an answer.
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxConnsPerIP bounds open connections per client address (IPv6: per
	// ratelimit.ipv6_prefix_len, default /64); ratelimit.trusted_proxies are
	// exempt. 0 = unlimited.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// BodyTimeout bounds receiving a body once its headers are in: a slow
	// sender's connection is closed without an answer.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// MaxBodyBytesInFlight bounds the memory of request bodies being received
	// or served, counting what arrived beyond the first 8 KiB of each; past it
	// a body is refused with 503 (docs/operations.md).
	MaxBodyBytesInFlight int64 `yaml:"max_body_bytes_in_flight"`
	// NodeMaxRPS caps requests per second to each node (0 = no cap); excess
	// waits up to NodeMaxWait, then is shed with 503.
	NodeMaxRPS  int           `yaml:"node_max_rps"`
	NodeMaxWait time.Duration `yaml:"node_max_wait"`
}

// Shutdown tunes graceful drain on SIGTERM.
type Shutdown struct {
	// DrainDelay: /readyz fails this long before the listener closes, so
	// balancers stop sending first.
	DrainDelay time.Duration `yaml:"drain_delay"`
	// Timeout bounds waiting for open requests.
	Timeout time.Duration `yaml:"timeout"`
}

// Defaults returns the configuration used when nothing is set. Every number
// comes from the package that uses it (proxy, upstream, cache, wsbridge,
// capture, accesslog), so a default is written in one place; only the
// settings of the edge's own HTTP server and its shutdown live here.
func Defaults() Config {
	p, u, ws, cp := proxy.DefaultConfig(), upstream.DefaultConfig(), wsbridge.DefaultConfig(), capture.DefaultConfig()
	h := u.Health
	return Config{
		Listen:    "127.0.0.1:9080",
		LogFormat: "auto",
		LogLevel:  "info",
		Procs:     procs.Adaptive,
		Health: Health{ProbeInterval: h.ProbeInterval, ProbeTimeout: h.ProbeTimeout, MaxLag: u.MaxLag,
			OutlierWindow: h.OutlierWindow, OutlierFailureRate: h.OutlierFailureRate, OutlierMinRequests: h.OutlierMinRequests,
			MaxEjectedPercent: h.MaxEjectedPercent, EjectAfter: h.EjectAfter, RecoverAfter: h.RecoverAfter,
			BackoffMin: h.BackoffMin, BackoffMax: h.BackoffMax, ResolveInterval: u.ResolveInterval},
		Limits: Limits{MaxBodyBytes: p.MaxBodyBytes, MaxBatch: p.MaxBatch, NodeBatchLimit: p.NodeBatchLimit,
			RequestTimeout: p.RequestTimeout, AttemptTimeout: p.AttemptTimeout, MaxRetries: *p.MaxRetries,
			DefaultWaitTimeout: p.DefaultWaitTimeout, MaxWaitTimeout: p.MaxWaitTimeout, MaxWaitsPerClient: p.MaxWaitsPerClient,
			MaxConnsPerNode: u.MaxConnsPerNode, MaxWaitsPerNode: u.MaxWaitsPerNode, NodeMaxWait: 50 * time.Millisecond,
			IdleTimeout: 90 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
			MaxConnsPerIP: 256, BodyTimeout: 5 * time.Second, MaxBodyBytesInFlight: 64 << 20},
		Shutdown:  Shutdown{DrainDelay: 5 * time.Second, Timeout: 30 * time.Second},
		Cache:     Cache{Enabled: true, MaxBytes: cache.DefaultMaxBytes, FinalityDepth: cache.DefaultFinalityDepth},
		Hedge:     HedgeDefaults(),
		AccessLog: accesslog.DefaultConfig(),
		// The bridge itself has no total by default; an edge caps it.
		WebSocket: WebSocket{Enabled: true, MaxConnections: 10000, MaxConnsPerIP: ws.MaxConnsPerIP,
			MaxMessageSize: ws.MaxMessageSize, MaxSubscriptionsPerConn: ws.MaxSubscriptionsPerConn, SendQueue: ws.SendQueue,
			PingInterval: ws.PingInterval, IdleTimeout: ws.IdleTimeout, MaxSessionsPerNode: ws.MaxSessionsPerNode,
			MaxFilterSetsPerIP: ws.MaxFilterSetsPerIP, MaxFilterSets: ws.MaxFilterSets},
		Capture:          Capture{SampleRate: cp.SampleRate, MaxBytes: cp.MaxBytes, MaxFiles: cp.MaxFiles, BufferSize: cp.BufferSize},
		PeerPollInterval: routing.DefaultPeerPollInterval,
		Readiness:        routing.DefaultVerdictConfig(),
		Upstream:         defaultUpstreamTuning(),
	}
}

// LoadFile reads YAML over into (normally Defaults()). The file is checked
// key by key first, so an unknown key, a value of the wrong type or a key set
// twice is reported by its path as written (health.probe_interval), with the
// file and line, and never silently falls back to a default. A ratelimit:
// section starts from ratelimit.DefaultConfig, a cloudflare: section from
// cloudflare.Defaults.
func LoadFile(path string, into *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := checkDocument(&doc, path); err != nil {
		return err
	}
	if hasSection(&doc, "ratelimit") && into.RateLimit == nil {
		d := ratelimit.DefaultConfig()
		into.RateLimit = &d
	}
	if hasSection(&doc, "redis") && into.Redis == nil {
		d := RedisDefaults()
		into.Redis = &d
	}
	if hasSection(&doc, "cloudflare") && into.Cloudflare == nil {
		// The section's own defaults (the monitor's) apply, as they do for
		// `icon-edge cloudflare`, which reads the same file.
		d := cloudflare.Defaults()
		into.Cloudflare = &d
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

// ApplyEnv overrides settings from ICON_EDGE_* variables, the place for
// secrets and per-host values that should not live in a shared file.
func ApplyEnv(c *Config, getenv func(string) string) {
	if v := getenv("ICON_EDGE_LISTEN"); v != "" {
		c.Listen = v
	}
	if v := getenv("ICON_EDGE_REGION"); v != "" {
		c.Region = v
	}
	if v := getenv("ICON_EDGE_UPSTREAMS"); v != "" {
		c.Upstreams = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
	}
	es := &c.AccessLog.Elasticsearch
	for name, dst := range map[string]*string{
		"ICON_EDGE_ES_USERNAME": &es.Username, "ICON_EDGE_ES_PASSWORD": &es.Password,
		"ICON_EDGE_ES_API_KEY": &es.APIKey, "ICON_EDGE_ACCESSLOG_HASH_SALT": &c.AccessLog.HashSalt,
	} {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	if v := getenv("ICON_EDGE_ES_ADDRESSES"); v != "" {
		es.Addresses = strings.Split(v, ",")
	}
	applyRedisEnv(c, getenv)
}

// poolConfig maps the file's settings onto the upstream pool.
func (c *Config) poolConfig() upstream.Config {
	probePath := "/api/v3"
	if c.Channel != "" {
		probePath += "/" + c.Channel
	}
	return upstream.Config{
		Upstreams: c.Upstreams, ProbePath: probePath, MaxLag: c.Health.MaxLag,
		ResolveInterval: c.Health.ResolveInterval, MaxConnsPerNode: c.Limits.MaxConnsPerNode,
		MaxWaitsPerNode: c.Limits.MaxWaitsPerNode,
		MaxRPSPerNode:   c.Limits.NodeMaxRPS, MaxWait: c.Limits.NodeMaxWait,
		Health: upstream.HealthConfig{ProbeInterval: c.Health.ProbeInterval, ProbeTimeout: c.Health.ProbeTimeout,
			EjectAfter: c.Health.EjectAfter, RecoverAfter: c.Health.RecoverAfter,
			OutlierWindow: c.Health.OutlierWindow, OutlierFailureRate: c.Health.OutlierFailureRate,
			OutlierMinRequests: c.Health.OutlierMinRequests, MaxEjectedPercent: c.Health.MaxEjectedPercent,
			BackoffMin: c.Health.BackoffMin, BackoffMax: c.Health.BackoffMax},
	}
}
