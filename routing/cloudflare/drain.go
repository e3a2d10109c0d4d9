package cloudflare

import (
	"context"
	"fmt"
	"strings"

	"github.com/cloudflare/cloudflare-go/v6/load_balancers"
)

// DrainResult says what Drain or Undrain did.
type DrainResult struct {
	Pool    string   // pool name
	PoolID  string   // Cloudflare's id
	Origins []string // origins whose enabled flag was flipped; empty: already so
}

func (d DrainResult) String() string {
	if len(d.Origins) == 0 {
		return fmt.Sprintf("pool %s (%s): nothing to change", d.Pool, d.PoolID)
	}
	return fmt.Sprintf("pool %s (%s): origin(s) %s flipped", d.Pool, d.PoolID, strings.Join(d.Origins, ", "))
}

// Drain disables the origins of a region's pool, so Cloudflare sends that
// region's traffic to the next pools of region_pools; nothing else changes.
func (c *Client) Drain(ctx context.Context, cfg Config, region string) (DrainResult, error) {
	return c.setOrigins(ctx, cfg, region, false)
}

// Undrain enables the origins of a region's pool again.
func (c *Client) Undrain(ctx context.Context, cfg Config, region string) (DrainResult, error) {
	return c.setOrigins(ctx, cfg, region, true)
}

// setOrigins is a read-modify-write of one pool's origins: read the pool,
// flip enabled on every origin, send the origins back with PATCH, which
// leaves every other pool setting as it is. Every origin of the pool flips:
// draining a region must leave it no traffic. Cloudflare has no conditional
// writes for pools, so an edit between the read and the write is lost;
// the window is one round trip.
func (c *Client) setOrigins(ctx context.Context, cfg Config, region string, enabled bool) (DrainResult, error) {
	if _, ok := cfg.Pool(region); !ok {
		return DrainResult{}, fmt.Errorf("region %q is not in cloudflare.pools (%s)", region, strings.Join(cfg.Regions(), ", "))
	}
	name := PoolName(cfg.Hostname, region)
	res := DrainResult{Pool: name}
	pools, err := c.listPools(ctx, cfg.AccountID)
	if err != nil {
		return res, err
	}
	var pool *load_balancers.Pool
	for i := range pools {
		if pools[i].Name == name {
			pool = &pools[i]
			break
		}
	}
	if pool == nil {
		return res, fmt.Errorf("pool %s does not exist on Cloudflare; run `icon-edge cloudflare apply` first", name)
	}
	res.PoolID = pool.ID
	params := make([]load_balancers.OriginParam, len(pool.Origins))
	for i, o := range pool.Origins {
		params[i] = copyOrigin(o)
		if o.Enabled != enabled {
			set(&params[i].Enabled, enabled)
			res.Origins = append(res.Origins, o.Name)
		}
	}
	if len(res.Origins) == 0 {
		return res, nil
	}
	var q load_balancers.PoolEditParams
	set(&q.AccountID, cfg.AccountID)
	set(&q.Origins, params)
	verb := "drain"
	if enabled {
		verb = "undrain"
	}
	err = c.call(ctx, verb+" pool "+name, func(ctx context.Context) error {
		_, err := c.lb.Pools.Edit(ctx, pool.ID, q)
		return err
	})
	return res, err
}

// copyOrigin sends an origin back as it was read: every writable field the
// API returned, and none it did not.
func copyOrigin(o load_balancers.Origin) load_balancers.OriginParam {
	var p load_balancers.OriginParam
	set(&p.Name, o.Name)
	set(&p.Address, o.Address)
	set(&p.Enabled, o.Enabled)
	if !o.JSON.Weight.IsNull() {
		set(&p.Weight, o.Weight)
	}
	if !o.JSON.Header.IsNull() {
		var h load_balancers.HeaderParam
		set(&h.Host, o.Header.Host)
		set(&p.Header, h)
	}
	if !o.JSON.Port.IsNull() {
		set(&p.Port, o.Port)
	}
	if !o.JSON.VirtualNetworkID.IsNull() {
		set(&p.VirtualNetworkID, o.VirtualNetworkID)
	}
	if !o.JSON.FlattenCNAME.IsNull() {
		set(&p.FlattenCNAME, o.FlattenCNAME)
	}
	return p
}
