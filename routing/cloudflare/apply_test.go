package cloudflare

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/routing/cloudflare/cffake"
)

type harness struct {
	fake   *cffake.Server
	client *Client
	cfg    Config
	mu     sync.Mutex
	waits  []time.Duration // what the client slept between tries
}

func newHarness(t *testing.T, fo cffake.Options) *harness {
	t.Helper()
	fake := cffake.New(fo)
	if err := fake.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	c, err := NewClient(Options{Token: cffake.DefaultToken, BaseURL: fake.URL(), Attempts: 4, Backoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{fake: fake, client: c, cfg: mustParse(t, exampleYAML)}
	// Waits are recorded, not slept: the retry tests check the policy
	// without depending on the clock.
	c.sleep = func(ctx context.Context, d time.Duration) error {
		h.mu.Lock()
		h.waits = append(h.waits, d)
		h.mu.Unlock()
		return ctx.Err()
	}
	return h
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

type obj map[string]any

func objects(t *testing.T, raw []json.RawMessage) []obj {
	t.Helper()
	out := make([]obj, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func actions(p *Plan) []string {
	var out []string
	for _, ch := range p.Changes {
		out = append(out, ch.Action+" "+ch.Kind+" "+ch.Name)
	}
	return out
}

func TestPlanOnAnEmptyAccountCreatesEverythingAndWritesNothing(t *testing.T) {
	h := newHarness(t, cffake.Options{})
	p, err := h.client.Plan(ctx(t), h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"create monitor icon_edge_rpc_example_org",
		"create pool icon_edge_rpc_example_org_us", "create pool icon_edge_rpc_example_org_eu",
		"create pool icon_edge_rpc_example_org_asia", "create load balancer rpc.example.org",
	}
	if strings.Join(actions(p), "\n") != strings.Join(want, "\n") {
		t.Fatalf("plan:\n%s", p)
	}
	if !strings.Contains(p.String(), "5 to create, 0 to update, 0 to delete") {
		t.Fatalf("summary missing:\n%s", p)
	}
	if h.fake.Writes() != 0 {
		t.Fatalf("plan made %d writes", h.fake.Writes())
	}
}

func TestApplyCreatesTheContractObjectsAndIsIdempotent(t *testing.T) {
	h := newHarness(t, cffake.Options{})
	if _, err := h.client.Apply(ctx(t), h.cfg); err != nil {
		t.Fatal(err)
	}
	snap := h.fake.Objects()
	mons, pools, lbs := objects(t, snap.Monitors), objects(t, snap.Pools), objects(t, snap.LoadBalancers)
	if len(mons) != 1 || len(pools) != 3 || len(lbs) != 1 {
		t.Fatalf("objects: %d monitors, %d pools, %d load balancers", len(mons), len(pools), len(lbs))
	}
	m := mons[0]
	if m["description"] != "icon_edge_rpc_example_org" || m["type"] != "https" || m["path"] != "/readyz" ||
		m["expected_codes"] != "200" || m["interval"] != 60.0 || m["port"] != 443.0 || len(m["header"].(map[string]any)) != 0 {
		t.Fatalf("monitor %v", m)
	}
	names := map[string]string{} // id -> name
	for _, p := range pools {
		names[p["id"].(string)] = p["name"].(string)
		if p["monitor"] != m["id"] {
			t.Errorf("pool %s monitor %v, want %v", p["name"], p["monitor"], m["id"])
		}
		o := p["origins"].([]any)[0].(map[string]any)
		host := o["header"].(map[string]any)["Host"].([]any)[0]
		if o["address"] != host || o["enabled"] != true || o["weight"] != 1.0 {
			t.Errorf("pool %s origin %v", p["name"], o)
		}
	}
	lb := lbs[0]
	rp := lb["region_pools"].(map[string]any)
	var weu []string
	for _, id := range rp["WEU"].([]any) {
		weu = append(weu, names[id.(string)])
	}
	if strings.Join(weu, ",") != "icon_edge_rpc_example_org_eu,icon_edge_rpc_example_org_us,icon_edge_rpc_example_org_asia" ||
		names[lb["fallback_pool"].(string)] != "icon_edge_rpc_example_org_us" || lb["steering_policy"] != "geo" || lb["proxied"] != true {
		t.Fatalf("load balancer %v (WEU %v)", lb, weu)
	}

	writes := h.fake.Writes()
	p, err := h.client.Apply(ctx(t), h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() || h.fake.Writes() != writes {
		t.Fatalf("second apply: plan\n%s\nwrites %d -> %d", p, writes, h.fake.Writes())
	}
	if !strings.Contains(p.String(), "no changes") {
		t.Fatalf("plan text %q", p)
	}
}

func TestAChangedFieldIsAnInPlaceUpdate(t *testing.T) {
	h := newHarness(t, cffake.Options{})
	if _, err := h.client.Apply(ctx(t), h.cfg); err != nil {
		t.Fatal(err)
	}
	before := h.fake.Objects()
	requests := len(h.fake.Requests())
	h.cfg.Monitor.Interval = 30
	*h.cfg.Pools[1].Latitude = 50.2
	p, err := h.client.Plan(ctx(t), h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := p.String()
	for _, want := range []string{"update monitor icon_edge_rpc_example_org", "interval: 60 -> 30",
		"update pool icon_edge_rpc_example_org_eu", "latitude: 50.1 -> 50.2", "0 to create, 2 to update, 0 to delete"} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
	if _, err := h.client.Apply(ctx(t), h.cfg); err != nil {
		t.Fatal(err)
	}
	for _, r := range h.fake.Requests()[requests:] {
		if r.Method == "POST" || r.Method == "DELETE" {
			t.Errorf("a changed field recreated something: %s %s", r.Method, r.Path)
		}
	}
	after := h.fake.Objects()
	for i := range before.Pools {
		b, a := objects(t, before.Pools)[i], objects(t, after.Pools)[i]
		if a["id"] != b["id"] {
			t.Errorf("pool id changed %v -> %v", b["id"], a["id"])
		}
	}
	if objects(t, after.Monitors)[0]["interval"] != 30.0 || objects(t, after.Pools)[1]["latitude"] != 50.2 {
		t.Fatalf("not updated: %s %s", after.Monitors[0], after.Pools[1])
	}
	if p, _ := h.client.Plan(ctx(t), h.cfg); !p.Empty() {
		t.Fatalf("after the update the plan is not empty:\n%s", p)
	}
}

func TestARemovedRegionIsDeletedAfterTheLoadBalancerLetsGo(t *testing.T) {
	h := newHarness(t, cffake.Options{})
	if _, err := h.client.Apply(ctx(t), h.cfg); err != nil {
		t.Fatal(err)
	}
	h.cfg.Pools = h.cfg.Pools[:2]
	p, err := h.client.Apply(ctx(t), h.cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, p)
	}
	want := "update load balancer rpc.example.org\ndelete pool icon_edge_rpc_example_org_asia"
	if strings.Join(actions(p), "\n") != want {
		t.Fatalf("plan:\n%s", p)
	}
	if n := len(h.fake.Objects().Pools); n != 2 {
		t.Fatalf("%d pools left", n)
	}
}

func TestApplyFindsItsObjectsAcrossPages(t *testing.T) {
	h := newHarness(t, cffake.Options{MaxPerPage: 2})
	if _, err := h.client.Apply(ctx(t), h.cfg); err != nil {
		t.Fatal(err)
	}
	writes := h.fake.Writes()
	p, err := h.client.Apply(ctx(t), h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() || h.fake.Writes() != writes || len(h.fake.Objects().Pools) != 3 {
		t.Fatalf("with two pools a page the second apply planned\n%s", p)
	}
}

func TestDrainAndUndrainFlipOnlyTheOrigin(t *testing.T) {
	h := newHarness(t, cffake.Options{})
	if _, err := h.client.Apply(ctx(t), h.cfg); err != nil {
		t.Fatal(err)
	}
	before := objects(t, h.fake.Objects().Pools)
	res, err := h.client.Drain(ctx(t), h.cfg, "eu")
	if err != nil {
		t.Fatal(err)
	}
	if res.Pool != "icon_edge_rpc_example_org_eu" || strings.Join(res.Origins, ",") != "eu" {
		t.Fatalf("drain result %+v", res)
	}
	after := objects(t, h.fake.Objects().Pools)
	for i := range before {
		b, a := before[i], after[i]
		bo, ao := b["origins"].([]any)[0].(map[string]any), a["origins"].([]any)[0].(map[string]any)
		wantEnabled := b["name"] != "icon_edge_rpc_example_org_eu"
		if ao["enabled"] != wantEnabled {
			t.Errorf("%s origin enabled = %v", a["name"], ao["enabled"])
		}
		for _, m := range []map[string]any{b, a, bo, ao} {
			delete(m, "modified_on")
			delete(m, "enabled")
			delete(m, "disabled_at")
		}
		bj, _ := json.Marshal(b)
		aj, _ := json.Marshal(a)
		if string(bj) != string(aj) {
			t.Errorf("drain touched more than origin.enabled:\n%s\n%s", bj, aj)
		}
	}
	writes := h.fake.Writes()
	if res, err := h.client.Drain(ctx(t), h.cfg, "eu"); err != nil || len(res.Origins) != 0 || h.fake.Writes() != writes {
		t.Fatalf("draining a drained region: %+v %v, writes %d -> %d", res, err, writes, h.fake.Writes())
	}
	p, err := h.client.Apply(ctx(t), h.cfg)
	if err != nil || !p.Empty() || h.fake.Writes() != writes {
		t.Fatalf("apply must keep a drain: %v\n%s", err, p)
	}
	if !strings.Contains(p.String(), "origin eu is drained and stays drained") {
		t.Fatalf("plan does not mention the drain:\n%s", p)
	}
	if _, err := h.client.Undrain(ctx(t), h.cfg, "eu"); err != nil {
		t.Fatal(err)
	}
	for _, pool := range objects(t, h.fake.Objects().Pools) {
		if pool["origins"].([]any)[0].(map[string]any)["enabled"] != true {
			t.Fatalf("undrain left %s disabled", pool["name"])
		}
	}
	if _, err := h.client.Drain(ctx(t), h.cfg, "mars"); err == nil || !strings.Contains(err.Error(), `region "mars" is not in cloudflare.pools (us, eu, asia)`) {
		t.Fatalf("unknown region: %v", err)
	}
}

func TestDrainBeforeApplySaysSo(t *testing.T) {
	h := newHarness(t, cffake.Options{})
	_, err := h.client.Drain(ctx(t), h.cfg, "eu")
	if err == nil || !strings.Contains(err.Error(), "run `icon-edge cloudflare apply` first") {
		t.Fatalf("got %v", err)
	}
}

func TestRetriesOn429HonouringRetryAfterAndOn5xxWithBackoff(t *testing.T) {
	h := newHarness(t, cffake.Options{})
	h.fake.FailNext(2, 429, "3")
	h.fake.FailNext(1, 503, "")
	if _, err := h.client.Plan(ctx(t), h.cfg); err != nil {
		t.Fatal(err)
	}
	if len(h.waits) != 3 || h.waits[0] != 3*time.Second || h.waits[1] != 3*time.Second {
		t.Fatalf("waits %v: want 3s, 3s (Retry-After) then a backoff", h.waits)
	}
	// The third wait is the backoff of the third try: 4 s doubled twice from
	// 1 s, with up to half taken off as jitter.
	if h.waits[2] < 2*time.Second || h.waits[2] > 4*time.Second {
		t.Fatalf("backoff wait %v", h.waits[2])
	}
}

func TestRetriesAreBoundedAndTheErrorSaysWhy(t *testing.T) {
	h := newHarness(t, cffake.Options{})
	h.fake.FailNext(10, 429, "2")
	_, err := h.client.Plan(ctx(t), h.cfg)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Attempts != 4 || apiErr.Status != 429 {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{"list monitors: rate limited by Cloudflare (HTTP 429) after 4 attempts", "wait 2s (Retry-After)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}

	h = newHarness(t, cffake.Options{})
	h.fake.FailNext(1, 429, "300")
	_, err = h.client.Plan(ctx(t), h.cfg)
	if err == nil || len(h.waits) != 0 || !strings.Contains(err.Error(), "wait 5m0s (Retry-After)") {
		t.Fatalf("a lockout longer than MaxRetryAfter must fail at once: %v (waits %v)", err, h.waits)
	}

	h = newHarness(t, cffake.Options{})
	h.fake.FailNext(10, 502, "")
	_, err = h.client.Plan(ctx(t), h.cfg)
	if err == nil || !strings.Contains(err.Error(), "Cloudflare API error (HTTP 502) after 4 attempts") {
		t.Fatalf("got %v", err)
	}
}

func TestBadTokenIsReportedAsSuch(t *testing.T) {
	h := newHarness(t, cffake.Options{Token: "the-real-one"})
	_, err := h.client.Plan(ctx(t), h.cfg)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || !apiErr.AuthFailed() || apiErr.Attempts != 1 ||
		!strings.Contains(err.Error(), "Cloudflare rejected the API token (HTTP 403)") || !strings.Contains(err.Error(), "CLOUDFLARE_API_TOKEN") {
		t.Fatalf("got %v", err)
	}
	if _, err := NewClient(Options{}); err == nil || !strings.Contains(err.Error(), "CLOUDFLARE_API_TOKEN is not set") {
		t.Fatalf("no token: %v", err)
	}
}

func TestUnreachableAPI(t *testing.T) {
	h := newHarness(t, cffake.Options{})
	url := h.fake.URL()
	_ = h.fake.Close()
	c, _ := NewClient(Options{Token: "x", BaseURL: url, Attempts: 2})
	c.sleep = func(context.Context, time.Duration) error { return nil }
	_, err := c.Plan(ctx(t), h.cfg)
	if err == nil || !strings.Contains(err.Error(), "cannot reach the Cloudflare API after 2 attempts") {
		t.Fatalf("got %v", err)
	}
}

func TestApplyCleansUpDuplicatesItOwnsAndLeavesOthersAlone(t *testing.T) {
	h := newHarness(t, cffake.Options{})
	st, _ := Desired(h.cfg)
	c, acct, ctx := h.client.lb, h.cfg.AccountID, ctx(t)
	// Two monitors with our description and two pools with eu's name, as two
	// applies racing each other would leave; plus a pool that is not ours.
	m1, err := c.Monitors.New(ctx, monitorNewParams(acct, st.Monitor))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Monitors.New(ctx, monitorNewParams(acct, st.Monitor)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.Pools.New(ctx, poolNewParams(acct, m1.ID, st.Pools[1])); err != nil {
			t.Fatal(err)
		}
	}
	foreign := st.Pools[0]
	foreign.Name, foreign.Description = "icon_edge_rpc_example_org_legacy", "someone else's pool"
	if _, err := c.Pools.New(ctx, poolNewParams(acct, m1.ID, foreign)); err != nil {
		t.Fatal(err)
	}
	p, err := h.client.Apply(ctx, h.cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, p)
	}
	text := p.String()
	for _, want := range []string{"delete pool icon_edge_rpc_example_org_eu", "delete monitor icon_edge_rpc_example_org"} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "legacy") {
		t.Errorf("a pool icon-edge did not make was touched:\n%s", text)
	}
	snap := h.fake.Objects()
	if len(snap.Monitors) != 1 || len(snap.Pools) != 4 {
		t.Fatalf("%d monitors, %d pools after cleanup", len(snap.Monitors), len(snap.Pools))
	}
	writes := h.fake.Writes()
	if p, err := h.client.Apply(ctx, h.cfg); err != nil || !p.Empty() || h.fake.Writes() != writes {
		t.Fatalf("apply after cleanup: %v\n%s", err, p)
	}
}
