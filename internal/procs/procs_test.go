package procs

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/internal/promtest"
	"github.com/prometheus/client_golang/prometheus"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is a controller over a recorded GOMAXPROCS, fed windows by hand.
func fixture(t *testing.T, limit int) (*Controller, *[]int, *prometheus.Registry) {
	t.Helper()
	var sets []int
	h := hooks{cpu: func() time.Duration { return 0 }, gcIdle: func() time.Duration { return 0 }, now: time.Now,
		set: func(n int) { sets = append(sets, n) }, ceiling: func() int { return limit }}
	c := newController(DefaultPolicy, limit, h, quiet)
	reg := prometheus.NewRegistry()
	if err := c.register(reg); err != nil {
		t.Fatal(err)
	}
	c.begin()
	return c, &sets, reg
}

func TestStartsAtOneAndGrowsPastThreeQuartersBusy(t *testing.T) {
	c, sets, reg := fixture(t, 8)
	if c.Procs() != 1 || len(*sets) != 1 || (*sets)[0] != 1 {
		t.Fatalf("start: procs %d, GOMAXPROCS set to %v; want 1", c.Procs(), *sets)
	}
	if v := promtest.Value(t, reg, "icon_edge_procs_changes_total", map[string]string{"direction": "down"}); v != 0 {
		t.Fatalf("down changes at start = %v, want a 0 series", v)
	}
	c.observe(0.70) // under 0.75 of one processor: enough
	if c.Procs() != 1 {
		t.Fatalf("0.70 cores on 1 processor grew it to %d", c.Procs())
	}
	for _, want := range []int{2, 4, 8, 8} { // each window saturated: demand unknown, doubles
		c.observe(0.95 * float64(c.Procs()))
		if c.Procs() != want {
			t.Fatalf("saturated window: procs %d, want %d", c.Procs(), want)
		}
	}
	if got := (*sets)[len(*sets)-1]; got != 8 {
		t.Fatalf("GOMAXPROCS last set to %d, want the limit 8", got)
	}
	if v := promtest.Value(t, reg, "icon_edge_procs", nil); v != 8 {
		t.Fatalf("icon_edge_procs = %v, want 8", v)
	}
	if v := promtest.Value(t, reg, "icon_edge_procs_changes_total", map[string]string{"direction": "up"}); v != 3 {
		t.Fatalf("up changes = %v, want 3", v)
	}
}

// Between ¾ and 0.9 busy the demand is known: the count grows to what it
// needs at ¾, not to double, so a big machine does not overshoot.
func TestGrowsToWhatTheLoadNeedsWhenNotSaturated(t *testing.T) {
	c, _, _ := fixture(t, 64)
	c.observe(1)    // saturated at 1: 2
	c.observe(1.9)  // saturated at 2: 4
	c.observe(3.9)  // saturated: 8
	c.observe(7.5)  // saturated: 16
	c.observe(15.5) // saturated: 32
	c.observe(25)   // over ¾ of 32, under 0.9: ceil(25/0.75) = 34
	if c.Procs() != 34 {
		t.Fatalf("procs %d, want 34 (25 cores at ¾), not 64", c.Procs())
	}
	c.observe(25.6) // over ¾ of 34 (25.5) by a little: at least one more
	if c.Procs() != 35 {
		t.Fatalf("procs %d, want 35", c.Procs())
	}
}

func TestDoublingStopsAtTheLimit(t *testing.T) {
	c, _, _ := fixture(t, 3)
	c.observe(1)
	c.observe(2)
	if c.Procs() != 3 {
		t.Fatalf("procs %d, want the limit 3 (2 doubled, capped)", c.Procs())
	}
}

func TestShrinksOnlyAfterALowStretch(t *testing.T) {
	c, _, reg := fixture(t, 4)
	c.observe(1)
	c.observe(2)
	if c.Procs() != 4 {
		t.Fatalf("setup: procs %d, want 4", c.Procs())
	}
	low := 1.8 // under 0.65 × 3, needs 3 at ¾
	for i := 1; i < DefaultPolicy.ShrinkAfter; i++ {
		c.observe(low)
	}
	c.observe(2.5) // one busy window (not busy enough to grow) restarts the count
	for i := 1; i < DefaultPolicy.ShrinkAfter; i++ {
		c.observe(low)
	}
	if c.Procs() != 4 {
		t.Fatalf("shrank to %d before %d low windows in a row", c.Procs(), DefaultPolicy.ShrinkAfter)
	}
	c.observe(low)
	if c.Procs() != 3 {
		t.Fatalf("after %d low windows peaking at 1.8 cores: procs %d, want 3", DefaultPolicy.ShrinkAfter, c.Procs())
	}
	for range DefaultPolicy.ShrinkAfter {
		c.observe(0.1) // needs one processor: straight there
	}
	if c.Procs() != 1 {
		t.Fatalf("idle: procs %d, want 1", c.Procs())
	}
	if v := promtest.Value(t, reg, "icon_edge_procs_changes_total", map[string]string{"direction": "down"}); v != 2 {
		t.Fatalf("down changes = %v, want 2", v)
	}
}

// A load that fits one count must not flap: after shrinking, the same CPU
// use on one processor fewer stays under the growth line.
func TestNoFlappingAtTheBoundary(t *testing.T) {
	c, sets, _ := fixture(t, 2)
	c.observe(0.8) // grows to 2
	for range 100 {
		c.observe(0.74) // just under growth at 1, and above the shrink line at 2 (0.65)
	}
	if c.Procs() != 2 || len(*sets) != 2 {
		t.Fatalf("procs %d after sets %v; want 2 and no flapping", c.Procs(), *sets)
	}
	for range DefaultPolicy.ShrinkAfter + 100 {
		c.observe(0.6) // shrinks once; at 1 processor under 0.75, stays
	}
	if c.Procs() != 1 || len(*sets) != 3 {
		t.Fatalf("procs %d, sets %v; want one step down to 1 and nothing after", c.Procs(), *sets)
	}
}

func TestParse(t *testing.T) {
	for _, ok := range []string{"adaptive", "all", "1", "64"} {
		if _, err := Parse(ok); err != nil {
			t.Errorf("Parse(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "0", "-1", "auto", "2.5", "99999"} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), "adaptive, all or a number") {
			t.Errorf("Parse(%q) = %v, want an error naming the choices", bad, err)
		}
	}
}
