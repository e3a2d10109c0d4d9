package infratest

import (
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/icon-edge/icon-edge/infra/test/tfeval"
	"github.com/zclconf/go-cty/cty"
)

// contract is /work's Cloudflare naming contract (docs/deploy.md,
// "Cloudflare objects"), written independently of the module: what both
// owners, the cloudflare-lb module and `icon-edge cloudflare apply`, must
// declare for an input.
func contract(in tfeval.CloudflareInput) tfeval.CloudflareObjects {
	slug := "icon_edge_" + strings.Map(func(r rune) rune {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, in.Hostname)
	mon := map[string]int{"interval": 60, "timeout": 5, "retries": 1, "consecutive_up": 3, "consecutive_down": 2}
	path := "/readyz"
	for k, v := range in.Monitor {
		if k == "path" {
			path = v.(string)
		} else {
			mon[k] = v.(int)
		}
	}
	var out tfeval.CloudflareObjects
	out.Monitor = tfeval.Monitor{
		AccountID: in.AccountID, Description: slug, Type: "https", Method: "GET", Path: path,
		ExpectedCodes: "200", Interval: mon["interval"], Timeout: mon["timeout"], Retries: mon["retries"],
		ConsecutiveUp: mon["consecutive_up"], ConsecutiveDown: mon["consecutive_down"], Port: 443,
	}
	name := map[string]string{}
	for _, p := range in.Pools {
		name[p.Region] = slug + "_" + p.Region
		o := tfeval.Origin{Name: p.Region, Address: p.Origin, Enabled: true, Weight: 1}
		o.Header.Host = []string{p.Origin}
		out.Pools = append(out.Pools, tfeval.Pool{
			AccountID: in.AccountID, Name: name[p.Region],
			Description: "icon-edge region " + p.Region + " for " + in.Hostname,
			Enabled:     true, MinimumOrigins: 1, Monitor: slug,
			Latitude: p.Latitude, Longitude: p.Longitude, Origins: []tfeval.Origin{o},
		})
		out.LoadBalancer.DefaultPools = append(out.LoadBalancer.DefaultPools, name[p.Region])
	}
	out.LoadBalancer.ZoneID = in.ZoneID
	out.LoadBalancer.Name = in.Hostname
	out.LoadBalancer.Description = "icon-edge geo load balancer (managed)"
	out.LoadBalancer.Proxied = true
	out.LoadBalancer.SteeringPolicy = "geo"
	out.LoadBalancer.SessionAffinity = "none"
	out.LoadBalancer.FallbackPool = name[in.Fallback]
	out.LoadBalancer.RegionPools = map[string][]string{}
	for i, p := range in.Pools {
		others := make([]int, 0, len(in.Pools)-1)
		for j := range in.Pools {
			if j != i {
				others = append(others, j)
			}
		}
		sort.SliceStable(others, func(a, b int) bool {
			return greatCircleKm(p, in.Pools[others[a]]) < greatCircleKm(p, in.Pools[others[b]])
		})
		order := []string{name[p.Region]}
		for _, j := range others {
			order = append(order, name[in.Pools[j].Region])
		}
		for _, c := range p.Steer {
			out.LoadBalancer.RegionPools[c] = order
		}
	}
	return out
}

func greatCircleKm(a, b tfeval.CloudflarePool) float64 {
	rad := math.Pi / 180
	dLat, dLon := (b.Latitude-a.Latitude)*rad, (b.Longitude-a.Longitude)*rad
	h := math.Pow(math.Sin(dLat/2), 2) + math.Cos(a.Latitude*rad)*math.Cos(b.Latitude*rad)*math.Pow(math.Sin(dLon/2), 2)
	return 2 * 6371 * math.Asin(math.Sqrt(h))
}

// exampleInput reads the module call in examples/cloudflare-lb, so the test
// checks the example users copy.
func exampleInput(t *testing.T) tfeval.CloudflareInput {
	t.Helper()
	m, err := tfeval.Load(infraDir(t, "terraform", "examples", "cloudflare-lb"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := m.Context(map[string]cty.Value{
		"account_id": cty.StringVal("0123456789abcdef0123456789abcdef"), "zone_id": cty.StringVal("fedcba9876543210fedcba9876543210"),
	})
	if err != nil {
		t.Fatal(err)
	}
	call := m.Block("module", "lb")
	if call == nil {
		t.Fatal(`examples/cloudflare-lb has no module "lb"`)
	}
	v, err := tfeval.Attributes(call, ctx)
	if err != nil {
		t.Fatal(err)
	}
	in := tfeval.CloudflareInput{
		AccountID: v.GetAttr("account_id").AsString(), ZoneID: v.GetAttr("zone_id").AsString(),
		Hostname: v.GetAttr("hostname").AsString(), Fallback: v.GetAttr("fallback").AsString(),
	}
	for it := v.GetAttr("pools").ElementIterator(); it.Next(); {
		_, p := it.Element()
		lat, _ := p.GetAttr("latitude").AsBigFloat().Float64()
		lon, _ := p.GetAttr("longitude").AsBigFloat().Float64()
		pool := tfeval.CloudflarePool{Region: p.GetAttr("region").AsString(), Origin: p.GetAttr("origin").AsString(), Latitude: lat, Longitude: lon}
		for it2 := p.GetAttr("steer").ElementIterator(); it2.Next(); {
			_, c := it2.Element()
			pool.Steer = append(pool.Steer, c.AsString())
		}
		in.Pools = append(in.Pools, pool)
	}
	return in
}

func cloudflareModule(t *testing.T) string {
	return infraDir(t, "terraform", "modules", "cloudflare-lb")
}

func checkAgainstContract(t *testing.T, in tfeval.CloudflareInput) *tfeval.CloudflareObjects {
	t.Helper()
	got, err := tfeval.CloudflareDeclared(cloudflareModule(t), in)
	if err != nil {
		t.Fatal(err)
	}
	want := contract(in)
	if !reflect.DeepEqual(got.Monitor, want.Monitor) {
		t.Errorf("monitor:\n got %+v\nwant %+v", got.Monitor, want.Monitor)
	}
	if !reflect.DeepEqual(got.Pools, want.Pools) {
		t.Errorf("pools:\n got %+v\nwant %+v", got.Pools, want.Pools)
	}
	if !reflect.DeepEqual(got.LoadBalancer, want.LoadBalancer) {
		t.Errorf("load balancer:\n got %+v\nwant %+v", got.LoadBalancer, want.LoadBalancer)
	}
	return got
}

func TestCloudflareExampleMatchesContract(t *testing.T) {
	in := exampleInput(t)
	got := checkAgainstContract(t, in)

	// The example's figures spelled out, so a wrong oracle cannot agree
	// with a wrong module.
	if got.Monitor.Description != "icon_edge_rpc_example_org" || got.Monitor.Path != "/readyz" {
		t.Errorf("monitor %+v", got.Monitor)
	}
	names := []string{}
	for _, p := range got.Pools {
		names = append(names, p.Name)
	}
	if want := []string{"icon_edge_rpc_example_org_us", "icon_edge_rpc_example_org_eu", "icon_edge_rpc_example_org_asia"}; !reflect.DeepEqual(names, want) {
		t.Errorf("pool names %v, want %v", names, want)
	}
	p := func(r ...string) []string {
		for i := range r {
			r[i] = "icon_edge_rpc_example_org_" + r[i]
		}
		return r
	}
	// Ashburn-Frankfurt ~6 500 km, Frankfurt-Singapore ~10 300 km,
	// Ashburn-Singapore ~15 600 km.
	want := map[string][]string{
		"WNAM": p("us", "eu", "asia"), "ENAM": p("us", "eu", "asia"),
		"WEU": p("eu", "us", "asia"), "EEU": p("eu", "us", "asia"), "ME": p("eu", "us", "asia"), "NAF": p("eu", "us", "asia"),
		"SEAS": p("asia", "eu", "us"), "NEAS": p("asia", "eu", "us"), "OC": p("asia", "eu", "us"), "SAS": p("asia", "eu", "us"),
	}
	if !reflect.DeepEqual(got.LoadBalancer.RegionPools, want) {
		t.Errorf("region_pools %v\nwant %v", got.LoadBalancer.RegionPools, want)
	}
	if got.LoadBalancer.FallbackPool != "icon_edge_rpc_example_org_eu" {
		t.Errorf("fallback %q", got.LoadBalancer.FallbackPool)
	}
}

// Orderings that the example does not exercise: pools across the date line
// (Auckland is nearer Honolulu than Tokyo), five pools, a hostname with
// dashes and dots, and a monitor override.
func TestCloudflareOrderingEdgeCases(t *testing.T) {
	in := tfeval.CloudflareInput{
		AccountID: "0123456789abcdef0123456789abcdef", ZoneID: "fedcba9876543210fedcba9876543210", Hostname: "icx-rpc.node-1.example.co.kr", Fallback: "hnl",
		Monitor: map[string]any{"path": "/readyz", "interval": 15, "consecutive_down": 3},
		Pools: []tfeval.CloudflarePool{
			{Region: "akl", Origin: "akl.o.example", Latitude: -36.85, Longitude: 174.76, Steer: []string{"OC"}},
			{Region: "hnl", Origin: "hnl.o.example", Latitude: 21.31, Longitude: -157.86, Steer: []string{"WNAM"}},
			{Region: "scl", Origin: "scl.o.example", Latitude: -33.45, Longitude: -70.67, Steer: []string{"SSAM", "NSAM"}},
			{Region: "nrt", Origin: "nrt.o.example", Latitude: 35.68, Longitude: 139.69, Steer: []string{"NEAS"}},
			{Region: "syd", Origin: "syd.o.example", Latitude: -33.87, Longitude: 151.21, Steer: []string{"SEAS"}},
		},
	}
	got := checkAgainstContract(t, in)
	if got.Monitor.Description != "icon_edge_icx_rpc_node_1_example_co_kr" {
		t.Errorf("slug %q", got.Monitor.Description)
	}
	// From Auckland: Sydney 2 200 km, Honolulu 7 100 km (across the date
	// line), Tokyo 8 800 km, Santiago 9 700 km.
	want := []string{"akl", "syd", "hnl", "nrt", "scl"}
	for i := range want {
		want[i] = "icon_edge_icx_rpc_node_1_example_co_kr_" + want[i]
	}
	if !reflect.DeepEqual(got.LoadBalancer.RegionPools["OC"], want) {
		t.Errorf("OC -> %v, want %v", got.LoadBalancer.RegionPools["OC"], want)
	}
}

// The oracle itself must notice a wrong order: swap two pools' coordinates
// and the module's answer for the example must change.
func TestCloudflareContractCheckCanFail(t *testing.T) {
	in := exampleInput(t)
	got, err := tfeval.CloudflareDeclared(cloudflareModule(t), in)
	if err != nil {
		t.Fatal(err)
	}
	moved := in
	moved.Pools = append([]tfeval.CloudflarePool(nil), in.Pools...)
	moved.Pools[0].Latitude, moved.Pools[0].Longitude = 35.68, 139.69 // "us" pool placed in Tokyo
	if reflect.DeepEqual(got.LoadBalancer.RegionPools, contract(moved).LoadBalancer.RegionPools) {
		t.Fatal("moving a pool did not change the expected steering table")
	}
}
