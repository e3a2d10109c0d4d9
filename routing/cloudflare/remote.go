package cloudflare

import (
	"context"
	"sort"
	"strings"

	"github.com/cloudflare/cloudflare-go/v6/load_balancers"
	"github.com/cloudflare/cloudflare-go/v6/option"
)

// remote is what the account and zone hold, read in three list calls.
type remote struct {
	monitors []load_balancers.Monitor
	pools    []load_balancers.Pool
	lbs      []load_balancers.LoadBalancer
	poolByID map[string]*load_balancers.Pool
}

func (c *Client) read(ctx context.Context, cfg Config) (*remote, error) {
	r := &remote{poolByID: map[string]*load_balancers.Pool{}}
	var err error
	r.monitors, err = listAll(ctx, c, "list monitors", func(ctx context.Context, o ...option.RequestOption) ([]load_balancers.Monitor, string, error) {
		var q load_balancers.MonitorListParams
		set(&q.AccountID, cfg.AccountID)
		p, err := c.lb.Monitors.List(ctx, q, o...)
		if err != nil {
			return nil, "", err
		}
		return p.Result, p.JSON.RawJSON(), nil
	})
	if err != nil {
		return nil, err
	}
	r.pools, err = c.listPools(ctx, cfg.AccountID)
	if err != nil {
		return nil, err
	}
	for i := range r.pools {
		r.poolByID[r.pools[i].ID] = &r.pools[i]
	}
	r.lbs, err = listAll(ctx, c, "list load balancers", func(ctx context.Context, o ...option.RequestOption) ([]load_balancers.LoadBalancer, string, error) {
		var q load_balancers.LoadBalancerListParams
		set(&q.ZoneID, cfg.ZoneID)
		p, err := c.lb.List(ctx, q, o...)
		if err != nil {
			return nil, "", err
		}
		return p.Result, p.JSON.RawJSON(), nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (c *Client) listPools(ctx context.Context, account string) ([]load_balancers.Pool, error) {
	return listAll(ctx, c, "list pools", func(ctx context.Context, o ...option.RequestOption) ([]load_balancers.Pool, string, error) {
		var q load_balancers.PoolListParams
		set(&q.AccountID, account)
		p, err := c.lb.Pools.List(ctx, q, o...)
		if err != nil {
			return nil, "", err
		}
		return p.Result, p.JSON.RawJSON(), nil
	})
}

// loadBalancer finds the zone's load balancer for hostname. Cloudflare
// names load balancers by their full hostname, case-insensitively.
func (r *remote) loadBalancer(hostname string) *load_balancers.LoadBalancer {
	for i := range r.lbs {
		if strings.EqualFold(strings.TrimSuffix(r.lbs[i].Name, "."), hostname) {
			return &r.lbs[i]
		}
	}
	return nil
}

// poolsNamed returns the pools with a name, the one the load balancer uses
// first (so a duplicate never steals the live pool's place).
func (r *remote) poolsNamed(name string, lb *load_balancers.LoadBalancer) []*load_balancers.Pool {
	var out []*load_balancers.Pool
	for i := range r.pools {
		if r.pools[i].Name == name {
			out = append(out, &r.pools[i])
		}
	}
	used := map[string]bool{}
	if lb != nil {
		for _, id := range lb.DefaultPools {
			used[id] = true
		}
		used[lb.FallbackPool] = true
	}
	sort.SliceStable(out, func(a, b int) bool { return used[out[a].ID] && !used[out[b].ID] })
	return out
}

// ownedRegion reports whether a pool is one icon-edge made for hostname
// (name and description both match) and for which region; only such pools
// are ever deleted.
func ownedRegion(p *load_balancers.Pool, hostname string) (string, bool) {
	prefix := Slug(hostname) + "_"
	region, ok := strings.CutPrefix(p.Name, prefix)
	if !ok || region == "" || p.Description != poolDescription(hostname, region) {
		return "", false
	}
	return region, true
}

func monitorFromAPI(m *load_balancers.Monitor) Monitor {
	return Monitor{
		Description: m.Description, Type: string(m.Type), Method: m.Method, Path: m.Path,
		ExpectedCodes: m.ExpectedCodes, Interval: m.Interval, Timeout: m.Timeout, Retries: m.Retries,
		ConsecutiveUp: m.ConsecutiveUp, ConsecutiveDown: m.ConsecutiveDown, Header: m.Header,
		Port: m.Port, AllowInsecure: m.AllowInsecure, FollowRedirects: m.FollowRedirects,
	}
}

// poolFromAPI converts a pool, naming its monitor monitorName when the id is
// the monitor in use (else by id, which then differs from any desired name).
func poolFromAPI(p *load_balancers.Pool, monitorID, monitorName string) Pool {
	out := Pool{
		Name: p.Name, Description: p.Description, Enabled: p.Enabled, MinimumOrigins: p.MinimumOrigins,
		Monitor: p.Monitor, Latitude: p.Latitude, Longitude: p.Longitude,
	}
	if p.Monitor != "" && p.Monitor == monitorID {
		out.Monitor = monitorName
	} else if p.Monitor != "" {
		out.Monitor = "id:" + p.Monitor
	}
	for _, o := range p.Origins {
		out.Origins = append(out.Origins, Origin{
			Name: o.Name, Address: o.Address, Enabled: o.Enabled, Weight: o.Weight, Host: o.Header.Host,
		})
	}
	return out
}

func (r *remote) poolRef(id string) string {
	if p := r.poolByID[id]; p != nil {
		return p.Name
	}
	return "id:" + id
}

func (r *remote) lbFromAPI(lb *load_balancers.LoadBalancer) LoadBalancer {
	out := LoadBalancer{
		Name: lb.Name, Description: lb.Description, Proxied: lb.Proxied,
		SteeringPolicy: string(lb.SteeringPolicy), SessionAffinity: string(lb.SessionAffinity),
		FallbackPool: r.poolRef(lb.FallbackPool), RegionPools: map[string][]string{},
	}
	for _, id := range lb.DefaultPools {
		out.DefaultPools = append(out.DefaultPools, r.poolRef(id))
	}
	for code, ids := range lb.RegionPools {
		names := make([]string, len(ids))
		for i, id := range ids {
			names[i] = r.poolRef(id)
		}
		out.RegionPools[code] = names
	}
	return out
}
