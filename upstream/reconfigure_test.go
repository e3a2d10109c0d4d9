package upstream

import (
	"testing"
	"time"
)

// A reload changes the health rules of a running pool: a wider max lag lets a
// lagging node serve latest reads, a new probe path and eject_after take
// effect on the next probes, and nodes keep their state throughout.
func TestReconfigureAppliesHealthSettingsLive(t *testing.T) {
	a, lag := newFakeNode(t, 100), newFakeNode(t, 95)
	cfg := testConfig(a.srv.URL, lag.srv.URL)
	p := startPool(t, cfg)
	eventually(t, "both nodes healthy", func() bool {
		return len(p.Nodes()) == 2 && nodeByURL(p, a.srv.URL).State() == StateHealthy &&
			nodeByURL(p, lag.srv.URL).State() == StateHealthy
	})
	lagging := nodeByURL(p, lag.srv.URL)
	if p.InSync(lagging) {
		t.Fatal("5 blocks behind with max_lag 2 counts as in sync")
	}
	next := cfg
	next.MaxLag = 10
	next.Health.EjectAfter = 1
	next.Health.ProbeInterval = 10 * time.Millisecond
	if err := p.Reconfigure(next); err != nil {
		t.Fatal(err)
	}
	if !p.InSync(lagging) || p.MaxLag() != 10 {
		t.Fatalf("after max_lag 10: in sync %v, MaxLag %d", p.InSync(lagging), p.MaxLag())
	}
	if nodeByURL(p, lag.srv.URL) != lagging {
		t.Fatal("a reload replaced a node that stayed")
	}
	// eject_after 1: a single failed probe now ejects.
	lag.fail.Store(true)
	eventually(t, "ejected after one failed probe", func() bool { return lagging.State() == StateEjected })

	bad := next
	bad.Upstreams = []string{"ftp://x:1"}
	if err := p.Reconfigure(bad); err == nil {
		t.Fatal("a bad upstream was accepted")
	}
	if p.MaxLag() != 10 {
		t.Fatal("a rejected reconfigure changed the settings")
	}
}

// node_max_rps set by a reload caps nodes that already exist.
func TestReconfigureSetsNodeRateCap(t *testing.T) {
	a := newFakeNode(t, 100)
	cfg := testConfig(a.srv.URL)
	p := startPool(t, cfg)
	eventually(t, "node healthy", func() bool { return len(p.Nodes()) == 1 && p.Nodes()[0].State() == StateHealthy })
	n := p.Nodes()[0]
	if n.guard.Load() != nil {
		t.Fatal("a guard without node_max_rps")
	}
	next := cfg
	next.MaxRPSPerNode, next.MaxWait = 5, time.Millisecond
	if err := p.Reconfigure(next); err != nil {
		t.Fatal(err)
	}
	if n.guard.Load() == nil {
		t.Fatal("node_max_rps not applied to a running node")
	}
	if err := p.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if n.guard.Load() != nil {
		t.Fatal("node_max_rps 0 left the cap on")
	}
}
