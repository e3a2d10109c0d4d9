package proxy

import (
	"strings"
	"testing"

	"github.com/icon-edge/icon-edge/internal/promtest"
	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/prometheus/client_golang/prometheus"
)

// Reconfigure changes what the next request sees: a disabled method answers
// -32601 as if goloop lacked it, the debug API and the batch limit follow
// the new settings, a limiter switched on refuses, and switching it off again
// lets everything through. Metrics keep counting across reloads.
func TestReconfigureAppliesToTheNextRequest(t *testing.T) {
	n := newNode(t, 100)
	s, reg := liveServer(t, Config{}, []*node{n})
	pool := s.pool
	call := `{"jsonrpc":"2.0","id":1,"method":"icx_getTotalSupply"}`
	if ctx := postWith(s, "/api/v3", call); ctx.Response.StatusCode() != 200 {
		t.Fatalf("before: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}

	s.Reconfigure(Options{Pool: pool, Config: Config{DisabledMethods: []string{"icx_getTotalSupply"}, DebugAPI: true, MaxBatch: 1}})
	ctx := postWith(s, "/api/v3", call)
	if ctx.Response.StatusCode() != 400 || !strings.Contains(string(ctx.Response.Body()), `"code":-32601`) {
		t.Fatalf("disabled by reload: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	ctx = postWith(s, "/api/v3", "["+call+","+call+"]")
	if ctx.Response.StatusCode() != 503 || !strings.Contains(string(ctx.Response.Body()), "too many request") {
		t.Fatalf("max_batch 1 by reload: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if st, body := do(s, "POST", "/api/v3d", `{"jsonrpc":"2.0","id":1,"method":"debug_getTrace","params":{}}`); st == 404 && body == "debug API is disabled" {
		t.Fatal("debug_api: true by reload still answers 404")
	}
	if got := s.Config().MaxBatch; got != 1 {
		t.Fatalf("Config().MaxBatch = %d", got)
	}

	lim, err := ratelimit.New(ratelimit.Config{Deny: []string{"0.0.0.0/0"}}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s.Reconfigure(Options{Pool: pool, Limiter: lim})
	if ctx := postWith(s, "/api/v3", call); ctx.Response.StatusCode() != 403 {
		t.Fatalf("deny-all limiter by reload: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if s.Limiter() != lim {
		t.Fatal("Limiter() is not the one in force")
	}
	s.Reconfigure(Options{Pool: pool})
	if ctx := postWith(s, "/api/v3", call); ctx.Response.StatusCode() != 200 {
		t.Fatalf("limits off by reload: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if got := promtest.Value(t, reg, "icon_edge_requests_total", map[string]string{"method": "icx_getTotalSupply", "code": "0"}); got != 2 {
		t.Fatalf("icx_getTotalSupply successes across reloads = %v, want 2", got)
	}
}

// AdminOnly is fixed by the admin listener: a reload cannot expose
// /status.json on the public port.
func TestReconfigureKeepsAdminOnly(t *testing.T) {
	s := newTestServer(t, Config{AdminOnly: true})
	s.Reconfigure(Options{Pool: s.pool})
	if status, _ := do(s, "GET", "/status.json", ""); status != 404 {
		t.Fatalf("/status.json on the public port after a reload: %d", status)
	}
}
