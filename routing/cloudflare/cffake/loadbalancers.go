package cffake

import (
	"net/http"
	"slices"
	"sort"
	"strings"
)

type loadBalancer struct {
	ID              string              `json:"id"`
	CreatedOn       string              `json:"created_on"`
	ModifiedOn      string              `json:"modified_on"`
	Name            string              `json:"name"`
	Description     string              `json:"description"`
	Enabled         bool                `json:"enabled"`
	Proxied         bool                `json:"proxied"`
	TTL             float64             `json:"ttl"`
	SteeringPolicy  string              `json:"steering_policy"`
	SessionAffinity string              `json:"session_affinity"`
	DefaultPools    []string            `json:"default_pools"`
	FallbackPool    string              `json:"fallback_pool"`
	RegionPools     map[string][]string `json:"region_pools"`
	CountryPools    map[string][]string `json:"country_pools"`
	POPPools        map[string][]string `json:"pop_pools"`
	ZoneName        string              `json:"zone_name"`
}

type lbIn struct {
	Name            *string              `json:"name"`
	Description     *string              `json:"description"`
	Enabled         *bool                `json:"enabled"`
	Proxied         *bool                `json:"proxied"`
	TTL             *float64             `json:"ttl"`
	SteeringPolicy  *string              `json:"steering_policy"`
	SessionAffinity *string              `json:"session_affinity"`
	DefaultPools    *[]string            `json:"default_pools"`
	FallbackPool    *string              `json:"fallback_pool"`
	RegionPools     *map[string][]string `json:"region_pools"`
	CountryPools    *map[string][]string `json:"country_pools"`
	POPPools        *map[string][]string `json:"pop_pools"`
}

func (s *Server) defaultLB() loadBalancer {
	return loadBalancer{
		Enabled: true, TTL: 30, SteeringPolicy: "off", SessionAffinity: "none", ZoneName: s.opts.ZoneName,
		RegionPools: map[string][]string{}, CountryPools: map[string][]string{}, POPPools: map[string][]string{},
	}
}

func (in *lbIn) applyTo(lb *loadBalancer) {
	pick(&lb.Name, in.Name)
	pick(&lb.Description, in.Description)
	pick(&lb.Enabled, in.Enabled)
	pick(&lb.Proxied, in.Proxied)
	pick(&lb.TTL, in.TTL)
	pick(&lb.SteeringPolicy, in.SteeringPolicy)
	pick(&lb.SessionAffinity, in.SessionAffinity)
	pick(&lb.DefaultPools, in.DefaultPools)
	pick(&lb.FallbackPool, in.FallbackPool)
	pick(&lb.RegionPools, in.RegionPools)
	pick(&lb.CountryPools, in.CountryPools)
	pick(&lb.POPPools, in.POPPools)
	for _, m := range []*map[string][]string{&lb.RegionPools, &lb.CountryPools, &lb.POPPools} {
		if *m == nil {
			*m = map[string][]string{}
		}
	}
}

// uses reports whether the load balancer refers to a pool anywhere.
func (lb *loadBalancer) uses(poolID string) bool {
	if lb.FallbackPool == poolID || slices.Contains(lb.DefaultPools, poolID) {
		return true
	}
	for _, m := range []map[string][]string{lb.RegionPools, lb.CountryPools, lb.POPPools} {
		for _, ids := range m {
			if slices.Contains(ids, poolID) {
				return true
			}
		}
	}
	return false
}

var (
	regionCodes      = []string{"WNAM", "ENAM", "WEU", "EEU", "NSAM", "SSAM", "OC", "ME", "NAF", "SAF", "SAS", "SEAS", "NEAS"}
	steeringPolicies = []string{"off", "geo", "random", "dynamic_latency", "proximity", "least_outstanding_requests", "least_connections", ""}
	affinities       = []string{"none", "cookie", "ip_cookie", "header", ""}
)

