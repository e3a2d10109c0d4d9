package edge

import (
	"errors"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/icon-edge/icon-edge/internal/confkey"
	"github.com/icon-edge/icon-edge/internal/procs"
	"github.com/icon-edge/icon-edge/routing"
	"github.com/icon-edge/icon-edge/upstream"
)

// Validate checks every setting and reports every invalid one, each in one
// line naming its key as written in the file (health.probe_interval,
// ratelimit.trusted_proxies[2]) with what was wrong and what is allowed.
// Start and Reload both call it and nothing else decides, so a reload
// refuses exactly what a start refuses; paths the edge will write
// (capture.path, access_log.file) must be writable now.
func (c *Config) Validate() error {
	errs := []error{c.validateTop()}
	for _, s := range []struct {
		key string
		err error
	}{{"health", c.Health.validate()}, {"limits", c.Limits.validate()}, {"cache", c.Cache.validate()},
		{"websocket", c.WebSocket.validate()}, {"capture", c.Capture.validate()}, {"shutdown", c.Shutdown.validate()},
		{"access_log", c.AccessLog.Validate()}, {"upstream", c.Upstream.validate(c.Limits.NodeBatchLimit)}} {
		errs = append(errs, confkey.In(s.key, s.err))
	}
	if c.RateLimit != nil {
		errs = append(errs, confkey.In("ratelimit", c.RateLimit.Validate()))
	}
	errs = append(errs, c.validateGeo(), c.validateShared())
	return errors.Join(errs...)
}

// validateGeo checks this region as one of several (docs/geo.md).
func (c *Config) validateGeo() error {
	var cs checks
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			cs.bad("public_url", "must be an http(s) URL like https://eu.rpc.example.org, got %q", c.PublicURL)
		}
	}
	if len(c.Peers) > 0 && c.Region == "" {
		cs.bad("region", "is required with peers: name this region (region: eu, or --region eu)")
	}
	cs = append(cs, routing.ValidatePeers(c.regionName(), c.Peers))
	cs.positive("peer_poll_interval", c.PeerPollInterval)
	cs = append(cs, confkey.In("readiness", c.Readiness.Validate()))
	if c.Cloudflare != nil {
		cs = append(cs, c.Cloudflare.Validate()) // its messages name cloudflare.* keys
	}
	if c.CloudflarePoolHealth {
		if c.Cloudflare == nil {
			cs.bad("cloudflare_pool_health", "needs a cloudflare: section naming this region's pool")
		} else if os.Getenv("CLOUDFLARE_API_TOKEN") == "" {
			cs.bad("cloudflare_pool_health", "needs CLOUDFLARE_API_TOKEN in the environment")
		}
	}
	return cs.err()
}

// checks collects a section's problems.
type checks []error

func (cs *checks) bad(key, format string, args ...any) {
	*cs = append(*cs, confkey.New(key, format, args...))
}

func (cs *checks) positive(key string, d time.Duration) {
	if d <= 0 {
		cs.bad(key, "must be a positive duration like 500ms or 10s, got %v", d)
	}
}

func (cs *checks) atLeast(key string, v, min int64) {
	if v < min {
		cs.bad(key, "must be >= %d, got %d", min, v)
	}
}

func (cs checks) err() error { return errors.Join(cs...) }

