package procs

import (
	"context"
	"math"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/internal/promtest"
	"github.com/prometheus/client_golang/prometheus"
)

// scripted feeds a controller's windows from the test: each window lasts
// Window of wall time and uses what the test says.
type scripted struct {
	cpu, gcIdle time.Duration
	at          time.Time
	ceiling     int
	sets        []int
}

func (s *scripted) hooks() hooks {
	return hooks{cpu: func() time.Duration { return s.cpu }, gcIdle: func() time.Duration { return s.gcIdle },
		now: func() time.Time { return s.at }, set: func(n int) { s.sets = append(s.sets, n) },
		ceiling: func() int { return s.ceiling }}
}

// A window's busy cores are the process's CPU time over the window's wall
// time, without the GC's work on idle processors.
func TestWindowMeasuresCoresUsed(t *testing.T) {
	s := &scripted{at: time.Unix(1000, 0), ceiling: 4}
	c := newController(DefaultPolicy, 4, s.hooks(), quiet)
	reg := prometheus.NewRegistry()
	if err := c.register(reg); err != nil {
		t.Fatal(err)
	}
	c.begin()
	w := DefaultPolicy.Window
	last := c.read()
	step := func(n int, cores, gcIdleCores float64) {
		s.cpu += time.Duration(cores * float64(w))
		s.gcIdle += time.Duration(gcIdleCores * float64(w))
		s.at = s.at.Add(w)
		last = c.window(n, last)
	}
	step(1, 0.7, 0)
	if c.Procs() != 1 {
		t.Fatalf("0.7 cores for a window grew the count to %d", c.Procs())
	}
	if got := promtest.Value(t, reg, "icon_edge_procs_busy_cores", nil); math.Abs(got-0.7) > 1e-9 {
		t.Fatalf("icon_edge_procs_busy_cores = %v, want 0.7", got)
	}
	step(2, 1.0, 0.3) // a GC filled the idle 0.3: the edge itself used 0.7
	if c.Procs() != 1 {
		t.Fatalf("a window of 0.7 cores plus 0.3 of GC idle work grew the count to %d", c.Procs())
	}
	step(3, 0.8, 0)
	if c.Procs() != 2 {
		t.Fatalf("0.8 cores for a window: procs %d, want 2", c.Procs())
	}
}

// The ceiling follows the runtime's default (a container's new CPU limit),
// and reading it, which resets GOMAXPROCS, is followed by setting the count
// again.
func TestCeilingIsReadAgain(t *testing.T) {
	s := &scripted{at: time.Unix(1000, 0), ceiling: 8}
	pol := DefaultPolicy
	pol.RefreshEvery = 2
	c := newController(pol, 8, s.hooks(), quiet)
	c.begin()
	w := DefaultPolicy.Window
	last := c.read()
	for n, cores := range []float64{1, 1.9, 3.9} { // saturated windows: 2, 4, 8
		s.cpu += time.Duration(cores * float64(w))
		s.at = s.at.Add(w)
		if n == 1 {
			s.ceiling = 3 // the limit drops before the refresh at window 2
		}
		last = c.window(n+1, last)
	}
	if c.Procs() != 3 {
		t.Fatalf("procs %d after the ceiling fell to 3, want 3", c.Procs())
	}
	if got := s.sets[len(s.sets)-1]; got != 3 {
		t.Fatalf("GOMAXPROCS last set to %d, want 3 (sets %v)", got, s.sets)
	}
	s.ceiling = 6
	for n := 4; n <= 6; n++ {
		s.cpu += time.Duration(0.95 * float64(c.Procs()) * float64(w))
		s.at = s.at.Add(w)
		last = c.window(n, last)
	}
	if c.Procs() != 6 {
		t.Fatalf("procs %d after the ceiling rose to 6 under saturation, want 6", c.Procs())
	}
}

// cpuTime is the process's CPU time, in nanoseconds: spinning moves it by
// about the wall time spun, and never by more than every CPU could.
func TestCPUTimeCountsThisProcess(t *testing.T) {
	if !canMeasure {
		t.Skip("no process CPU time on this system")
	}
	startCPU, start := cpuTime(), time.Now()
	var spins atomic.Int64
	for cpuTime()-startCPU < 50*time.Millisecond {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("30 s of spinning moved cpuTime by %v: not the process's CPU time in nanoseconds", cpuTime()-startCPU)
		}
		for range 100000 {
			spins.Add(1)
		}
	}
	used, wall := cpuTime()-startCPU, time.Since(start)
	if limit := time.Duration(runtime.NumCPU()+1) * wall; used > limit {
		t.Fatalf("cpuTime moved by %v in %v of wall time on %d CPUs: wrong units", used, wall, runtime.NumCPU())
	}
}

// Start on the real runtime: a fixed count is applied, GOMAXPROCS in the
// environment wins when the runtime took it, adaptive starts at one
// processor and its controller stops when asked.
func TestStartOnTheRuntime(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	noEnv := func(string) string { return "" }
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOMAXPROCS" {
				return v
			}
			return ""
		}
	}
	ctx := context.Background()

	c, err := Start(ctx, "3", noEnv, prometheus.NewRegistry(), quiet)
	if err != nil || c != nil || runtime.GOMAXPROCS(0) != 3 {
		t.Fatalf("procs 3: controller %v, err %v, GOMAXPROCS %d; want none, nil, 3", c, err, runtime.GOMAXPROCS(0))
	}
	runtime.GOMAXPROCS(5) // as the runtime applies GOMAXPROCS=5 at start
	if c, err := Start(ctx, Adaptive, env("5"), prometheus.NewRegistry(), quiet); err != nil || c != nil || runtime.GOMAXPROCS(0) != 5 {
		t.Fatalf("GOMAXPROCS=5 with adaptive: controller %v, err %v, GOMAXPROCS %d; want the variable to win", c, err, runtime.GOMAXPROCS(0))
	}
	// The runtime ignores GOMAXPROCS=0 or a word: so does the edge.
	if c, err := Start(ctx, "2", env("abc"), prometheus.NewRegistry(), quiet); err != nil || c != nil || runtime.GOMAXPROCS(0) != 2 {
		t.Fatalf("GOMAXPROCS=abc with procs 2: err %v, GOMAXPROCS %d; want the file's 2", err, runtime.GOMAXPROCS(0))
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
	defer c.Stop() // before the deferred restore: nothing sets GOMAXPROCS after it
	if runtime.GOMAXPROCS(0) != 1 || c.Procs() != 1 {
		t.Fatalf("adaptive starts at GOMAXPROCS %d (controller says %d), want 1", runtime.GOMAXPROCS(0), c.Procs())
	}
}
