package infratest

import (
	"reflect"
	"testing"

	"github.com/icon-edge/icon-edge/infra/test/tfeval"
	"github.com/icon-edge/icon-edge/routing/cloudflare"
)

// An operator may own the Cloudflare objects with Terraform
// (modules/cloudflare-lb) or with `icon-edge cloudflare apply`: both must
// declare the same objects, with the same names and settings, or switching
// owners would recreate (or duplicate) the load balancer.
func TestTerraformAndIconEdgeDeclareTheSameCloudflareObjects(t *testing.T) {
	inputs := map[string]tfeval.CloudflareInput{"example": exampleInput(t), "date line": {
		AccountID: "0123456789abcdef0123456789abcdef", ZoneID: "fedcba9876543210fedcba9876543210",
		Hostname: "icx-rpc.node-1.example.co.kr", Fallback: "hnl",
		Pools: []tfeval.CloudflarePool{
			{Region: "akl", Origin: "akl.o.example", Latitude: -36.85, Longitude: 174.76, Steer: []string{"OC"}},
			{Region: "hnl", Origin: "hnl.o.example", Latitude: 21.31, Longitude: -157.86, Steer: []string{"WNAM"}},
			{Region: "scl", Origin: "scl.o.example", Latitude: -33.45, Longitude: -70.67, Steer: []string{"SSAM", "NSAM"}},
			{Region: "nrt", Origin: "nrt.o.example", Latitude: 35.68, Longitude: 139.69, Steer: []string{"NEAS"}},
		},
	}}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			tf, err := tfeval.CloudflareDeclared(cloudflareModule(t), in)
			if err != nil {
				t.Fatal(err)
			}
			cfg := cloudflare.Defaults()
			cfg.AccountID, cfg.ZoneID, cfg.Hostname, cfg.Fallback = in.AccountID, in.ZoneID, in.Hostname, in.Fallback
			for _, p := range in.Pools {
				lat, lon := p.Latitude, p.Longitude
				cfg.Pools = append(cfg.Pools, cloudflare.PoolConfig{Region: p.Region, Origin: p.Origin, Latitude: &lat, Longitude: &lon, Steer: p.Steer})
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			goSide, err := cloudflare.Desired(cfg)
			if err != nil {
				t.Fatal(err)
			}
			m, gm := tf.Monitor, goSide.Monitor
			if m.Description != gm.Description || m.Type != gm.Type || m.Method != gm.Method || m.Path != gm.Path ||
				m.ExpectedCodes != gm.ExpectedCodes || int64(m.Interval) != gm.Interval || int64(m.Timeout) != gm.Timeout ||
				int64(m.Retries) != gm.Retries || int64(m.ConsecutiveUp) != gm.ConsecutiveUp || int64(m.ConsecutiveDown) != gm.ConsecutiveDown ||
				int64(m.Port) != gm.Port || m.AllowInsecure != gm.AllowInsecure || m.FollowRedirects != gm.FollowRedirects {
				t.Errorf("monitor:\nterraform  %+v\nicon-edge  %+v", m, gm)
			}
			if len(tf.Pools) != len(goSide.Pools) {
				t.Fatalf("terraform declares %d pools, icon-edge %d", len(tf.Pools), len(goSide.Pools))
			}
			for i, p := range tf.Pools {
				g := goSide.Pools[i]
				if p.Name != g.Name || p.Description != g.Description || p.Enabled != g.Enabled || int64(p.MinimumOrigins) != g.MinimumOrigins ||
					p.Latitude != g.Latitude || p.Longitude != g.Longitude || len(p.Origins) != len(g.Origins) {
					t.Errorf("pool %d:\nterraform  %+v\nicon-edge  %+v", i, p, g)
					continue
				}
				for j, o := range p.Origins {
					go_ := g.Origins[j]
					if o.Name != go_.Name || o.Address != go_.Address || o.Enabled != go_.Enabled || o.Weight != go_.Weight ||
						!reflect.DeepEqual(o.Header.Host, go_.Host) {
						t.Errorf("pool %s origin %d:\nterraform  %+v\nicon-edge  %+v", p.Name, j, o, go_)
					}
				}
			}
			lb, gl := tf.LoadBalancer, goSide.LoadBalancer
			if lb.Name != gl.Name || lb.Description != gl.Description || lb.Proxied != gl.Proxied || lb.SteeringPolicy != gl.SteeringPolicy ||
				lb.SessionAffinity != gl.SessionAffinity || !reflect.DeepEqual(lb.DefaultPools, gl.DefaultPools) ||
				lb.FallbackPool != gl.FallbackPool || !reflect.DeepEqual(lb.RegionPools, gl.RegionPools) {
				t.Errorf("load balancer:\nterraform  %+v\nicon-edge  %+v", lb, gl)
			}
		})
	}
}
