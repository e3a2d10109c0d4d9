// Package ratelimit decides, before any upstream work, whether the edge
// serves a client's request: per-client token buckets weighted by method
// cost (separate ones for writes), API-key tiers with method allowlists,
// CIDR allow/deny lists, client IPs taken from proxy headers only when the
// peer is a trusted proxy, and a bounded wait in front of each upstream node.
//
// Decisions are immediate: a client over its limit is refused with a
// Retry-After hint, never queued. State is bounded: at most MaxClients
// buckets are tracked, least recently seen dropped first.
package ratelimit

import (
	"errors"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/icon-edge/icon-edge/internal/confkey"
	"github.com/icon-edge/icon-edge/routing"
)

// Config configures a Limiter. New fills zero values with DefaultConfig's;
// Validate checks a configuration as written.
type Config struct {
	// Enabled turns per-client rate limits on. Allow/Deny, API keys and
	// method allowlists apply either way: they are access control.
	Enabled bool `yaml:"enabled"`

	// Limits for clients without an API key ("anonymous" tier), per IP
	// (IPv6: per IPv6PrefixLen prefix).
	RequestsPerSecond      float64  `yaml:"requests_per_second"`       // default 50
	Burst                  int      `yaml:"burst"`                     // default 100
	WriteRequestsPerSecond float64  `yaml:"write_requests_per_second"` // default 5
	WriteBurst             int      `yaml:"write_burst"`               // default 10
	AllowedMethods         []string `yaml:"allowed_methods"`           // default DefaultAllowedMethods

	// MethodCost overrides how many tokens a method takes from its budget
	// (reads from the read budget, writes from the write budget); methods not
	// listed cost what the method table (routing/methods.go) says.
	MethodCost map[string]int `yaml:"method_cost"`

	// TrustedProxies are CIDRs whose ProxyHeaders are believed (for example
	// Cloudflare's published ranges). Empty: the socket peer is the client.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ProxyHeaders are read in order from a trusted peer; default
	// CF-Connecting-IP then X-Forwarded-For.
	ProxyHeaders []string `yaml:"proxy_headers"`

	// Deny refuses these CIDRs. Allow exempts CIDRs from rate limits and
	// from Deny (an exception carved out of a denied range); method
	// allowlists still apply.
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`

	// MaxClients bounds the tracked buckets (default 100000).
	MaxClients int `yaml:"max_clients"`
	// IPv6PrefixLen groups IPv6 clients by prefix, since one host usually
	// owns a whole /64 (default 64; 128 = per address).
	IPv6PrefixLen int `yaml:"ipv6_prefix_len"`

	// APIKeyHeader names the header carrying an API key (default
	// "X-API-Key"); the caller reads it, or a key from the path.
	APIKeyHeader string          `yaml:"api_key_header"`
	Keys         []APIKey        `yaml:"keys"`
	Tiers        map[string]Tier `yaml:"tiers"`
}

// APIKey maps a secret key to a tier. ID names the key in logs and
// decisions; the key itself is never reported.
type APIKey struct {
	ID   string `yaml:"id"`
	Key  string `yaml:"key"`
	Tier string `yaml:"tier"`
}

// Tier is the budget and method allowlist shared by the keys that name it.
// Each key has its own buckets (not per IP).
type Tier struct {
	RequestsPerSecond      float64  `yaml:"requests_per_second"`
	Burst                  int      `yaml:"burst"`
	WriteRequestsPerSecond float64  `yaml:"write_requests_per_second"`
	WriteBurst             int      `yaml:"write_burst"`
	Unlimited              bool     `yaml:"unlimited"`       // no rate limits at all
	AllowedMethods         []string `yaml:"allowed_methods"` // default DefaultAllowedMethods
}

// AnonymousTier is the tier of clients without an API key.
const AnonymousTier = "anonymous"

// unknownKeyTier labels rejections of keys that are not configured.
const unknownKeyTier = "unknown_key"

// DefaultAllowedMethods is what a tier may call when it lists nothing: the
// method table's public methods (routing.Method.AllowedByDefault), so the
// debug API needs a tier that lists it.
var DefaultAllowedMethods = routing.DefaultAllowed()

// CloudflareIPRanges are Cloudflare's published edge ranges
// (https://www.cloudflare.com/ips/, which changes rarely: re-check it when
// deploying), for TrustedProxies when the edge sits behind Cloudflare.
var CloudflareIPRanges = []string{
	"173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22",
	"141.101.64.0/18", "108.162.192.0/18", "190.93.240.0/20", "188.114.96.0/20",
	"197.234.240.0/22", "198.41.128.0/17", "162.158.0.0/15", "104.16.0.0/13",
	"104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22",
	"2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32",
	"2405:8100::/32", "2a06:98c0::/29", "2c0f:f248::/32",
}

// DefaultProxyHeaders are read from trusted peers, in this order.
var DefaultProxyHeaders = []string{"CF-Connecting-IP", "X-Forwarded-For"}

// Defaults of the anonymous tier and the limiter, in one place: DefaultConfig
// shows them and New fills zero fields with them.
const (
	DefaultRequestsPerSecond      = 50
	DefaultBurst                  = 100
	DefaultWriteRequestsPerSecond = 5
	DefaultWriteBurst             = 10
	DefaultMaxClients             = 100_000
	DefaultIPv6PrefixLen          = 64
	DefaultAPIKeyHeader           = "X-API-Key"
)

// DefaultConfig is the configuration a `ratelimit:` section starts from
// (limits off; allow/deny, keys and method lists apply either way).
// MethodCost is empty: it only overrides the method table's costs.
func DefaultConfig() Config {
	return Config{
		RequestsPerSecond: DefaultRequestsPerSecond, Burst: DefaultBurst,
		WriteRequestsPerSecond: DefaultWriteRequestsPerSecond, WriteBurst: DefaultWriteBurst,
		AllowedMethods: slices.Clone(DefaultAllowedMethods), ProxyHeaders: slices.Clone(DefaultProxyHeaders),
		TrustedProxies: []string{}, Allow: []string{}, Deny: []string{},
		MaxClients: DefaultMaxClients, IPv6PrefixLen: DefaultIPv6PrefixLen, APIKeyHeader: DefaultAPIKeyHeader,
	}
}

// applyDefaults fills zero fields, for callers that build a Config in Go
// with only what they care about. A configuration file starts from
// DefaultConfig instead, so a zero written there is seen (and refused) by
// Validate rather than silently replaced.
func (c *Config) applyDefaults() {
	d := DefaultConfig()
	if c.RequestsPerSecond == 0 {
		c.RequestsPerSecond = d.RequestsPerSecond
	}
	if c.Burst == 0 {
		c.Burst = d.Burst
	}
	if c.WriteRequestsPerSecond == 0 {
		c.WriteRequestsPerSecond = d.WriteRequestsPerSecond
	}
	if c.WriteBurst == 0 {
		c.WriteBurst = d.WriteBurst
	}
	if c.AllowedMethods == nil {
		c.AllowedMethods = d.AllowedMethods
	}
	if c.ProxyHeaders == nil {
		c.ProxyHeaders = d.ProxyHeaders
	}
	if c.MaxClients == 0 {
		c.MaxClients = d.MaxClients
	}
	if c.IPv6PrefixLen == 0 {
		c.IPv6PrefixLen = d.IPv6PrefixLen
	}
	if c.APIKeyHeader == "" {
		c.APIKeyHeader = d.APIKeyHeader
	}
}

// costs is the method table's costs with MethodCost's overrides.
func (c *Config) costs() map[string]int {
	costs := routing.DefaultCosts()
	for m, n := range c.MethodCost {
		costs[m] = n
	}
	return costs
}

// Validate checks the configuration as given (no defaults filled in) and
// reports every problem, each naming its key as written in the
// `ratelimit:` section (burst, tiers.gold.requests_per_second,
// trusted_proxies[2]). Keys and secrets are never part of a message.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, confkey.New(key, format, args...)) }
	errs = append(errs, validateRate("", Tier{RequestsPerSecond: c.RequestsPerSecond, Burst: c.Burst,
		WriteRequestsPerSecond: c.WriteRequestsPerSecond, WriteBurst: c.WriteBurst})...)
	errs = append(errs, validateMethods("allowed_methods", c.AllowedMethods)...)
	names := make([]string, 0, len(c.MethodCost))
	for m := range c.MethodCost {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		key := confkey.Join("method_cost", m)
		switch {
		case routing.Lookup(m) == nil:
			bad(key, "names no method the edge serves (routing/methods.go lists them)")
		case c.MethodCost[m] < 1:
			bad(key, "must be >= 1, got %d", c.MethodCost[m])
		}
	}
	for _, list := range []struct {
		key string
		v   []string
	}{{"trusted_proxies", c.TrustedProxies}, {"allow", c.Allow}, {"deny", c.Deny}} {
		if _, err := parsePrefixes(list.key, list.v); err != nil {
			errs = append(errs, err)
		}
	}
	for i, h := range c.ProxyHeaders {
		if strings.TrimSpace(h) == "" {
			bad(confkey.Index("proxy_headers", i), "is empty; name a header such as CF-Connecting-IP or X-Forwarded-For")
		}
	}
	if c.MaxClients < clientShards {
		bad("max_clients", "must be >= %d, got %d", clientShards, c.MaxClients)
	}
	if c.IPv6PrefixLen < 1 || c.IPv6PrefixLen > 128 {
		bad("ipv6_prefix_len", "must be between 1 and 128, got %d", c.IPv6PrefixLen)
	}
	if strings.TrimSpace(c.APIKeyHeader) == "" {
		bad("api_key_header", "must name a header (default %s)", DefaultAPIKeyHeader)
	}
	tiers := make([]string, 0, len(c.Tiers))
	for name := range c.Tiers {
		tiers = append(tiers, name)
	}
	sort.Strings(tiers)
	for _, name := range tiers {
		t, key := c.Tiers[name], confkey.Join("tiers", name)
		if name == AnonymousTier || name == unknownKeyTier || name == "" {
			bad(key, "is a reserved tier name (set the anonymous limits at the top of the ratelimit section)")
			continue
		}
		if !t.Unlimited {
			for _, e := range validateRate("", t) {
				errs = append(errs, confkey.In(key, e))
			}
		}
		errs = append(errs, confkey.In(key, errors.Join(validateMethods("allowed_methods", t.AllowedMethods)...)))
	}
	ids, secrets := map[string]int{}, map[string]int{}
	for i, k := range c.Keys {
		key := confkey.Index("keys", i)
		if k.ID == "" {
			bad(key+".id", "is required: it names the key in logs instead of the secret")
		} else if j, dup := ids[k.ID]; dup {
			bad(key+".id", "%q is already used by keys[%d]", k.ID, j)
		} else {
			ids[k.ID] = i
		}
		if k.Key == "" {
			bad(key+".key", "is empty")
		} else if j, dup := secrets[k.Key]; dup {
			bad(key+".key", "is the same secret as keys[%d]", j)
		} else {
			secrets[k.Key] = i
		}
		if _, ok := c.Tiers[k.Tier]; !ok || k.Tier == AnonymousTier {
			bad(key+".tier", "%q is not in tiers", k.Tier)
		}
	}
	return errors.Join(errs...)
}

// parsePrefixes reads CIDRs (or single addresses) from the list at key.
func parsePrefixes(key string, list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	var errs []error
	for i, s := range list {
		s = strings.TrimSpace(s)
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(s)
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if err != nil {
			errs = append(errs, confkey.New(confkey.Index(key, i), "must be a CIDR like 10.0.0.0/8 or an IP, got %q", s))
			continue
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, errors.Join(errs...)
}

func validateMethods(key string, globs []string) []error {
	var errs []error
	for i, g := range globs {
		if g == "" || strings.Contains(strings.TrimSuffix(g, "*"), "*") {
			errs = append(errs, confkey.New(confkey.Index(key, i), "must be a method name, optionally ending in '*', got %q", g))
		}
	}
	return errs
}

// validateRate checks a tier's budgets; keys are relative to the tier.
func validateRate(key string, t Tier) []error {
	var errs []error
	for _, r := range []struct {
		rps   float64
		burst int
		name  string
	}{{t.RequestsPerSecond, t.Burst, ""}, {t.WriteRequestsPerSecond, t.WriteBurst, "write_"}} {
		if !(r.rps > 0) || math.IsInf(r.rps, 0) {
			errs = append(errs, confkey.New(confkey.Join(key, r.name+"requests_per_second"), "must be > 0, got %v", r.rps))
		}
		if r.burst < 1 {
			errs = append(errs, confkey.New(confkey.Join(key, r.name+"burst"), "must be >= 1, got %d", r.burst))
		}
	}
	return errs
}
