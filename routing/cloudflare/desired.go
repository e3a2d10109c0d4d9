package cloudflare

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// The objects below are what icon-edge declares on Cloudflare, with the
// names and settings of the contract in docs/geo.md ("Cloudflare objects").
// References between objects are by name (the monitor's description, pool
// names), because ids exist only once Cloudflare has created the objects.
// The Terraform module infra/terraform/modules/cloudflare-lb declares the
// same objects; a cross-check compares its plan with Desired.

// Monitor is the account-level load balancer monitor.
type Monitor struct {
	Description     string              `json:"description"`
	Type            string              `json:"type"`
	Method          string              `json:"method"`
	Path            string              `json:"path"`
	ExpectedCodes   string              `json:"expected_codes"`
	Interval        int64               `json:"interval"`
	Timeout         int64               `json:"timeout"`
	Retries         int64               `json:"retries"`
	ConsecutiveUp   int64               `json:"consecutive_up"`
	ConsecutiveDown int64               `json:"consecutive_down"`
	Header          map[string][]string `json:"header"`
	Port            int64               `json:"port"`
	AllowInsecure   bool                `json:"allow_insecure"`
	FollowRedirects bool                `json:"follow_redirects"`
}

// Origin is a pool's origin; Host is its Host header.
type Origin struct {
	Name    string   `json:"name"`
	Address string   `json:"address"`
	Enabled bool     `json:"enabled"`
	Weight  float64  `json:"weight"`
	Host    []string `json:"host"`
}

// Pool is one region's pool. Monitor names the monitor by its description.
type Pool struct {
	Region         string   `json:"-"`
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	Enabled        bool     `json:"enabled"`
	MinimumOrigins int64    `json:"minimum_origins"`
	Monitor        string   `json:"monitor"`
	Latitude       float64  `json:"latitude"`
	Longitude      float64  `json:"longitude"`
	Origins        []Origin `json:"origins"`
}

// LoadBalancer is the zone's load balancer; pools are named, not numbered.
type LoadBalancer struct {
	Name            string              `json:"name"`
	Description     string              `json:"description"`
	Proxied         bool                `json:"proxied"`
	SteeringPolicy  string              `json:"steering_policy"`
	SessionAffinity string              `json:"session_affinity"`
	DefaultPools    []string            `json:"default_pools"`
	FallbackPool    string              `json:"fallback_pool"`
	RegionPools     map[string][]string `json:"region_pools"`
}

// State is a full declaration: one monitor, the pools in config order, one
// load balancer.
type State struct {
	Monitor      Monitor      `json:"monitor"`
	Pools        []Pool       `json:"pools"`
	LoadBalancer LoadBalancer `json:"load_balancer"`
}

// Slug is the prefix of every name icon-edge owns for a hostname:
// "icon_edge_" + hostname with everything outside [A-Za-z0-9] as "_".
func Slug(hostname string) string {
	var b strings.Builder
	b.WriteString("icon_edge_")
	for _, r := range hostname {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// PoolName is the name of a region's pool.
func PoolName(hostname, region string) string { return Slug(hostname) + "_" + region }

func poolDescription(hostname, region string) string {
	return fmt.Sprintf("icon-edge region %s for %s", region, hostname)
}

// LoadBalancerDescription marks the load balancer as managed by icon-edge.
const LoadBalancerDescription = "icon-edge geo load balancer (managed)"

// Desired computes the objects a valid configuration declares.
func Desired(c Config) (State, error) {
	if err := c.Validate(); err != nil {
		return State{}, err
	}
	slug := Slug(c.Hostname)
	st := State{Monitor: Monitor{
		Description: slug, Type: "https", Method: "GET", Path: c.Monitor.Path, ExpectedCodes: "200",
		Interval: c.Monitor.Interval, Timeout: c.Monitor.Timeout, Retries: c.Monitor.Retries,
		ConsecutiveUp: c.Monitor.ConsecutiveUp, ConsecutiveDown: c.Monitor.ConsecutiveDown,
		Header: map[string][]string{}, Port: 443,
	}}
	for _, p := range c.Pools {
		st.Pools = append(st.Pools, Pool{
			Region: p.Region, Name: PoolName(c.Hostname, p.Region),
			Description: poolDescription(c.Hostname, p.Region), Enabled: true, MinimumOrigins: 1,
			Monitor: slug, Latitude: *p.Latitude, Longitude: *p.Longitude,
			Origins: []Origin{{Name: p.Region, Address: p.Origin, Enabled: true, Weight: 1, Host: []string{p.Origin}}},
		})
	}
	lb := LoadBalancer{
		Name: c.Hostname, Description: LoadBalancerDescription, Proxied: true, SteeringPolicy: "geo",
		SessionAffinity: "none", FallbackPool: PoolName(c.Hostname, c.Fallback), RegionPools: map[string][]string{},
	}
	for _, p := range st.Pools {
		lb.DefaultPools = append(lb.DefaultPools, p.Name)
	}
	for i, p := range c.Pools {
		if len(p.Steer) == 0 {
			continue
		}
		order := byDistance(c.Pools, i)
		names := make([]string, len(order))
		for k, j := range order {
			names[k] = st.Pools[j].Name
		}
		for _, code := range p.Steer {
			lb.RegionPools[code] = names
		}
	}
	st.LoadBalancer = lb
	return st, nil
}

// byDistance returns pool indexes: from first, then the others nearest
// first (ties in config order), so a region's traffic fails over to the
// closest surviving region.
func byDistance(pools []PoolConfig, from int) []int {
	others := make([]int, 0, len(pools)-1)
	for j := range pools {
		if j != from {
			others = append(others, j)
		}
	}
	f := pools[from]
	sort.SliceStable(others, func(a, b int) bool {
		pa, pb := pools[others[a]], pools[others[b]]
		return greatCircleKm(*f.Latitude, *f.Longitude, *pa.Latitude, *pa.Longitude) <
			greatCircleKm(*f.Latitude, *f.Longitude, *pb.Latitude, *pb.Longitude)
	})
	return append([]int{from}, others...)
}

// greatCircleKm is the haversine distance on a 6371 km sphere.
func greatCircleKm(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * 6371 * math.Asin(math.Min(1, math.Sqrt(a)))
}
