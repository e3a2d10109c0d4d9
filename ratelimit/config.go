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
	"fmt"
	"github.com/icon-edge/icon-edge/routing"
	"net/netip"
	"strings"
)

// Config configures a Limiter. Zero values take the defaults below.
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

func (c *Config) applyDefaults() {
	if c.RequestsPerSecond == 0 {
		c.RequestsPerSecond = 50
	}
	if c.Burst == 0 {
		c.Burst = 100
	}
	if c.WriteRequestsPerSecond == 0 {
		c.WriteRequestsPerSecond = 5
	}
	if c.WriteBurst == 0 {
		c.WriteBurst = 10
	}
	if c.AllowedMethods == nil {
		c.AllowedMethods = DefaultAllowedMethods
	}
	// Costs come from the method table; method_cost overrides single methods.
	costs := routing.DefaultCosts()
	for m, n := range c.MethodCost {
		costs[m] = n
	}
	c.MethodCost = costs
	if c.ProxyHeaders == nil {
		c.ProxyHeaders = DefaultProxyHeaders
	}
	if c.MaxClients == 0 {
		c.MaxClients = 100_000
	}
	if c.IPv6PrefixLen == 0 {
		c.IPv6PrefixLen = 64
	}
	if c.APIKeyHeader == "" {
		c.APIKeyHeader = "X-API-Key"
	}
}

func parsePrefixes(field string, list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
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
			return nil, fmt.Errorf("ratelimit: %s[%d] %q is not a CIDR or an IP: %v", field, i, s, err)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func validateMethods(field string, globs []string) error {
	for i, g := range globs {
		if g == "" || strings.Contains(strings.TrimSuffix(g, "*"), "*") {
			return fmt.Errorf("ratelimit: %s[%d] %q: a method pattern is a name, optionally ending in '*'", field, i, g)
		}
	}
	return nil
}

func validateRate(field string, rps float64, burst int) error {
	if !(rps > 0) {
		return fmt.Errorf("ratelimit: %s.RequestsPerSecond must be > 0, got %v", field, rps)
	}
	if burst < 1 {
		return fmt.Errorf("ratelimit: %s.Burst must be >= 1, got %d", field, burst)
	}
	return nil
}