func (c *Config) validateTop() error {
	var cs checks
	if err := hostPort(c.Listen); err != "" {
		cs.bad("listen", "must be host:port like 127.0.0.1:9080 (%s), got %q", err, c.Listen)
	}
	if c.AdminListen != "" {
		if err := hostPort(c.AdminListen); err != "" {
			cs.bad("admin_listen", "must be host:port like 10.0.0.5:9090 (%s), or empty to serve /metrics and /status.json on listen, got %q", err, c.AdminListen)
		} else if c.AdminListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
			cs.bad("admin_listen", "must differ from listen (%s)", c.Listen)
		}
	}
	switch c.LogFormat {
	case "auto", "json", "text":
	default:
		cs.bad("log_format", "must be auto, json or text, got %q", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		cs.bad("log_level", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if _, err := procs.Parse(c.Procs); err != nil {
		cs.bad("procs", "%v", err)
	}
	if len(c.Upstreams) == 0 {
		cs.bad("upstreams", "must list at least one node (--upstream http://host:port)")
	}
	seen := map[string]int{}
	for i, u := range c.Upstreams {
		key := confkey.Index("upstreams", i)
		if _, err := upstream.ParseSource(u, nil); err != nil {
			cs.bad(key, "must be http(s)://host:port or dns+http(s)://name:port, got %q", u)
		} else if j, dup := seen[u]; dup {
			cs.bad(key, "%q is already upstreams[%d]", u, j)
		}
		seen[u] = i
	}
	if strings.ContainsAny(c.Channel, "/ ") {
		cs.bad("channel", "must be a channel name without slashes or spaces, got %q", c.Channel)
	}
	for i, m := range c.DisabledMethods {
		if routing.Lookup(m) == nil {
			cs.bad(confkey.Index("disabled_methods", i), "names no method the edge serves, got %q", m)
		}
	}
	return cs.err()
}

// hostPort explains what is wrong with a listen address ("" when nothing).
func hostPort(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "no port"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "the port is not a number from 0 to 65535"
	}
	return ""
}

func (h *Health) validate() error {
	var cs checks
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"probe_interval", h.ProbeInterval}, {"probe_timeout", h.ProbeTimeout}, {"outlier_window", h.OutlierWindow},
		{"backoff_min", h.BackoffMin}, {"backoff_max", h.BackoffMax}, {"resolve_interval", h.ResolveInterval}} {
		cs.positive(d.key, d.v)
	}
	if h.BackoffMin > 0 && h.BackoffMax < h.BackoffMin {
		cs.bad("backoff_max", "must be at least health.backoff_min (%v), got %v", h.BackoffMin, h.BackoffMax)
	}
	cs.atLeast("max_lag", h.MaxLag, 1)
	cs.atLeast("eject_after", int64(h.EjectAfter), 1)
	cs.atLeast("recover_after", int64(h.RecoverAfter), 1)
	cs.atLeast("outlier_min_requests", int64(h.OutlierMinRequests), 1)
	if !(h.OutlierFailureRate > 0 && h.OutlierFailureRate <= 1) {
		cs.bad("outlier_failure_rate", "must be more than 0 and at most 1, got %v", h.OutlierFailureRate)
	}
	if h.MaxEjectedPercent < 1 || h.MaxEjectedPercent > 100 {
		cs.bad("max_ejected_percent", "must be between 1 and 100, got %d", h.MaxEjectedPercent)
	}
	return cs.err()
}

