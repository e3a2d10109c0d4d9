// Package cloudflare declares icon-edge's side of Cloudflare load balancing:
// one monitor probing every region's /readyz, one pool per region and one
// geo-steered load balancer on the zone. Plan shows the difference between
// that declaration and the account, Apply makes it so (idempotently), and
// Drain/Undrain take a region's origin out of rotation for maintenance.
//
// It is a separate package so the request path never compiles the SDK.
package cloudflare

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is the `cloudflare:` section of the edge's YAML file.
type Config struct {
	AccountID string        `yaml:"account_id"`
	ZoneID    string        `yaml:"zone_id"`
	Hostname  string        `yaml:"hostname"` // the geo-routed name dApps use
	Monitor   MonitorConfig `yaml:"monitor"`
	Fallback  string        `yaml:"fallback"` // region whose pool is the fallback_pool
	Pools     []PoolConfig  `yaml:"pools"`
}

// MonitorConfig is the health check Cloudflare runs against every origin.
// Times are in seconds, as Cloudflare takes them.
type MonitorConfig struct {
	Path            string `yaml:"path"`
	Interval        int64  `yaml:"interval"`
	Timeout         int64  `yaml:"timeout"`
	Retries         int64  `yaml:"retries"`
	ConsecutiveUp   int64  `yaml:"consecutive_up"`
	ConsecutiveDown int64  `yaml:"consecutive_down"`
}

// PoolConfig is one region. Coordinates are pointers so a forgotten
// latitude is an error rather than a pool placed off the coast of Africa.
type PoolConfig struct {
	Region    string   `yaml:"region"`
	Origin    string   `yaml:"origin"` // the region's own public hostname
	Latitude  *float64 `yaml:"latitude"`
	Longitude *float64 `yaml:"longitude"`
	Steer     []string `yaml:"steer"` // Cloudflare region codes sent here first
}

// Defaults is the configuration before the file is read; the monitor
// settings are the ones the naming contract (docs/geo.md) names.
func Defaults() Config {
	return Config{Monitor: MonitorConfig{
		Path: "/readyz", Interval: 60, Timeout: 5, Retries: 1, ConsecutiveUp: 3, ConsecutiveDown: 2,
	}}
}

// RegionCodes are the codes Cloudflare accepts in region_pools.
var RegionCodes = []string{"WNAM", "ENAM", "WEU", "EEU", "NSAM", "SSAM", "OC", "ME", "NAF", "SAF", "SAS", "SEAS", "NEAS"}

// codeHints explains codes people write that Cloudflare does not accept.
var codeHints = map[string]string{
	"SAM": "South America is NSAM and SSAM",
	"NAM": "North America is WNAM and ENAM",
	"EU":  "Europe is WEU and EEU",
	"AF":  "Africa is NAF and SAF",
	"AS":  "Asia is SAS, SEAS and NEAS",
}

