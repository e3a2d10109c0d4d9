package cloudflare

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/cloudflare/cloudflare-go/v6/load_balancers"
)

// Plan reads the account and zone and returns what Apply would change. It
// makes no writes.
func (c *Client) Plan(ctx context.Context, cfg Config) (*Plan, error) {
	want, err := Desired(cfg)
	if err != nil {
		return nil, err
	}
	r, err := c.read(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return plan(cfg, want, r), nil
}

// Apply makes Cloudflare match the configuration and returns the plan it
// carried out. Run twice, the second run makes no writes. Existing objects
// are updated in place (their ids, and so every reference to them, stay).
// An origin drained with Drain stays drained: drain state belongs to
// Drain/Undrain, not to the configuration.
func (c *Client) Apply(ctx context.Context, cfg Config) (*Plan, error) {
	p, err := c.Plan(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return p, c.execute(ctx, p)
}

// ApplyError says which change failed; the ones before it were made.
type ApplyError struct {
	Done   int    // changes made before the failure
	Change Change // the change that failed
	Err    error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("apply stopped at %q after %d change(s) were made (run plan to see what is left): %v",
		e.Change.Action+" "+e.Change.Kind+" "+e.Change.Name, e.Done, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

func (c *Client) execute(ctx context.Context, p *Plan) error {
	for i, ch := range p.Changes {
		if err := ch.run(ctx, c, p.ids); err != nil {
			return &ApplyError{Done: i, Change: ch, Err: err}
		}
		c.log.Info("cloudflare change applied", "action", ch.Action, "kind", ch.Kind, "name", ch.Name)
	}
	return nil
}

// plan compares the declaration with what Cloudflare holds.
func plan(cfg Config, want State, r *remote) *Plan {
	acct, zone := cfg.AccountID, cfg.ZoneID
	p := &Plan{ids: &idMap{pools: map[string]string{}}}
	ids := p.ids
	lb := r.loadBalancer(cfg.Hostname)
	var deletes []Change

	// The monitor: the one with our description that our pools use most.
	slug := want.Monitor.Description
	var mons []*load_balancers.Monitor
	for i := range r.monitors {
		if r.monitors[i].Description == slug {
			mons = append(mons, &r.monitors[i])
		}
	}
	uses := map[string]int{}
	for _, wp := range want.Pools {
		for _, rp := range r.poolsNamed(wp.Name, lb) {
			uses[rp.Monitor]++
		}
	}
	sort.SliceStable(mons, func(a, b int) bool { return uses[mons[a].ID] > uses[mons[b].ID] })
	if len(mons) == 0 {
		m := want.Monitor
		p.Changes = append(p.Changes, Change{Action: "create", Kind: "monitor", Name: slug,
			About: fmt.Sprintf("%s %s %s every %ds, expect %s", m.Type, m.Method, m.Path, m.Interval, m.ExpectedCodes),
			run: func(ctx context.Context, c *Client, ids *idMap) error {
				return c.call(ctx, "create monitor "+slug, func(ctx context.Context) error {
					res, err := c.lb.Monitors.New(ctx, monitorNewParams(acct, m))
					if err == nil {
						ids.monitor = res.ID
					}
					return err
				})
			}})
	} else {
		cur := mons[0]
		ids.monitor = cur.ID
		if d := diff(monitorFields(monitorFromAPI(cur)), monitorFields(want.Monitor)); len(d) > 0 {
			m, id := want.Monitor, cur.ID
			p.Changes = append(p.Changes, Change{Action: "update", Kind: "monitor", Name: slug, ID: id, Diffs: d,
				run: func(ctx context.Context, c *Client, ids *idMap) error {
					return c.call(ctx, "update monitor "+slug, func(ctx context.Context) error {
						_, err := c.lb.Monitors.Update(ctx, id, monitorUpdateParams(acct, m))
						return err
					})
				}})
		}
	}

	// Pools, found by name.
	wanted := map[string]bool{}
	for _, wp := range want.Pools {
		wanted[wp.Name] = true
		named := r.poolsNamed(wp.Name, lb)
		if len(named) == 0 {
			pool := wp
			p.Changes = append(p.Changes, Change{Action: "create", Kind: "pool", Name: pool.Name,
				About: fmt.Sprintf("origin %s at %s,%s", pool.Origins[0].Address, flt(pool.Latitude), flt(pool.Longitude)),
				run: func(ctx context.Context, c *Client, ids *idMap) error {
					return c.call(ctx, "create pool "+pool.Name, func(ctx context.Context) error {
						res, err := c.lb.Pools.New(ctx, poolNewParams(acct, ids.monitor, pool))
						if err == nil {
							ids.pools[pool.Name] = res.ID
						}
						return err
					})
				}})
			continue
		}
		cur := named[0]
		ids.pools[wp.Name] = cur.ID
		pool := keepDrained(wp, cur, p)
		if d := diff(poolFields(poolFromAPI(cur, ids.monitor, slug)), poolFields(pool)); len(d) > 0 {
			id := cur.ID
			p.Changes = append(p.Changes, Change{Action: "update", Kind: "pool", Name: pool.Name, ID: id, Diffs: d,
				run: func(ctx context.Context, c *Client, ids *idMap) error {
					return c.call(ctx, "update pool "+pool.Name, func(ctx context.Context) error {
						_, err := c.lb.Pools.Update(ctx, id, poolUpdateParams(acct, ids.monitor, pool))
						return err
					})
				}})
		}
		for _, dup := range named[1:] {
			if _, ok := ownedRegion(dup, cfg.Hostname); ok {
				deletes = append(deletes, deletePool(acct, dup, "duplicate of "+cur.ID))
			}
		}
	}
	for i := range r.pools {
		rp := &r.pools[i]
		if region, ok := ownedRegion(rp, cfg.Hostname); ok && !wanted[rp.Name] {
			deletes = append(deletes, deletePool(acct, rp, "region "+region+" is no longer configured"))
		}
	}

	// The load balancer, found by hostname.
	wl := want.LoadBalancer
	if lb == nil {
		p.Changes = append(p.Changes, Change{Action: "create", Kind: "load balancer", Name: wl.Name,
			About: fmt.Sprintf("steering %s, default_pools %s, fallback %s", wl.SteeringPolicy, list(wl.DefaultPools), wl.FallbackPool),
			run: func(ctx context.Context, c *Client, ids *idMap) error {
				rid, err := ids.resolve(wl)
				if err != nil {
					return err
				}
				return c.call(ctx, "create load balancer "+wl.Name, func(ctx context.Context) error {
					_, err := c.lb.New(ctx, lbNewParams(zone, wl, rid))
					return err
				})
			}})
	} else if d := diff(lbFields(r.lbFromAPI(lb)), lbFields(wl)); len(d) > 0 {
		id := lb.ID
		p.Changes = append(p.Changes, Change{Action: "update", Kind: "load balancer", Name: wl.Name, ID: id, Diffs: d,
			run: func(ctx context.Context, c *Client, ids *idMap) error {
				rid, err := ids.resolve(wl)
				if err != nil {
					return err
				}
				return c.call(ctx, "update load balancer "+wl.Name, func(ctx context.Context) error {
					_, err := c.lb.Update(ctx, id, lbUpdateParams(zone, wl, rid))
					return err
				})
			}})
	}

	// Duplicate monitors go last, unless a pool that is not ours uses one.
	deleted := map[string]bool{}
	for _, d := range deletes {
		deleted[d.ID] = true
	}
	for _, m := range mons[min(1, len(mons)):] {
		var users []string
		for i := range r.pools {
			rp := &r.pools[i]
			if rp.Monitor == m.ID && !wanted[rp.Name] && !deleted[rp.ID] {
				users = append(users, rp.Name)
			}
		}
		if len(users) > 0 {
			p.Notes = append(p.Notes, fmt.Sprintf("monitor %s duplicates ours but pools %v use it; left alone", m.ID, users))
			continue
		}
		id := m.ID
		deletes = append(deletes, Change{Action: "delete", Kind: "monitor", Name: slug, ID: id, About: "duplicate of " + ids.monitor,
			run: func(ctx context.Context, c *Client, _ *idMap) error {
				return c.call(ctx, "delete monitor "+id, func(ctx context.Context) error {
					var q load_balancers.MonitorDeleteParams
					set(&q.AccountID, acct)
					_, err := c.lb.Monitors.Delete(ctx, id, q)
					return ignoreNotFound(err)
				})
			}})
	}
	p.Changes = append(p.Changes, deletes...)
	return p
}

// keepDrained copies the enabled flag of existing origins into the desired
// pool, and notes each drained one.
func keepDrained(want Pool, cur *load_balancers.Pool, p *Plan) Pool {
	out := want
	out.Origins = append([]Origin(nil), want.Origins...)
	for i := range out.Origins {
		for _, o := range cur.Origins {
			if o.Name == out.Origins[i].Name {
				out.Origins[i].Enabled = o.Enabled
				if !o.Enabled {
					p.Notes = append(p.Notes, fmt.Sprintf("pool %s: origin %s is drained and stays drained (undrain --region %s enables it)",
						want.Name, o.Name, want.Region))
				}
			}
		}
	}
	return out
}

func deletePool(acct string, rp *load_balancers.Pool, why string) Change {
	id, name := rp.ID, rp.Name
	return Change{Action: "delete", Kind: "pool", Name: name, ID: id, About: why,
		run: func(ctx context.Context, c *Client, _ *idMap) error {
			return c.call(ctx, "delete pool "+name, func(ctx context.Context) error {
				var q load_balancers.PoolDeleteParams
				set(&q.AccountID, acct)
				_, err := c.lb.Pools.Delete(ctx, id, q)
				return ignoreNotFound(err)
			})
		}}
}

// ignoreNotFound: deleting what is already gone is done.
func ignoreNotFound(err error) error {
	var sdk *load_balancers.Error
	if errors.As(err, &sdk) && sdk.StatusCode == 404 {
		return nil
	}
	return err
}

func (ids *idMap) pool(name string) (string, error) {
	id := ids.pools[name]
	if id == "" {
		return "", fmt.Errorf("pool %s has no id (was its creation skipped?)", name)
	}
	return id, nil
}

func (ids *idMap) resolve(lb LoadBalancer) (lbIDs, error) {
	out := lbIDs{regionPools: map[string][]string{}}
	var err error
	for _, n := range lb.DefaultPools {
		id, e := ids.pool(n)
		err = errors.Join(err, e)
		out.defaults = append(out.defaults, id)
	}
	out.fallback, _ = ids.pool(lb.FallbackPool)
	for code, names := range lb.RegionPools {
		for _, n := range names {
			id, _ := ids.pool(n)
			out.regionPools[code] = append(out.regionPools[code], id)
		}
	}
	return out, err
}