func (l *Limits) validate() error {
	var cs checks
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"request_timeout", l.RequestTimeout}, {"attempt_timeout", l.AttemptTimeout},
		{"default_wait_timeout", l.DefaultWaitTimeout}, {"max_wait_timeout", l.MaxWaitTimeout},
		{"idle_timeout", l.IdleTimeout}, {"read_timeout", l.ReadTimeout}, {"write_timeout", l.WriteTimeout},
		{"body_timeout", l.BodyTimeout}} {
		cs.positive(d.key, d.v)
	}
	if l.MaxBodyBytesInFlight < int64(l.MaxBodyBytes) {
		cs.bad("max_body_bytes_in_flight", "must be at least limits.max_body_bytes (%d), got %d", l.MaxBodyBytes, l.MaxBodyBytesInFlight)
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"max_body_bytes", l.MaxBodyBytes}, {"max_batch", l.MaxBatch}, {"node_batch_limit", l.NodeBatchLimit},
		{"max_conns_per_node", l.MaxConnsPerNode}, {"max_waits_per_node", l.MaxWaitsPerNode},
		{"max_waits_per_client", l.MaxWaitsPerClient}} {
		cs.atLeast(n.key, int64(n.v), 1)
	}
	if l.MaxWaitsPerNode >= 1 && l.MaxConnsPerNode >= 1 && l.MaxWaitsPerNode >= l.MaxConnsPerNode {
		cs.bad("max_waits_per_node", "must be below limits.max_conns_per_node (%d) so quick reads keep connections; half is a good share, got %d",
			l.MaxConnsPerNode, l.MaxWaitsPerNode)
	}
	if l.MaxRetries < 0 || l.MaxRetries > 3 {
		cs.bad("max_retries", "must be between 0 and 3, got %d", l.MaxRetries)
	}
	if l.MaxConnsPerIP < 0 {
		cs.bad("max_conns_per_ip", "must be >= 0 (0 = unlimited), got %d", l.MaxConnsPerIP)
	}
	if l.NodeMaxRPS < 0 {
		cs.bad("node_max_rps", "must be >= 0 (0 = no cap), got %d", l.NodeMaxRPS)
	}
	if l.NodeMaxWait < 0 {
		cs.bad("node_max_wait", "must not be negative, got %v", l.NodeMaxWait)
	}
	return cs.err()
}

func (c *Cache) validate() error {
	var cs checks
	if c.MaxBytes < 1<<20 {
		cs.bad("max_bytes", "must be at least 1 MiB (1048576), got %d", c.MaxBytes)
	}
	if c.FinalityDepth < 0 {
		cs.bad("finality_depth", "must be >= 0 (0: the tip is final), got %d", c.FinalityDepth)
	}
	return cs.err()
}

func (w *WebSocket) validate() error {
	var cs checks
	if w.MaxConnections < 0 {
		cs.bad("max_connections", "must be >= 0 (0 = no total), got %d", w.MaxConnections)
	}
	cs.atLeast("max_conns_per_ip", int64(w.MaxConnsPerIP), 1)
	cs.atLeast("max_message_size", w.MaxMessageSize, 256)
	cs.atLeast("max_subscriptions_per_conn", int64(w.MaxSubscriptionsPerConn), 1)
	cs.atLeast("send_queue", int64(w.SendQueue), 1)
	// One session per node is kept for the plain /block hubs of the channel.
	cs.atLeast("max_sessions_per_node", int64(w.MaxSessionsPerNode), 2)
	cs.atLeast("max_filter_sets_per_ip", int64(w.MaxFilterSetsPerIP), 1)
	cs.atLeast("max_filter_sets", int64(w.MaxFilterSets), 1)
	cs.positive("ping_interval", w.PingInterval)
	cs.positive("idle_timeout", w.IdleTimeout)
	if w.IdleTimeout > 0 && w.PingInterval > 0 && w.IdleTimeout <= w.PingInterval {
		cs.bad("idle_timeout", "must be longer than websocket.ping_interval (%v), or live clients are cut off; got %v", w.PingInterval, w.IdleTimeout)
	}
	return cs.err()
}

func (c *Capture) validate() error {
	var cs checks
	if c.Path != "" {
		if err := confkey.WritableFile("path", c.Path); err != nil {
			cs = append(cs, err)
		}
	}
	if !(c.SampleRate > 0 && c.SampleRate <= 1) {
		cs.bad("sample_rate", "must be more than 0 and at most 1 (1 = every request), got %v", c.SampleRate)
	}
	cs.atLeast("max_bytes", c.MaxBytes, 1<<10)
	cs.atLeast("max_files", int64(c.MaxFiles), 1)
	cs.atLeast("buffer_size", int64(c.BufferSize), 1)
	return cs.err()
}

func (s *Shutdown) validate() error {
	var cs checks
	if s.DrainDelay < 0 {
		cs.bad("drain_delay", "must not be negative, got %v", s.DrainDelay)
	}
	cs.positive("timeout", s.Timeout)
	return cs.err()
}
