// Package edge wires the icon-edge process: configuration (YAML file, flags,
// ICON_EDGE_* environment), the upstream pool, the request path, metrics,
// reload on SIGHUP and graceful drain.
package edge

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/icon-edge/icon-edge/accesslog"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/routing"
	"github.com/icon-edge/icon-edge/routing/cloudflare"
	"github.com/icon-edge/icon-edge/upstream"
	"gopkg.in/yaml.v3"
)

// Config is the whole edge configuration. YAML keys are the documented names.
type Config struct {
	Listen          string   `yaml:"listen"`
	AdminListen     string   `yaml:"admin_listen"` // set: /metrics and /status.json only here
	Region          string   `yaml:"region"`
	LogFormat       string   `yaml:"log_format"` // auto | json | text
	LogLevel        string   `yaml:"log_level"`  // debug | info | warn | error
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

// WebSocket configures the bridge for /api/v3/{channel}/block and /event.
// Zero values take the bridge's defaults (docs/wsbridge.md).
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

// Defaults returns the configuration used when nothing is set.
func Defaults() Config {
	return Config{
		Listen:    "127.0.0.1:9080",
		LogFormat: "auto",
		LogLevel:  "info",
		Health: Health{ProbeInterval: 500 * time.Millisecond, ProbeTimeout: 5 * time.Second, MaxLag: 2,
			OutlierWindow: 10 * time.Second, OutlierFailureRate: 0.5, OutlierMinRequests: 20, MaxEjectedPercent: 50,
			EjectAfter: 3, RecoverAfter: 2, BackoffMin: time.Second, BackoffMax: 30 * time.Second,
			ResolveInterval: 10 * time.Second},
		Limits: Limits{MaxBodyBytes: 1 << 20, MaxBatch: 100, NodeBatchLimit: 10, RequestTimeout: 10 * time.Second,
			AttemptTimeout: 3 * time.Second, MaxRetries: 2, DefaultWaitTimeout: 10 * time.Second,
			MaxWaitTimeout: 60 * time.Second, MaxConnsPerNode: 512, MaxWaitsPerNode: 256, MaxWaitsPerClient: 16, IdleTimeout: 90 * time.Second,
			NodeMaxWait: 50 * time.Millisecond, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
			MaxConnsPerIP: 256, BodyTimeout: 5 * time.Second, MaxBodyBytesInFlight: 64 << 20},
		Shutdown:         Shutdown{DrainDelay: 5 * time.Second, Timeout: 30 * time.Second},
		PeerPollInterval: 5 * time.Second,
		Cache:            Cache{Enabled: true, MaxBytes: 256 << 20, FinalityDepth: 1},
		WebSocket:        WebSocket{Enabled: true, MaxConnections: 10000},
	}
}

// LoadFile reads YAML over the defaults. Unknown keys are errors: a typo must
// not silently fall back to a default.
func LoadFile(path string, into *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if into.Cloudflare != nil {
		// The section's own defaults (the monitor's) apply, as they do for
		// `icon-edge cloudflare`, which reads the same file.
		cf, err := cloudflare.Parse(data)
		if err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
		into.Cloudflare = &cf
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
}

// Validate checks every field and names the first bad one.
func (c *Config) Validate() error {
	bad := func(field, why string, v any) error { return fmt.Errorf("config: %s: %s (got %v)", field, why, v) }
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "want host:port", c.Listen)
	}
	if _, _, err := net.SplitHostPort(c.AdminListen); c.AdminListen != "" && err != nil {
		return bad("admin_listen", "want host:port, or empty to serve /metrics and /status.json on listen", c.AdminListen)
	}
	switch c.LogFormat {
	case "auto", "json", "text":
	default:
		return bad("log_format", "want auto, json or text", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("log_level", "want debug, info, warn or error", c.LogLevel)
	}
	if len(c.Upstreams) == 0 {
		return errors.New("config: upstreams: at least one upstream is required (--upstream http://host:port)")
	}
	for i, u := range c.Upstreams {
		if _, err := upstream.ParseSource(u, nil); err != nil {
			return fmt.Errorf("config: upstreams[%d]: %v", i, err)
		}
	}
	if strings.ContainsAny(c.Channel, "/ ") {
		return bad("channel", "a channel name has no slashes or spaces", c.Channel)
	}
	h := c.Health
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"health.probe_interval", h.ProbeInterval}, {"health.probe_timeout", h.ProbeTimeout},
		{"health.backoff_min", h.BackoffMin}, {"health.backoff_max", h.BackoffMax},
		{"health.resolve_interval", h.ResolveInterval}, {"limits.request_timeout", c.Limits.RequestTimeout},
		{"limits.attempt_timeout", c.Limits.AttemptTimeout}, {"limits.default_wait_timeout", c.Limits.DefaultWaitTimeout},
		{"limits.max_wait_timeout", c.Limits.MaxWaitTimeout}, {"limits.idle_timeout", c.Limits.IdleTimeout},
		{"limits.read_timeout", c.Limits.ReadTimeout}, {"limits.write_timeout", c.Limits.WriteTimeout},
		{"limits.body_timeout", c.Limits.BodyTimeout},
		{"shutdown.timeout", c.Shutdown.Timeout}} {
		if d.v <= 0 {
			return bad(d.name, "must be a positive duration like 500ms or 10s", d.v)
		}
	}
	if c.Shutdown.DrainDelay < 0 {
		return bad("shutdown.drain_delay", "must not be negative", c.Shutdown.DrainDelay)
	}
	if h.BackoffMax < h.BackoffMin {
		return bad("health.backoff_max", "must be at least health.backoff_min", h.BackoffMax)
	}
	for _, n := range []struct {
		name string
		v    int64
	}{{"health.max_lag", h.MaxLag}, {"health.eject_after", int64(h.EjectAfter)}, {"health.recover_after", int64(h.RecoverAfter)},
		{"limits.max_body_bytes", int64(c.Limits.MaxBodyBytes)}, {"limits.max_batch", int64(c.Limits.MaxBatch)},
		{"limits.node_batch_limit", int64(c.Limits.NodeBatchLimit)}, {"limits.max_conns_per_node", int64(c.Limits.MaxConnsPerNode)},
		{"limits.max_waits_per_node", int64(c.Limits.MaxWaitsPerNode)}, {"limits.max_waits_per_client", int64(c.Limits.MaxWaitsPerClient)}} {
		if n.v <= 0 {
			return bad(n.name, "must be positive", n.v)
		}
	}
	if h.OutlierWindow <= 0 {
		return bad("health.outlier_window", "must be a positive duration like 10s", h.OutlierWindow)
	}
	if !(h.OutlierFailureRate > 0 && h.OutlierFailureRate <= 1) {
		return bad("health.outlier_failure_rate", "must be in (0, 1]", h.OutlierFailureRate)
	}
	if h.OutlierMinRequests < 1 {
		return bad("health.outlier_min_requests", "must be at least 1", h.OutlierMinRequests)
	}
	if h.MaxEjectedPercent < 1 || h.MaxEjectedPercent > 100 {
		return bad("health.max_ejected_percent", "must be between 1 and 100", h.MaxEjectedPercent)
	}
	if c.Limits.MaxWaitsPerNode >= c.Limits.MaxConnsPerNode {
		return bad("limits.max_waits_per_node", fmt.Sprintf("must be below limits.max_conns_per_node (%d) so quick reads keep connections; half is a good share",
			c.Limits.MaxConnsPerNode), c.Limits.MaxWaitsPerNode)
	}
	if c.Limits.MaxRetries < 0 || c.Limits.MaxRetries > 3 {
		return bad("limits.max_retries", "must be between 0 and 3", c.Limits.MaxRetries)
	}
	if c.Cache.Enabled && c.Cache.MaxBytes < 1<<20 {
		return bad("cache.max_bytes", "must be at least 1 MiB", c.Cache.MaxBytes)
	}
	if c.Capture.SampleRate < 0 || c.Capture.SampleRate > 1 {
		return bad("capture.sample_rate", "must be between 0 and 1 (0 = every request)", c.Capture.SampleRate)
	}
	if c.Cache.FinalityDepth < 0 {
		return bad("cache.finality_depth", "must not be negative", c.Cache.FinalityDepth)
	}
	if c.Limits.NodeMaxRPS < 0 || c.Limits.NodeMaxWait < 0 {
		return bad("limits.node_max_rps", "node_max_rps and node_max_wait must not be negative", c.Limits.NodeMaxRPS)
	}
	if c.Limits.MaxBodyBytesInFlight < int64(c.Limits.MaxBodyBytes) {
		return bad("limits.max_body_bytes_in_flight", "must be at least limits.max_body_bytes", c.Limits.MaxBodyBytesInFlight)
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"websocket.max_sessions_per_node", c.WebSocket.MaxSessionsPerNode},
		{"websocket.max_filter_sets_per_ip", c.WebSocket.MaxFilterSetsPerIP}, {"websocket.max_filter_sets", c.WebSocket.MaxFilterSets}} {
		if n.v < 0 {
			return bad(n.name, "must not be negative (0 = the default)", n.v)
		}
	}
	if c.Limits.MaxConnsPerIP < 0 {
		return bad("limits.max_conns_per_ip", "must not be negative (0 = unlimited)", c.Limits.MaxConnsPerIP)
	}
	if len(c.Peers) > 0 && c.Region == "" {
		return errors.New("config: region: a region with peers needs a name (region: eu, or --region eu)")
	}
	if err := routing.ValidatePeers(c.regionName(), c.Peers); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.PeerPollInterval <= 0 {
		return bad("peer_poll_interval", "must be a positive duration like 5s", c.PeerPollInterval)
	}
	if err := c.Readiness.Validate(); err != nil {
		return fmt.Errorf("config: readiness.%w", err)
	}
	if c.Cloudflare != nil {
		if err := c.Cloudflare.Validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	// Sections whose packages validate themselves are checked by building
	// them, unregistered, so a reload refuses exactly what a start refuses.
	if c.RateLimit != nil {
		if _, err := ratelimit.New(*c.RateLimit, nil); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
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
