package routing

import (
	"slices"
	"strings"
	"testing"
)

// The table is the one place a method's facts live; these are the rules
// between facts that other packages rely on.
func TestMethodTableIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Methods() {
		switch {
		case seen[m.Name]:
			t.Errorf("%s listed twice", m.Name)
		case m.Cost < 1:
			t.Errorf("%s: cost %d; every call costs at least one token", m.Name, m.Cost)
		case (m.Kind == Write || m.Wait) && m.Cache != NoCache:
			t.Errorf("%s: writes and waits are never cached", m.Name)
		case m.Kind == Write && m.RetryNotFound:
			t.Errorf("%s: a write is never retried", m.Name)
		case m.Debug != strings.HasPrefix(m.Name, "debug_"):
			t.Errorf("%s: debug methods are exactly the debug_* ones (served on /api/v3d only)", m.Name)
		case m.Cache == ByHeight && m.Height != Pinned, m.Cache == PinnableState && m.Height != Pinnable:
			t.Errorf("%s: cache policy %v needs the matching height kind, has %v", m.Name, m.Cache, m.Height)
		}
		seen[m.Name] = true
		if Lookup(m.Name) == nil || Lookup(m.Name).Name != m.Name {
			t.Errorf("Lookup(%s) does not find it", m.Name)
		}
	}
	if Lookup("icx_noSuchMethod") != nil {
		t.Error("unknown methods must not be found")
	}
}

func TestDefaultsComeFromTheTable(t *testing.T) {
	costs := DefaultCosts()
	if costs["icx_call"] != 5 || costs["icx_getLastBlock"] != 1 || costs["debug_getTrace"] != 10 {
		t.Fatalf("costs %v", costs)
	}
	if len(costs) != len(Methods()) {
		t.Fatalf("%d costs for %d methods", len(costs), len(Methods()))
	}
	allowed := DefaultAllowed()
	if !slices.Contains(allowed, "icx_sendTransaction") || !slices.Contains(allowed, "btp_getProof") {
		t.Fatalf("public methods missing from the default allowlist: %v", allowed)
	}
	for _, name := range allowed {
		if strings.HasPrefix(name, "debug_") {
			t.Fatalf("the debug API is opt-in per tier, but %s is allowed by default", name)
		}
	}
}
