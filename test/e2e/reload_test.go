package e2e

import (
	"testing"
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
}
