package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/edge"
	"github.com/icon-edge/icon-edge/ratelimit"
)

// A config reload swaps the fleet without a restart: the new node joins after
// its probes, the removed one drains and leaves, and requests keep working.
func TestReloadSwapsUpstreams(t *testing.T) {
	sim := startSim(t, 2)
	cfg := edgeConfig(sim)
	cfg.Upstreams = sim.URLs()[:1]
	e := startEdge(t, cfg)
	next := cfg
	next.Upstreams = sim.URLs()[1:]
	if err := e.Reload(next); err != nil {
		t.Fatal(err)
	}
	eventually(t, "only the second node left, in sync", func() bool {
		nodes := e.Pool().Nodes()
		return len(nodes) == 1 && nodes[0].URL() == sim.URLs()[1] && e.Pool().InSync(nodes[0])
	})
	if a := call(t, e.URL()+"/api/v3", "icx_getLastBlock", nil); a.Error != nil {
		t.Fatal(a.Error.Message)
	}
	bad := next
	bad.Upstreams = []string{"ftp://nope:1"}
	if err := e.Reload(bad); err == nil {
		t.Fatal("a bad config was accepted on reload")
	}
	if n := e.Pool().Nodes(); len(n) != 1 || n[0].URL() != sim.URLs()[1] {
		t.Fatal("a rejected reload changed the fleet")
	}
	// A reload refuses exactly what a start refuses (hardening #6: a
	// negative burst was "reloaded" while a fresh start with it failed).
	bad = next
	bad.RateLimit = limits(func(l *ratelimit.Config) { l.Enabled, l.Burst = true, -5 })
	if _, err := edge.Start(bad, quiet); err == nil || err.Error() != "ratelimit.burst must be >= 1, got -5" {
		t.Fatalf("start with ratelimit.burst: -5: %v", err)
	}
	if err := e.Reload(bad); err == nil || err.Error() != "ratelimit.burst must be >= 1, got -5" {
		t.Fatalf("reload with ratelimit.burst: -5: %v", err)
	}
}

// Graceful drain: /readyz fails first so balancers move away, requests are
// still answered meanwhile, then the listener closes.
func TestShutdownDrainsBeforeClosing(t *testing.T) {
	sim := startSim(t, 1)
	e := startEdge(t, edgeConfig(sim))
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- e.Shutdown(ctx, 400*time.Millisecond)
	}()
	eventually(t, "/readyz 503 while draining", func() bool {
		resp, err := client.Get(e.URL() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	if a := call(t, e.URL()+"/api/v3", "icx_getLastBlock", nil); a.Error != nil {
		t.Fatalf("request during drain failed: %s", a.Error.Message)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := client.Get(e.URL() + "/healthz"); err == nil {
		t.Fatal("edge still listening after shutdown")
	}
}

// With admin_listen, node addresses (/status.json) and metrics leave the
// public port; health checks stay on it for the balancer.
func TestAdminListenerKeepsInternalsOffThePublicPort(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.AdminListen = "127.0.0.1:0"
	e := startEdge(t, cfg)
	get := func(url string) int {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for path, want := range map[string]int{"/metrics": 404, "/status.json": 404, "/readyz": 200, "/healthz": 200} {
		if got := get(e.URL() + path); got != want {
			t.Errorf("public %s = %d, want %d", path, got, want)
		}
	}
	for _, path := range []string{"/metrics", "/status.json", "/readyz"} {
		if got := get("http://" + e.AdminAddr() + path); got != 200 {
			t.Errorf("admin %s = %d", path, got)
		}
	}
}
