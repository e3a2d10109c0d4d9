// Package procs sizes the Go scheduler (GOMAXPROCS) to the CPU the process
// actually uses.
//
// An edge spends most of each request waiting for sockets, and its goroutines
// park twice per request. With more processors than the load keeps busy, each
// wake-up of a parked goroutine also wakes an idle processor's thread to run
// it, and that thread goes back to sleep a few microseconds later: on a shared
// two-core machine that was a fifth of the edge's CPU per request
// (docs/performance.md). One processor per ¾ core of work avoids it, and the
// count follows the load: it grows within a window or two once the
// processors are more than ¾ busy, and shrinks after the load has stayed low
// for ten seconds, so a burst gets parallelism within half a second and a
// periodic one keeps it.
package procs

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Modes of the `procs` setting besides a fixed count.
const (
	Adaptive = "adaptive" // follow the load, 1 up to the runtime's default
	All      = "all"      // the runtime's default: every CPU, or the container's limit
)

// Parse reads a `procs` setting: adaptive, all, or a count of processors.
// It returns the fixed count (0 for adaptive and all).
func Parse(v string) (fixed int, err error) {
	switch v {
	case Adaptive, All:
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 4096 {
		return 0, fmt.Errorf("must be adaptive, all or a number of processors from 1 to 4096, got %q", v)
	}
	return n, nil
}

// Start applies setting (adaptive, all or a count; "" is adaptive) to this
// process and returns the running Controller for adaptive, nil otherwise. A
// GOMAXPROCS environment variable that the runtime accepted (a positive
// number) wins over the setting: the operator fixed the count. The metrics
// join reg; the controller runs until ctx ends or Stop.
func Start(ctx context.Context, setting string, getenv func(string) string, reg prometheus.Registerer, log *slog.Logger) (*Controller, error) {
	if setting == "" {
		setting = Adaptive
	}
	fixed, err := Parse(setting)
	if err != nil {
		return nil, fmt.Errorf("procs: %w", err)
	}
	if env := getenv("GOMAXPROCS"); env != "" {
		if n, err := strconv.Atoi(env); err == nil && n > 0 {
			setting, fixed = "GOMAXPROCS="+env, 0 // the runtime applied it already
		}
	}
	if fixed > 0 {
		runtime.GOMAXPROCS(fixed)
	}
	limit := runtime.GOMAXPROCS(0)
	switch {
	case setting != Adaptive:
	case !canMeasure:
		setting = All + " (this system's CPU time is not measured)"
	case limit <= 1:
		setting = All + " (one CPU)" // nothing to adapt; keeps the runtime's own limit tracking
	}
	if setting != Adaptive {
		if err := reg.Register(prometheus.NewGaugeFunc(procsOpts, func() float64 { return float64(runtime.GOMAXPROCS(0)) })); err != nil {
			return nil, err
		}
		log.Info("processors fixed", "procs", limit, "by", setting)
		return nil, nil
	}
	c := newController(DefaultPolicy, limit, processHooks(), log)
	if err := c.register(reg); err != nil {
		return nil, err
	}
	c.begin()
	c.start(ctx, c.pol.Window)
	log.Info("processors follow the load", "procs", c.Procs(), "max", limit)
	return c, nil
}

var procsOpts = prometheus.GaugeOpts{
	Name: "icon_edge_procs",
	Help: "Processors the Go scheduler runs goroutines on (GOMAXPROCS); with procs: adaptive it follows the load.",
}

// processHooks are the controller's ties to this process and its runtime.
func processHooks() hooks {
	return hooks{cpu: cpuTime, gcIdle: gcIdleTime, now: time.Now, set: func(n int) { runtime.GOMAXPROCS(n) }, ceiling: runtimeDefault}
}

// runtimeDefault is the count the runtime would choose now (every CPU, or
// the container's CPU limit as it is now), which setting a count stops it
// from tracking. It leaves GOMAXPROCS at that value: the caller sets its own.
func runtimeDefault() int {
	runtime.SetDefaultGOMAXPROCS()
	return runtime.GOMAXPROCS(0)
}
