package procs

import (
	"context"
	"io"
	"log/slog"
	"runtime"
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
	c := newController(DefaultPolicy, limit, func() time.Duration { return 0 }, func(n int) { sets = append(sets, n) }, quiet)
	reg := prometheus.NewRegistry()
	if err := c.register(reg); err != nil {
		t.Fatal(err)
	}
	c.begin()
	return c, &sets, reg
}

func TestStartsAtOneAndDoublesPastThreeQuartersBusy(t *testing.T) {
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
	for _, want := range []int{2, 4, 8, 8} { // each window nearly saturated
		c.observe(0.9 * float64(c.Procs()))
		if c.Procs() != want {
			t.Fatalf("busy window: procs %d, want %d", c.Procs(), want)
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

func TestDoublingStopsAtTheLimit(t *testing.T) {
	c, _, _ := fixture(t, 3)
	c.observe(1)
	c.observe(2)
	if c.Procs() != 3 {
		t.Fatalf("procs %d, want the limit 3 (2 doubled, capped)", c.Procs())
	}
}

func TestShrinksOneAtATimeOnlyAfterALowStretch(t *testing.T) {
	c, _, reg := fixture(t, 4)
	c.observe(1)
	c.observe(2)
	if c.Procs() != 4 {
		t.Fatalf("setup: procs %d, want 4", c.Procs())
	}
	low := 0.5 // under 0.65 × 3
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
		t.Fatalf("after %d low windows: procs %d, want 3", DefaultPolicy.ShrinkAfter, c.Procs())
	}
	for range 10 * DefaultPolicy.ShrinkAfter {
		c.observe(0)
	}
	if c.Procs() != 1 {
		t.Fatalf("idle: procs %d, want 1", c.Procs())
	}
	if v := promtest.Value(t, reg, "icon_edge_procs_changes_total", map[string]string{"direction": "down"}); v != 3 {
		t.Fatalf("down changes = %v, want 3", v)
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
		t.Fatalf("procs %d after %d sets %v; want 2 and no flapping", c.Procs(), len(*sets), *sets)
	}
	for range DefaultPolicy.ShrinkAfter {
		c.observe(0.6)
	}
	for range 100 {
		c.observe(0.6) // at 1 processor: under 0.75, stays
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

// Start on the real runtime: a fixed count is applied, GOMAXPROCS in the
// environment wins, adaptive starts at one processor and grows under load.
func TestStartOnTheRuntime(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	noEnv := func(string) string { return "" }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	c, err := Start(ctx, "3", noEnv, prometheus.NewRegistry(), quiet)
	if err != nil || c != nil || runtime.GOMAXPROCS(0) != 3 {
		t.Fatalf("procs 3: controller %v, err %v, GOMAXPROCS %d; want none, nil, 3", c, err, runtime.GOMAXPROCS(0))
	}
	env := func(k string) string {
		if k == "GOMAXPROCS" {
			return "3"
		}
		return ""
	}
	runtime.GOMAXPROCS(3) // as the runtime applies the variable at start
	if c, err := Start(ctx, Adaptive, env, prometheus.NewRegistry(), quiet); err != nil || c != nil || runtime.GOMAXPROCS(0) != 3 {
		t.Fatalf("GOMAXPROCS=3 with adaptive: controller %v, err %v, GOMAXPROCS %d; want the variable to win", c, err, runtime.GOMAXPROCS(0))
	}
	if _, err := Start(ctx, "lots", noEnv, prometheus.NewRegistry(), quiet); err == nil || !strings.Contains(err.Error(), "procs:") {
		t.Fatalf("procs lots: err %v, want one naming the setting", err)
	}

	if !canMeasure {
		t.Skip("no process CPU time on this system")
	}
	runtime.GOMAXPROCS(2)
	c, err = Start(ctx, Adaptive, noEnv, prometheus.NewRegistry(), quiet)
	if err != nil || c == nil {
		t.Fatalf("adaptive: controller %v, err %v", c, err)
	}
	if runtime.GOMAXPROCS(0) != 1 {
		t.Fatalf("adaptive starts at GOMAXPROCS %d, want 1", runtime.GOMAXPROCS(0))
	}
}

// run measures each window's busy cores as the process's CPU time over the
// window's wall time: a process that used far more CPU time than the
// windows lasted is busy, and the count grows to the limit.
func TestRunMeasuresCPUPerWindow(t *testing.T) {
	var cpu time.Duration // read and advanced only by run's goroutine
	set := make(chan int, 16)
	c := newController(Policy{Window: time.Millisecond}, 4, func() time.Duration {
		cpu += time.Second
		return cpu
	}, func(n int) { set <- n }, quiet)
	c.begin()
	<-set // the initial 1
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for _, want := range []int{2, 4} {
		select {
		case n := <-set:
			if n != want {
				t.Fatalf("GOMAXPROCS set to %d, want %d", n, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no growth to %d within 30 s of busy windows", want)
		}
	}
}