var (
	hexID      = regexp.MustCompile(`^[0-9a-f]{32}$`)
	regionName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`) // pool names allow only these
	dnsLabel   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
)

func validHostname(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !dnsLabel.MatchString(l) {
			return false
		}
	}
	return true
}

// Validate reports every problem at once, each naming the YAML key as
// written in the file, so one edit fixes them all.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.AccountID == "" {
		bad("cloudflare.account_id is required")
	} else if !hexID.MatchString(c.AccountID) {
		bad("cloudflare.account_id must be the 32-hex-digit account id, got %q", c.AccountID)
	}
	if c.ZoneID == "" {
		bad("cloudflare.zone_id is required")
	} else if !hexID.MatchString(c.ZoneID) {
		bad("cloudflare.zone_id must be the 32-hex-digit zone id, got %q", c.ZoneID)
	}
	if c.Hostname == "" {
		bad("cloudflare.hostname is required")
	} else if !validHostname(c.Hostname) {
		bad("cloudflare.hostname must be a DNS name like rpc.example.org, got %q", c.Hostname)
	}

	m := c.Monitor
	if !strings.HasPrefix(m.Path, "/") {
		bad("cloudflare.monitor.path must start with /, got %q", m.Path)
	}
	between := func(key string, v, lo, hi int64) {
		if v < lo || v > hi {
			bad("cloudflare.monitor.%s must be between %d and %d, got %d", key, lo, hi, v)
		}
	}
	between("interval", m.Interval, 10, 3600)
	between("timeout", m.Timeout, 1, 10)
	between("retries", m.Retries, 0, 5)
	between("consecutive_up", m.ConsecutiveUp, 1, 100)
	between("consecutive_down", m.ConsecutiveDown, 1, 100)
	if m.Timeout >= m.Interval && m.Interval >= 10 && m.Timeout >= 1 {
		bad("cloudflare.monitor.timeout (%d) must be shorter than cloudflare.monitor.interval (%d)", m.Timeout, m.Interval)
	}

	if len(c.Pools) == 0 {
		bad("cloudflare.pools must list at least one region")
	}
	regions := map[string]int{}
	steered := map[string]string{}
	for i, p := range c.Pools {
		key := fmt.Sprintf("cloudflare.pools[%d]", i)
		switch {
		case p.Region == "":
			bad("%s.region is required", key)
		case !regionName.MatchString(p.Region):
			bad("%s.region %q may contain only letters, digits, - and _ (it becomes part of a Cloudflare pool name)", key, p.Region)
		default:
			if j, dup := regions[p.Region]; dup {
				bad("%s.region %q is already used by cloudflare.pools[%d]", key, p.Region, j)
			}
			regions[p.Region] = i
		}
		if p.Origin == "" {
			bad("%s.origin is required", key)
		} else if !validHostname(p.Origin) {
			bad("%s.origin must be the region's public hostname like eu.rpc.example.org, got %q", key, p.Origin)
		}
		if p.Latitude == nil {
			bad("%s.latitude is required", key)
		} else if *p.Latitude < -90 || *p.Latitude > 90 {
			bad("%s.latitude must be between -90 and 90, got %g", key, *p.Latitude)
		}
		if p.Longitude == nil {
			bad("%s.longitude is required", key)
		} else if *p.Longitude < -180 || *p.Longitude > 180 {
			bad("%s.longitude must be between -180 and 180, got %g", key, *p.Longitude)
		}
		for j, code := range p.Steer {
			ckey := fmt.Sprintf("%s.steer[%d]", key, j)
			if !isRegionCode(code) {
				hint := codeHints[strings.ToUpper(code)]
				if hint == "" {
					hint = "one of " + strings.Join(RegionCodes, ", ")
				}
				bad("%s %q is not a Cloudflare region code (%s)", ckey, code, hint)
				continue
			}
			if prev, dup := steered[code]; dup {
				bad("%s %q is already steered by %s", ckey, code, prev)
				continue
			}
			steered[code] = ckey
		}
	}
	if c.Fallback == "" {
		bad("cloudflare.fallback is required (the region that takes traffic when every pool is down)")
	} else if _, ok := regions[c.Fallback]; !ok && len(regions) > 0 {
		names := make([]string, 0, len(regions))
		for r := range regions {
			names = append(names, r)
		}
		sort.Strings(names)
		bad("cloudflare.fallback %q is not a region in cloudflare.pools (%s)", c.Fallback, strings.Join(names, ", "))
	}
	return errors.Join(errs...)
}

func isRegionCode(code string) bool {
	for _, c := range RegionCodes {
		if c == code {
			return true
		}
	}
	return false
}

// Pool returns the configured pool of a region.
func (c *Config) Pool(region string) (PoolConfig, bool) {
	for _, p := range c.Pools {
		if p.Region == region {
			return p, true
		}
	}
	return PoolConfig{}, false
}

// Regions lists the configured regions in config order.
func (c *Config) Regions() []string {
	out := make([]string, len(c.Pools))
	for i, p := range c.Pools {
		out[i] = p.Region
	}
	return out
}

// fileDoc reads only the cloudflare key: the rest of the edge's file belongs
// to the edge's own loader, which checks it.
type fileDoc struct {
	Cloudflare *Config        `yaml:"cloudflare"`
	Rest       map[string]any `yaml:",inline"`
}

// Parse decodes the `cloudflare:` section of an edge YAML document over the
// defaults. Unknown keys inside the section are errors (a typo must not fall
// back to a default); other top-level keys are ignored.
func Parse(data []byte) (Config, error) {
	cfg := Defaults()
	doc := fileDoc{Cloudflare: &cfg}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return cfg, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if !hasKey(data) {
		return cfg, errors.New("no cloudflare: section")
	}
	return cfg, nil
}

// hasKey reports whether the document has a top-level cloudflare key, which
// the decoder cannot tell apart from an empty section.
func hasKey(data []byte) bool {
	var top map[string]yaml.Node
	if yaml.Unmarshal(data, &top) != nil {
		return false
	}
	_, ok := top["cloudflare"]
	return ok
}

// LoadFile reads and validates the `cloudflare:` section of an edge YAML file.
func LoadFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config %s:\n%w", path, err)
	}
	return cfg, nil
}
