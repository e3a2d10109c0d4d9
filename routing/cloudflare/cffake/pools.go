package cffake

import (
	"net"
	"net/http"
	"regexp"
	"strings"
)

type origin struct {
	Name             string  `json:"name"`
	Address          string  `json:"address"`
	Enabled          bool    `json:"enabled"`
	Weight           float64 `json:"weight"`
	Header           *header `json:"header,omitempty"`
	Port             int64   `json:"port,omitempty"`
	VirtualNetworkID string  `json:"virtual_network_id,omitempty"`
	DisabledAt       string  `json:"disabled_at,omitempty"`
}

// header is an origin's request headers; Cloudflare takes only Host.
type header struct {
	Host []string `json:"Host"`
}

type pool struct {
	ID                string   `json:"id"`
	CreatedOn         string   `json:"created_on"`
	ModifiedOn        string   `json:"modified_on"`
	Name              string   `json:"name"`
	Description       string   `json:"description"`
	Enabled           bool     `json:"enabled"`
	MinimumOrigins    int64    `json:"minimum_origins"`
	Monitor           string   `json:"monitor,omitempty"`
	Latitude          *float64 `json:"latitude,omitempty"`
	Longitude         *float64 `json:"longitude,omitempty"`
	Origins           []origin `json:"origins"`
	NotificationEmail string   `json:"notification_email"`
	CheckRegions      []string `json:"check_regions"`
}

type originIn struct {
	Name             *string              `json:"name"`
	Address          *string              `json:"address"`
	Enabled          *bool                `json:"enabled"`
	Weight           *float64             `json:"weight"`
	Header           *map[string][]string `json:"header"`
	Port             *int64               `json:"port"`
	VirtualNetworkID *string              `json:"virtual_network_id"`
}

type poolIn struct {
	Name              *string     `json:"name"`
	Description       *string     `json:"description"`
	Enabled           *bool       `json:"enabled"`
	MinimumOrigins    *int64      `json:"minimum_origins"`
	Monitor           *string     `json:"monitor"`
	Latitude          *float64    `json:"latitude"`
	Longitude         *float64    `json:"longitude"`
	Origins           *[]originIn `json:"origins"`
	NotificationEmail *string     `json:"notification_email"`
	CheckRegions      *[]string   `json:"check_regions"`
}

var (
	poolName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	hostName = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
)

func (in *poolIn) applyTo(p *pool) *reply {
	pick(&p.Name, in.Name)
	pick(&p.Description, in.Description)
	pick(&p.Enabled, in.Enabled)
	pick(&p.MinimumOrigins, in.MinimumOrigins)
	pick(&p.Monitor, in.Monitor)
	if in.Latitude != nil {
		p.Latitude = in.Latitude
	}
	if in.Longitude != nil {
		p.Longitude = in.Longitude
	}
	pick(&p.NotificationEmail, in.NotificationEmail)
	pick(&p.CheckRegions, in.CheckRegions)
	if in.Origins == nil {
		return nil
	}
	p.Origins = nil
	for i, o := range *in.Origins {
		out := origin{Enabled: true, Weight: 1}
		pick(&out.Name, o.Name)
		pick(&out.Address, o.Address)
		pick(&out.Enabled, o.Enabled)
		pick(&out.Weight, o.Weight)
		pick(&out.Port, o.Port)
		pick(&out.VirtualNetworkID, o.VirtualNetworkID)
		if o.Header != nil {
			for k, v := range *o.Header {
				if !strings.EqualFold(k, "Host") {
					r := invalid("origins[%d].header: only the Host header may be set on an origin, got %q", i, k)
					return &r
				}
				out.Header = &header{Host: v}
			}
		}
		if !out.Enabled {
			out.DisabledAt = now()
		}
		p.Origins = append(p.Origins, out)
	}
	return nil
}

func validAddress(a string) bool {
	return net.ParseIP(a) != nil || (len(a) <= 253 && hostName.MatchString(a))
}

