package cloudflare

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// exampleYAML is the example with the South America code fixed
// (Cloudflare has NSAM and SSAM, no SAM), inside an edge config file.
const exampleYAML = `
listen: 127.0.0.1:9080
region: eu
upstreams: [http://127.0.0.1:9181]
cloudflare:
  account_id: 0000000000000000000000000000acc1
  zone_id: 00000000000000000000000000000201
  hostname: rpc.example.org
  monitor: {path: /readyz, interval: 60, timeout: 5, retries: 1, consecutive_up: 3, consecutive_down: 2}
  fallback: us
  pools:
    - {region: us,   origin: us.rpc.example.org,   latitude: 39.0, longitude: -77.5, steer: [WNAM, ENAM, NSAM, SSAM]}
    - {region: eu,   origin: eu.rpc.example.org,   latitude: 50.1, longitude: 8.7,   steer: [WEU, EEU, ME, NAF, SAF]}
    - {region: asia, origin: asia.rpc.example.org, latitude: 1.3,  longitude: 103.8, steer: [SEAS, NEAS, SAS, OC]}
`

func mustParse(t *testing.T, doc string) Config {
	t.Helper()
	cfg, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestParseReadsOnlyTheCloudflareSectionOverDefaults(t *testing.T) {
	cfg, err := Parse([]byte("listen: x\nsomething_else: {a: 1}\ncloudflare:\n  monitor: {interval: 30}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults().Monitor
	want.Interval = 30
	if cfg.Monitor != want {
		t.Fatalf("monitor = %+v, want defaults with interval 30: %+v", cfg.Monitor, want)
	}
	if _, err := Parse([]byte("listen: x\n")); err == nil || !strings.Contains(err.Error(), "no cloudflare: section") {
		t.Fatalf("missing section: %v", err)
	}
	_, err = Parse([]byte("cloudflare:\n  hostnme: rpc.example.org\n"))
	if err == nil || !strings.Contains(err.Error(), "hostnme") {
		t.Fatalf("a misspelt key must be an error naming it, got %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(path, []byte(exampleYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hostname != "rpc.example.org" || len(cfg.Pools) != 3 || *cfg.Pools[2].Longitude != 103.8 {
		t.Fatalf("loaded %+v", cfg)
	}
	bad := strings.Replace(exampleYAML, "latitude: 50.1", "latitude: 123", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); err == nil || !strings.Contains(err.Error(), "cloudflare.pools[1].latitude must be between -90 and 90, got 123") {
		t.Fatalf("got %v", err)
	}
}

func TestValidateNamesTheYAMLKey(t *testing.T) {
	cases := []struct{ edit, want string }{
		{"latitude: 50.1", "cloudflare.pools[1].latitude must be between -90 and 90, got 123"},
		{"longitude: 8.7", "cloudflare.pools[1].longitude must be between -180 and 180, got 200"},
		{"fallback: us", `cloudflare.fallback "mars" is not a region in cloudflare.pools (asia, eu, us)`},
		{"region: eu,", `cloudflare.pools[1].region "e.u" may contain only letters, digits, - and _`},
		{"steer: [WNAM, ENAM, NSAM, SSAM]", `cloudflare.pools[0].steer[2] "SAM" is not a Cloudflare region code (South America is NSAM and SSAM)`},
		{"steer: [SEAS, NEAS, SAS, OC]", `cloudflare.pools[2].steer[0] "WEU" is already steered by cloudflare.pools[1].steer[0]`},
		{"interval: 60", "cloudflare.monitor.interval must be between 10 and 3600, got 4000"},
		{"account_id: 0000000000000000000000000000acc1", `cloudflare.account_id must be the 32-hex-digit account id, got "acct"`},
		{"origin: asia.rpc.example.org", `cloudflare.pools[2].origin must be the region's public hostname like eu.rpc.example.org, got "https://asia"`},
		{"path: /readyz", `cloudflare.monitor.path must start with /, got "readyz"`},
		{"latitude: 39.0, ", "cloudflare.pools[0].latitude is required"},
	}
	replace := map[string]string{
		"latitude: 50.1":                  "latitude: 123",
		"longitude: 8.7":                  "longitude: 200",
		"fallback: us":                    "fallback: mars",
		"region: eu,":                     "region: e.u,",
		"steer: [WNAM, ENAM, NSAM, SSAM]": "steer: [WNAM, ENAM, SAM]",
		"steer: [SEAS, NEAS, SAS, OC]":    "steer: [WEU, NEAS]",
		"interval: 60":                    "interval: 4000",
		"account_id: 0000000000000000000000000000acc1": "account_id: acct",
		"origin: asia.rpc.example.org":                 "origin: https://asia",
		"path: /readyz":                                "path: readyz",
		"latitude: 39.0, ":                             "",
	}
	for _, c := range cases {
		doc := strings.Replace(exampleYAML, c.edit, replace[c.edit], 1)
		cfg, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("%s: parse: %v", c.edit, err)
		}
		err = cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v\nwant an error containing %s", c.edit, err, c.want)
		}
	}
	cfg := mustParse(t, exampleYAML)
	cfg.Pools = nil
	cfg.Hostname = ""
	err := cfg.Validate()
	for _, want := range []string{"cloudflare.hostname is required", "cloudflare.pools must list at least one region"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("all problems at once: got %v, want %s", err, want)
		}
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"rpc.example.org":  "icon_edge_rpc_example_org",
		"RPC-1.example.io": "icon_edge_RPC_1_example_io",
	} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDesiredFollowsTheContract spells out, object by object, what
// docs/geo.md's contract says the example configuration declares.
func TestDesiredFollowsTheContract(t *testing.T) {
	st, err := Desired(mustParse(t, exampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	const us, eu, asia = "icon_edge_rpc_example_org_us", "icon_edge_rpc_example_org_eu", "icon_edge_rpc_example_org_asia"
	pool := func(region, name string, lat, lon float64) Pool {
		o := region + ".rpc.example.org"
		return Pool{Region: region, Name: name, Description: "icon-edge region " + region + " for rpc.example.org",
			Enabled: true, MinimumOrigins: 1, Monitor: "icon_edge_rpc_example_org", Latitude: lat, Longitude: lon,
			Origins: []Origin{{Name: region, Address: o, Enabled: true, Weight: 1, Host: []string{o}}}}
	}
	usFirst, euFirst, asiaFirst := []string{us, eu, asia}, []string{eu, us, asia}, []string{asia, eu, us}
	want := State{
		Monitor: Monitor{Description: "icon_edge_rpc_example_org", Type: "https", Method: "GET", Path: "/readyz",
			ExpectedCodes: "200", Interval: 60, Timeout: 5, Retries: 1, ConsecutiveUp: 3, ConsecutiveDown: 2,
			Header: map[string][]string{}, Port: 443},
		Pools: []Pool{pool("us", us, 39, -77.5), pool("eu", eu, 50.1, 8.7), pool("asia", asia, 1.3, 103.8)},
		LoadBalancer: LoadBalancer{Name: "rpc.example.org", Description: "icon-edge geo load balancer (managed)",
			Proxied: true, SteeringPolicy: "geo", SessionAffinity: "none", DefaultPools: []string{us, eu, asia},
			FallbackPool: us, RegionPools: map[string][]string{
				"WNAM": usFirst, "ENAM": usFirst, "NSAM": usFirst, "SSAM": usFirst,
				"WEU": euFirst, "EEU": euFirst, "ME": euFirst, "NAF": euFirst, "SAF": euFirst,
				"SEAS": asiaFirst, "NEAS": asiaFirst, "SAS": asiaFirst, "OC": asiaFirst,
			}},
	}
	if !reflect.DeepEqual(st, want) {
		got, _ := json.MarshalIndent(st, "", " ")
		t.Fatalf("desired state differs from the contract:\n%s", got)
	}
}

func TestGreatCircle(t *testing.T) {
	// Frankfurt to Ashburn is about 6,500 km; to Singapore about 10,300 km.
	if d := greatCircleKm(50.1, 8.7, 39, -77.5); d < 6300 || d > 6700 {
		t.Errorf("FRA-IAD %v km", d)
	}
	if d := greatCircleKm(50.1, 8.7, 1.3, 103.8); d < 10100 || d > 10500 {
		t.Errorf("FRA-SIN %v km", d)
	}
}
