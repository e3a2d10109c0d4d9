package cloudflare

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cloudflare/cloudflare-go/v6/load_balancers"

	"github.com/icon-edge/icon-edge/routing/cloudflare/cffake"
)

// The fake must refuse what Cloudflare refuses, or the tests above would
// prove nothing. Each request goes through cloudflare-go, as apply's do.

func wantRefusal(t *testing.T, what string, err error, status int, text string) {
	t.Helper()
	var sdk *load_balancers.Error
	if !errors.As(err, &sdk) {
		t.Errorf("%s: accepted (err %v)", what, err)
		return
	}
	msg := toAPIError(what, err).Error()
	if sdk.StatusCode != status || !strings.Contains(msg, text) {
		t.Errorf("%s: got %d %s, want %d with %q", what, sdk.StatusCode, msg, status, text)
	}
}

func TestFakeRefusesWhatCloudflareRefuses(t *testing.T) {
	h := newHarness(t, cffake.Options{})
	c, acct := h.client.lb, h.cfg.AccountID
	st, _ := Desired(h.cfg)
	ctx := ctx(t)

	m := st.Monitor
	m.ExpectedCodes = ""
	_, err := c.Monitors.New(ctx, monitorNewParams(acct, m))
	wantRefusal(t, "https monitor without expected_codes", err, 400, "expected_codes is required")

	mon, err := c.Monitors.New(ctx, monitorNewParams(acct, st.Monitor))
	if err != nil {
		t.Fatal(err)
	}

	p := st.Pools[0]
	p.Name = "icon_edge_rpc.example.org_us"
	_, err = c.Pools.New(ctx, poolNewParams(acct, mon.ID, p))
	wantRefusal(t, "pool name with dots", err, 400, "only letters, digits, - and _ are allowed")

	var noOrigins load_balancers.PoolNewParams
	set(&noOrigins.AccountID, acct)
	set(&noOrigins.Name, "icon_edge_x")
	_, err = c.Pools.New(ctx, noOrigins)
	wantRefusal(t, "pool without origins", err, 400, "name and origins are required")

	_, err = c.Pools.New(ctx, poolNewParams(acct, "0123456789abcdef0123456789abcdef", st.Pools[0]))
	wantRefusal(t, "pool with an unknown monitor", err, 400, "monitor 0123456789abcdef0123456789abcdef does not exist")

	p = st.Pools[0]
	p.Origins = []Origin{{Name: "us", Address: "https://us.rpc.example.org/", Enabled: true, Weight: 1}}
	_, err = c.Pools.New(ctx, poolNewParams(acct, mon.ID, p))
	wantRefusal(t, "origin address with a scheme", err, 400, "must be a hostname or an IP address")

	pool, err := c.Pools.New(ctx, poolNewParams(acct, mon.ID, st.Pools[0]))
	if err != nil {
		t.Fatal(err)
	}
	zone, lb := h.cfg.ZoneID, st.LoadBalancer
	good := lbIDs{defaults: []string{pool.ID}, fallback: pool.ID, regionPools: map[string][]string{"WNAM": {pool.ID}}}

	bad := good
	bad.regionPools = map[string][]string{"WNAM": {pool.ID, "ffffffffffffffffffffffffffffffff"}}
	_, err = c.New(ctx, lbNewParams(zone, lb, bad))
	wantRefusal(t, "region_pools with an unknown pool", err, 400, "region_pools.WNAM: pool ffffffffffffffffffffffffffffffff does not exist")

	bad = good
	bad.regionPools = map[string][]string{"SAM": {pool.ID}}
	_, err = c.New(ctx, lbNewParams(zone, lb, bad))
	wantRefusal(t, "region_pools with an unknown region code", err, 400, `"SAM" is not a region code`)

	bad = good
	bad.fallback = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
	_, err = c.New(ctx, lbNewParams(zone, lb, bad))
	wantRefusal(t, "fallback_pool not in the account", err, 400, "fallback_pool eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee is not a pool in this account")

	bad = good
	bad.defaults = nil
	_, err = c.New(ctx, lbNewParams(zone, lb, bad))
	wantRefusal(t, "no default_pools", err, 400, "default_pools is required")

	outside := lb
	outside.Name = "rpc.example.com"
	_, err = c.New(ctx, lbNewParams(zone, outside, good))
	wantRefusal(t, "load balancer outside the zone", err, 400, "must be a hostname in zone example.org")

	if _, err := c.New(ctx, lbNewParams(zone, lb, good)); err != nil {
		t.Fatal(err)
	}
	_, err = c.New(ctx, lbNewParams(zone, lb, good))
	wantRefusal(t, "a second load balancer with the same name", err, 400, "already exists")

	var dp load_balancers.PoolDeleteParams
	set(&dp.AccountID, acct)
	_, err = c.Pools.Delete(ctx, pool.ID, dp)
	wantRefusal(t, "deleting a pool in use", err, 400, "is in use by load balancer rpc.example.org")

	var dm load_balancers.MonitorDeleteParams
	set(&dm.AccountID, acct)
	_, err = c.Monitors.Delete(ctx, mon.ID, dm)
	wantRefusal(t, "deleting a monitor in use", err, 400, "is in use by pool")

	var gp load_balancers.PoolGetParams
	set(&gp.AccountID, acct)
	_, err = c.Pools.Get(ctx, "dddddddddddddddddddddddddddddddd", gp)
	wantRefusal(t, "an unknown pool id", err, 404, "pool not found")

	var other load_balancers.PoolListParams
	set(&other.AccountID, "99999999999999999999999999999999")
	_, err = c.Pools.List(ctx, other)
	wantRefusal(t, "another account", err, 403, "Authentication error")
}

func TestFakeSpeaksTheEnvelopeAndWantsABearerToken(t *testing.T) {
	h := newHarness(t, cffake.Options{MaxPerPage: 1})
	if _, err := h.client.Apply(ctx(t), h.cfg); err != nil {
		t.Fatal(err)
	}
	get := func(auth string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", h.fake.URL()+"/accounts/"+h.cfg.AccountID+"/load_balancers/pools?page=2&per_page=1", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var env map[string]any
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("not JSON: %s", body)
		}
		return resp.StatusCode, env
	}
	status, env := get("Bearer " + cffake.DefaultToken)
	info, _ := env["result_info"].(map[string]any)
	if status != 200 || env["success"] != true || info["page"] != 2.0 || info["total_pages"] != 3.0 || info["total_count"] != 3.0 ||
		len(env["result"].([]any)) != 1 || env["errors"] == nil || env["messages"] == nil {
		t.Fatalf("list: %d %v", status, env)
	}
	status, env = get("")
	if status != 400 || env["success"] != false || env["result"] != nil || !strings.Contains(toJSON(env["errors"]), "6003") {
		t.Fatalf("no token: %d %v", status, env)
	}
	status, env = get("Bearer nope")
	if status != 403 || !strings.Contains(toJSON(env["errors"]), "Authentication error") {
		t.Fatalf("bad token: %d %v", status, env)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