func (s *Server) validatePool(p *pool) *reply {
	bad := func(format string, args ...any) *reply { r := invalid(format, args...); return &r }
	switch {
	case p.Name == "":
		return bad("name is required")
	case !poolName.MatchString(p.Name):
		return bad("pool name %q is invalid: only letters, digits, - and _ are allowed", p.Name)
	case len(p.Origins) == 0:
		return bad("origins is required: a pool needs at least one origin")
	case p.MinimumOrigins < 0 || int(p.MinimumOrigins) > len(p.Origins):
		return bad("minimum_origins must be between 0 and the number of origins (%d)", len(p.Origins))
	case p.Latitude != nil && (*p.Latitude < -90 || *p.Latitude > 90):
		return bad("latitude must be between -90 and 90")
	case p.Longitude != nil && (*p.Longitude < -180 || *p.Longitude > 180):
		return bad("longitude must be between -180 and 180")
	case p.Monitor != "" && s.monitors.get(p.Monitor) == nil:
		return bad("monitor %s does not exist in this account", p.Monitor)
	}
	names := map[string]bool{}
	for i, o := range p.Origins {
		switch {
		case o.Name == "":
			return bad("origins[%d].name is required", i)
		case names[o.Name]:
			return bad("origins[%d].name %q is used twice", i, o.Name)
		case o.Address == "":
			return bad("origins[%d].address is required", i)
		case !validAddress(o.Address):
			return bad("origins[%d].address %q must be a hostname or an IP address", i, o.Address)
		case o.Weight < 0 || o.Weight > 1:
			return bad("origins[%d].weight must be between 0 and 1", i)
		case o.Port < 0 || o.Port > 65535:
			return bad("origins[%d].port must be between 0 and 65535", i)
		}
		names[o.Name] = true
	}
	return nil
}

func (s *Server) poolsAPI(r *http.Request, rest []string) reply {
	if len(rest) == 0 {
		switch r.Method {
		case http.MethodGet:
			return page(r, s.pools.all(), s.opts.MaxPerPage)
		case http.MethodPost:
			var in poolIn
			if rep := decode(r, &in); rep != nil {
				return *rep
			}
			if in.Name == nil || in.Origins == nil {
				return invalid("name and origins are required")
			}
			p := pool{Enabled: true, MinimumOrigins: 1}
			if rep := in.applyTo(&p); rep != nil {
				return *rep
			}
			if rep := s.validatePool(&p); rep != nil {
				return *rep
			}
			p.ID, p.CreatedOn = newID(), now()
			p.ModifiedOn = p.CreatedOn
			s.pools.add(p.ID, &p)
			return ok(&p)
		}
		return methodNotAllowed()
	}
	cur := s.pools.get(rest[0])
	if cur == nil {
		return notFound("pool")
	}
	if len(rest) == 2 && rest[1] == "health" && r.Method == http.MethodGet {
		return ok(s.poolHealth(cur))
	}
	if len(rest) != 1 {
		return notFound("route")
	}
	switch r.Method {
	case http.MethodGet:
		return ok(cur)
	case http.MethodPut, http.MethodPatch:
		var in poolIn
		if rep := decode(r, &in); rep != nil {
			return *rep
		}
		next := *cur
		if r.Method == http.MethodPut {
			if in.Name == nil || in.Origins == nil {
				return invalid("name and origins are required")
			}
			next = pool{ID: cur.ID, CreatedOn: cur.CreatedOn, Enabled: true, MinimumOrigins: 1}
		}
		if rep := in.applyTo(&next); rep != nil {
			return *rep
		}
		if rep := s.validatePool(&next); rep != nil {
			return *rep
		}
		next.ModifiedOn = now()
		*cur = next
		return ok(cur)
	case http.MethodDelete:
		for _, lb := range s.lbs.all() {
			if lb.uses(cur.ID) {
				return invalid("pool %s is in use by load balancer %s (%s)", cur.Name, lb.Name, lb.ID)
			}
		}
		s.pools.remove(cur.ID)
		delete(s.health, cur.ID)
		return ok(map[string]string{"id": cur.ID})
	}
	return methodNotAllowed()
}

// poolHealth is the health endpoint's answer: per data center, healthy or
// not, with each origin's result.
func (s *Server) poolHealth(p *pool) map[string]any {
	healthy, set := s.health[p.ID]
	if !set {
		healthy = false
		if p.Enabled {
			for _, o := range p.Origins {
				healthy = healthy || o.Enabled
			}
		}
	}
	pops := map[string]any{}
	for _, pop := range []string{"Ashburn, VA, US", "Frankfurt, DE", "Singapore, SG"} {
		var origins []map[string]any
		for _, o := range p.Origins {
			res := map[string]any{"healthy": healthy && o.Enabled, "rtt": "12.1ms", "failure_reason": "No failures", "response_code": 200}
			if !(healthy && o.Enabled) {
				res["failure_reason"] = "HTTP response code 503 does not match expected code 200"
				res["response_code"] = 503
			}
			origins = append(origins, map[string]any{o.Address: res})
		}
		pops[pop] = map[string]any{"healthy": healthy, "origins": origins}
	}
	return map[string]any{"pool_id": p.ID, "pop_health": pops}
}
