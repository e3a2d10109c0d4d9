package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icon-edge/icon-edge/routing/cloudflare/cffake"
)

const edgeWithCloudflare = `
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

type cfRun struct {
	t    *testing.T
	env  map[string]string
	path string
}

func (r cfRun) run(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := runCloudflare(args, &out, &errOut, func(k string) string { return r.env[k] })
	return code, out.String(), errOut.String()
}

func newCFRun(t *testing.T, fake *cffake.Server) cfRun {
	path := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(path, []byte(edgeWithCloudflare), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfRun{t: t, path: path, env: map[string]string{"CLOUDFLARE_API_TOKEN": cffake.DefaultToken, "CLOUDFLARE_BASE_URL": fake.URL()}}
}

func startFake(t *testing.T) *cffake.Server {
	fake := cffake.New(cffake.Options{})
	if err := fake.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	return fake
}

func TestCloudflarePlanApplyDrainUndrain(t *testing.T) {
	fake := startFake(t)
	r := newCFRun(t, fake)

	code, out, errOut := r.run("plan", "--config", r.path)
	if code != 0 || !strings.Contains(out, "create pool icon_edge_rpc_example_org_eu") || !strings.Contains(out, "5 to create") {
		t.Fatalf("plan: %d\n%s\n%s", code, out, errOut)
	}
	if fake.Writes() != 0 {
		t.Fatalf("plan wrote %d times", fake.Writes())
	}
	if code, out, errOut = r.run("apply", "--config", r.path); code != 0 || !strings.Contains(out, "applied 5 change(s)") {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	writes := fake.Writes()
	if code, out, _ = r.run("apply", "--config", r.path); code != 0 || !strings.Contains(out, "no changes") || fake.Writes() != writes {
		t.Fatalf("second apply: %d %s, writes %d -> %d", code, out, writes, fake.Writes())
	}
	if code, out, errOut = r.run("drain", "--config", r.path, "--region", "eu"); code != 0 || !strings.Contains(out, "drain: region eu: origin eu of pool icon_edge_rpc_example_org_eu") {
		t.Fatalf("drain: %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ = r.run("drain", "--config", r.path, "--region", "eu"); code != 0 || !strings.Contains(out, "already drained") {
		t.Fatalf("drain again: %d %s", code, out)
	}
	if code, out, _ = r.run("undrain", "--region", "eu", "--config", r.path); code != 0 || !strings.Contains(out, "enabled again") {
		t.Fatalf("undrain: %d %s", code, out)
	}
}

func TestCloudflareUsageAndErrors(t *testing.T) {
	fake := startFake(t)
	r := newCFRun(t, fake)

	code, out, _ := r.run("--help")
	for _, want := range []string{"plan|apply|drain|undrain", "-config", "-region", "-timeout", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_BASE_URL"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("--help exited %d, output lacks %q:\n%s", code, want, out)
		}
	}
	if code, out, _ := r.run("plan", "-h"); code != 0 || !strings.Contains(out, "Environment:") {
		t.Errorf("plan -h: %d %s", code, out)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte(strings.Replace(edgeWithCloudflare, "latitude: 50.1", "latitude: 123", 1)), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "missing action"},
		{[]string{"destroy", "--config", r.path}, `unknown action "destroy"`},
		{[]string{"plan"}, "--config FILE is required"},
		{[]string{"drain", "--config", r.path}, "drain needs --region NAME"},
		{[]string{"drain", "--config", r.path, "--region", "mars"}, `region "mars" is not in cloudflare.pools`},
		{[]string{"plan", "--config", r.path, "--region", "eu"}, "--region applies only to drain and undrain"},
		{[]string{"plan", "--config", bad}, "cloudflare.pools[1].latitude must be between -90 and 90, got 123"},
		{[]string{"plan", "--config", "/nonexistent.yaml"}, "no such file"},
		{[]string{"plan", "--bogus"}, "flag provided but not defined"},
	} {
		if code, _, errOut := r.run(c.args...); code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d, stderr %q, want 2 and %q", c.args, code, errOut, c.want)
		}
	}

	noToken := r
	noToken.env = map[string]string{"CLOUDFLARE_BASE_URL": fake.URL()}
	if code, _, errOut := noToken.run("plan", "--config", r.path); code != 2 || !strings.Contains(errOut, "CLOUDFLARE_API_TOKEN is not set") {
		t.Errorf("no token: %d %s", code, errOut)
	}
	wrong := r
	wrong.env = map[string]string{"CLOUDFLARE_API_TOKEN": "wrong", "CLOUDFLARE_BASE_URL": fake.URL()}
	if code, _, errOut := wrong.run("apply", "--config", r.path); code != 1 || !strings.Contains(errOut, "Cloudflare rejected the API token") {
		t.Errorf("wrong token: %d %s", code, errOut)
	}
	if fake.Writes() != 0 {
		t.Errorf("failed runs wrote %d times", fake.Writes())
	}
}

func TestRunDispatchesCloudflare(t *testing.T) {
	if code := run([]string{"cloudflare", "--help"}); code != 0 {
		t.Fatalf("icon-edge cloudflare --help exited %d", code)
	}
}