func (s *Server) validateLB(lb *loadBalancer, selfID string) *reply {
	bad := func(format string, args ...any) *reply { r := invalid(format, args...); return &r }
	name := strings.ToLower(strings.TrimSuffix(lb.Name, "."))
	zone := strings.ToLower(s.opts.ZoneName)
	switch {
	case lb.Name == "":
		return bad("name is required")
	case !hostName.MatchString(name) || (name != zone && !strings.HasSuffix(name, "."+zone)):
		return bad("name %q must be a hostname in zone %s", lb.Name, s.opts.ZoneName)
	case len(lb.DefaultPools) == 0:
		return bad("default_pools is required and must list at least one pool")
	case lb.FallbackPool == "":
		return bad("fallback_pool is required")
	case s.pools.get(lb.FallbackPool) == nil:
		return bad("fallback_pool %s is not a pool in this account", lb.FallbackPool)
	case !slices.Contains(steeringPolicies, lb.SteeringPolicy):
		return bad("steering_policy %q is not one of %s", lb.SteeringPolicy, strings.Join(steeringPolicies, ", "))
	case !slices.Contains(affinities, lb.SessionAffinity):
		return bad("session_affinity %q is not one of none, cookie, ip_cookie, header", lb.SessionAffinity)
	}
	for _, other := range s.lbs.all() {
		if other.ID != selfID && strings.EqualFold(strings.TrimSuffix(other.Name, "."), name) {
			return bad("a load balancer named %s already exists (%s)", other.Name, other.ID)
		}
	}
	for i, id := range lb.DefaultPools {
		if s.pools.get(id) == nil {
			return bad("default_pools[%d]: pool %s does not exist in this account", i, id)
		}
	}
	codes := make([]string, 0, len(lb.RegionPools))
	for code := range lb.RegionPools {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		if !slices.Contains(regionCodes, code) {
			return bad("region_pools: %q is not a region code (%s)", code, strings.Join(regionCodes, ", "))
		}
		if len(lb.RegionPools[code]) == 0 {
			return bad("region_pools.%s must list at least one pool", code)
		}
		for _, id := range lb.RegionPools[code] {
			if s.pools.get(id) == nil {
				return bad("region_pools.%s: pool %s does not exist in this account", code, id)
			}
		}
	}
	for _, m := range []map[string][]string{lb.CountryPools, lb.POPPools} {
		for key, ids := range m {
			for _, id := range ids {
				if s.pools.get(id) == nil {
					return bad("%s: pool %s does not exist in this account", key, id)
				}
			}
		}
	}
	return nil
}

func (s *Server) lbAPI(r *http.Request, rest []string) reply {
	if len(rest) == 0 {
		switch r.Method {
		case http.MethodGet:
			return page(r, s.lbs.all(), s.opts.MaxPerPage)
		case http.MethodPost:
			var in lbIn
			if rep := decode(r, &in); rep != nil {
				return *rep
			}
			lb := s.defaultLB()
			in.applyTo(&lb)
			if rep := s.validateLB(&lb, ""); rep != nil {
				return *rep
			}
			lb.ID, lb.CreatedOn = newID(), now()
			lb.ModifiedOn = lb.CreatedOn
			s.lbs.add(lb.ID, &lb)
			return ok(&lb)
		}
		return methodNotAllowed()
	}
	if len(rest) != 1 {
		return notFound("route")
	}
	cur := s.lbs.get(rest[0])
	if cur == nil {
		return notFound("load balancer")
	}
	switch r.Method {
	case http.MethodGet:
		return ok(cur)
	case http.MethodPut, http.MethodPatch:
		var in lbIn
		if rep := decode(r, &in); rep != nil {
			return *rep
		}
		next := *cur
		if r.Method == http.MethodPut {
			next = s.defaultLB()
			next.ID, next.CreatedOn = cur.ID, cur.CreatedOn
		}
		in.applyTo(&next)
		if rep := s.validateLB(&next, cur.ID); rep != nil {
			return *rep
		}
		next.ModifiedOn = now()
		*cur = next
		return ok(cur)
	case http.MethodDelete:
		s.lbs.remove(cur.ID)
		return ok(map[string]string{"id": cur.ID})
	}
	return methodNotAllowed()
}
