package tfeval

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// CloudflareInput is the cloudflare-lb module's input, the same fields as
// icon-edge's `cloudflare:` YAML section.
type CloudflareInput struct {
	AccountID, ZoneID, Hostname, Fallback string
	Monitor                               map[string]any // nil: the module's defaults
	Pools                                 []CloudflarePool
}

type CloudflarePool struct {
	Region, Origin      string
	Latitude, Longitude float64
	Steer               []string
}

// The objects the module declares, as Cloudflare's API names them. Pool
// references (default_pools, fallback_pool, region_pools) are given as pool
// names and the pools' monitor as the monitor's description, since ids
// exist only after an apply.
type CloudflareObjects struct {
	Monitor      Monitor      `json:"monitor"`
	Pools        []Pool       `json:"pools"` // in config order
	LoadBalancer LoadBalancer `json:"load_balancer"`
}

type Monitor struct {
	AccountID       string `json:"account_id"`
	Description     string `json:"description"`
	Type            string `json:"type"`
	Method          string `json:"method"`
	Path            string `json:"path"`
	ExpectedCodes   string `json:"expected_codes"`
	Interval        int    `json:"interval"`
	Timeout         int    `json:"timeout"`
	Retries         int    `json:"retries"`
	ConsecutiveUp   int    `json:"consecutive_up"`
	ConsecutiveDown int    `json:"consecutive_down"`
	Port            int    `json:"port"`
	AllowInsecure   bool   `json:"allow_insecure"`
	FollowRedirects bool   `json:"follow_redirects"`
}

type Pool struct {
	AccountID      string   `json:"account_id"`
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	Enabled        bool     `json:"enabled"`
	MinimumOrigins int      `json:"minimum_origins"`
	Monitor        string   `json:"monitor"`
	Latitude       float64  `json:"latitude"`
	Longitude      float64  `json:"longitude"`
	Origins        []Origin `json:"origins"`
}

type Origin struct {
	Name    string  `json:"name"`
	Address string  `json:"address"`
	Enabled bool    `json:"enabled"`
	Weight  float64 `json:"weight"`
	Header  struct {
		Host []string `json:"host"`
	} `json:"header"`
}

type LoadBalancer struct {
	ZoneID          string              `json:"zone_id"`
	Name            string              `json:"name"`
	Description     string              `json:"description"`
	Proxied         bool                `json:"proxied"`
	SteeringPolicy  string              `json:"steering_policy"`
	SessionAffinity string              `json:"session_affinity"`
	DefaultPools    []string            `json:"default_pools"`
	FallbackPool    string              `json:"fallback_pool"`
	RegionPools     map[string][]string `json:"region_pools"`
}

// Value is the module input as Terraform would receive it.
func (in CloudflareInput) Value() map[string]cty.Value {
	pools := make([]cty.Value, len(in.Pools))
	for i, p := range in.Pools {
		steer := make([]cty.Value, len(p.Steer))
		for j, c := range p.Steer {
			steer[j] = cty.StringVal(c)
		}
		pools[i] = cty.ObjectVal(map[string]cty.Value{
			"region": cty.StringVal(p.Region), "origin": cty.StringVal(p.Origin),
			"latitude": cty.NumberFloatVal(p.Latitude), "longitude": cty.NumberFloatVal(p.Longitude),
			"steer": cty.TupleVal(steer),
		})
	}
	v := map[string]cty.Value{
		"account_id": cty.StringVal(in.AccountID), "zone_id": cty.StringVal(in.ZoneID),
		"hostname": cty.StringVal(in.Hostname), "fallback": cty.StringVal(in.Fallback),
		"pools": cty.TupleVal(pools),
	}
	if in.Monitor != nil {
		m := map[string]cty.Value{}
		for k, x := range in.Monitor {
			switch x := x.(type) {
			case string:
				m[k] = cty.StringVal(x)
			case int:
				m[k] = cty.NumberIntVal(int64(x))
			}
		}
		v["monitor"] = cty.ObjectVal(m)
	}
	return v
}

// CloudflareDeclared evaluates the cloudflare-lb module in dir for an input
// and returns the objects its three resources declare.
func CloudflareDeclared(dir string, in CloudflareInput) (*CloudflareObjects, error) {
	m, err := Load(dir)
	if err != nil {
		return nil, err
	}
	ctx, err := m.Context(in.Value())
	if err != nil {
		return nil, err
	}
	var out CloudflareObjects

	mon := m.Block("resource", "cloudflare_load_balancer_monitor", "this")
	if mon == nil {
		return nil, fmt.Errorf("no cloudflare_load_balancer_monitor.this")
	}
	if err := evalInto(mon, ctx, &out.Monitor); err != nil {
		return nil, err
	}

	// Pools: each.key/each.value per region; the monitor id stands in as
	// the monitor's description.
	pool := m.Block("resource", "cloudflare_load_balancer_pool", "region")
	if pool == nil {
		return nil, fmt.Errorf("no cloudflare_load_balancer_pool.region")
	}
	poolIDs := map[string]cty.Value{}
	pools := ctx.Variables["var"].GetAttr("pools")
	for it := pools.ElementIterator(); it.Next(); {
		_, p := it.Element()
		region := p.GetAttr("region")
		child := ctx.NewChild()
		child.Variables = map[string]cty.Value{
			"each": cty.ObjectVal(map[string]cty.Value{"key": region, "value": p}),
			"cloudflare_load_balancer_monitor": cty.ObjectVal(map[string]cty.Value{
				"this": cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal(out.Monitor.Description)}),
			}),
		}
		var got Pool
		if err := evalInto(pool, child, &got); err != nil {
			return nil, err
		}
		out.Pools = append(out.Pools, got)
		poolIDs[region.AsString()] = cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal(got.Name)})
	}

	lb := m.Block("resource", "cloudflare_load_balancer", "this")
	if lb == nil {
		return nil, fmt.Errorf("no cloudflare_load_balancer.this")
	}
	child := ctx.NewChild()
	child.Variables = map[string]cty.Value{
		"cloudflare_load_balancer_pool": cty.ObjectVal(map[string]cty.Value{"region": cty.ObjectVal(poolIDs)}),
	}
	if err := evalInto(lb, child, &out.LoadBalancer); err != nil {
		return nil, err
	}
	return &out, nil
}

// evalInto decodes a resource's arguments strictly: an argument the Go
// type does not know is an error, so a new setting in the module cannot
// slip past the contract check.
func evalInto(blk *hclsyntax.Block, ctx *hcl.EvalContext, dst any) error {
	v, err := Attributes(blk, ctx)
	if err != nil {
		return err
	}
	js, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("%s: %v (%s)", blk.Labels, err, js)
	}
	return nil
}
