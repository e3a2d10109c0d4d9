package edge

import (
	"fmt"
	"reflect"
	"strings"
)

// RestartKeys are the settings a running edge cannot change (a key here
// covers the keys under it); every other key reloads live on SIGHUP. They
// are what the listening sockets, the HTTP server and its body gate and
// connection cap (whose fields connection goroutines read without locks),
// the node connection pools, the log handler, the websocket bridge's hubs and
// node session slots, and this region's identity among its peers were built
// with. A reload that changes one of them says so in one warning and keeps
// the running value until the next restart. The cloudflare section counts
// only while cloudflare_pool_health uses it: `icon-edge cloudflare` reads
// the file itself on every run.
var RestartKeys = []string{
	"listen", "admin_listen", "region", "log_format", "channel", "procs",
	"peers", "peer_poll_interval", "readiness", "cloudflare", "cloudflare_pool_health",
	"limits.max_body_bytes", "limits.max_body_bytes_in_flight", "limits.body_timeout",
	"limits.idle_timeout", "limits.read_timeout", "limits.write_timeout",
	"limits.max_conns_per_ip", "limits.max_conns_per_node",
	"websocket.enabled", "websocket.max_sessions_per_node",
	"redis",    // the connection, and the parts that share state through it
	"upstream", // pipelined node connections and the micro-batcher
}

// restartKey is the entry of RestartKeys that covers key ("" if none).
func restartKey(key string) string {
	for _, r := range RestartKeys {
		if key == r || strings.HasPrefix(key, r+".") || strings.HasPrefix(key, r+"[") {
			return r
		}
	}
	return ""
}

// needsRestart reports whether key (a path from Keys or changedKeys) needs a restart.
func needsRestart(key string) bool { return restartKey(key) != "" }

// Reload applies a new configuration without dropping a request. It is
// validated exactly as Start validates; a configuration Start would refuse
// is refused whole and nothing changes. Otherwise every setting outside
// RestartKeys takes effect at once: the upstream list and every health
// setting (the pool), limits, timeouts, retries, disabled methods, the debug
// API and the region (the next request), rate limits (a new limiter: every
// client's budget starts afresh), the cache (a new, empty one, when its
// section changed), the access log and capture (their files handed over
// without losing a line), websocket limits (for connections opened from
// now on), log_level, and shutdown (read when the signal comes). Requests
// already running finish under the settings they started with.
func (e *Edge) Reload(next Config) error {
	if err := next.Validate(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.cfg
	var live, pending []string
	keep := map[string]bool{}
	for _, k := range changedKeys(cur, next) {
		r := restartKey(k)
		if r == "cloudflare" && !cur.CloudflarePoolHealth && !next.CloudflarePoolHealth {
			r = "" // nothing running reads it
		}
		if r == "" {
			live = append(live, k)
			continue
		}
		pending = append(pending, k)
		keep[r] = true
	}
	for r := range keep { // the running values stay until a restart
		to, _ := field(reflect.ValueOf(&next).Elem(), r)
		from, _ := field(reflect.ValueOf(&cur).Elem(), r)
		to.Set(from)
	}
	if err := e.swapParts(cur, next); err != nil {
		return err
	}
	if err := e.pool.Reconfigure(next.poolConfig()); err != nil {
		return err // cannot happen: Validate parsed the same upstreams
	}
	e.proxy.Reconfigure(e.proxyOptions(next))
	if e.bridge != nil {
		if err := e.bridge.Reconfigure(bridgeConfig(next, e.clientIP)); err != nil {
			e.log.Error("websocket limits not applied", "err", err) // Validate checked them: a bug if seen
		}
	}
	if e.level != nil {
		_ = e.level.UnmarshalText([]byte(next.LogLevel))
	}
	e.geo.publicURL.Store(&next.PublicURL)
	e.geo.interval.Store(int64(next.Health.ProbeInterval))
	e.cfg = next
	if len(pending) > 0 {
		e.log.Warn("config reloaded, but these settings need a restart to change; they keep their running values",
			"settings", pending)
	}
	e.log.Info("config reloaded", "applied", live, "upstreams", next.Upstreams)
	return nil
}

// swapParts rebuilds the parts whose sections changed and retires the ones
// they replace. The access log goes first: it is the one that can still fail
// (a file that vanished since Validate), and then nothing has changed yet.
func (e *Edge) swapParts(cur, next Config) error {
	if !reflect.DeepEqual(cur.AccessLog, next.AccessLog) {
		l, err := e.access.Replace(next.AccessLog, e.log)
		if err != nil {
			return fmt.Errorf("access_log: %w", err)
		}
		e.retired = append(e.retired, e.access)
		e.access = l
		e.pruneRetired()
	}
	if !reflect.DeepEqual(cur.Capture, next.Capture) {
		// The old capture is flushed and closed first: a new one on the same
		// path rotates the finished file to .1 instead of writing beside it.
		if err := e.capture.Close(); err != nil { // nil-safe
			e.log.Warn("closing the capture on reload", "err", err)
		}
		w, err := newCapture(next.Capture, e.registry)
		if err != nil {
			e.log.Error("capture stopped: it could not be reopened on reload", "err", err)
		}
		e.capture = w
	}
	if !reflect.DeepEqual(cur.RateLimit, next.RateLimit) {
		lim, err := e.newLimiter(next.RateLimit)
		if err != nil {
			return fmt.Errorf("ratelimit: %w", err) // cannot happen after Validate
		}
		if e.limiter != nil && lim == nil {
			e.limiter.Close()
		}
		e.limiter = lim
	}
	if !reflect.DeepEqual(cur.Cache, next.Cache) {
		c, err := e.newCache(next.Cache)
		if err != nil {
			return fmt.Errorf("cache: %w", err) // cannot happen after Validate
		}
		if e.cache != nil && c == nil {
			e.cache.Close()
		}
		e.cache = c
	}
	return nil
}

// pruneRetired forgets replaced access logs that have delivered everything.
func (e *Edge) pruneRetired() {
	kept := e.retired[:0]
	for _, l := range e.retired {
		select {
		case <-l.Done():
		default:
			kept = append(kept, l)
		}
	}
	clear(e.retired[len(kept):])
	e.retired = kept
}
