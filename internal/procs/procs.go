// Package procs sizes the Go scheduler (GOMAXPROCS) to the CPU the process
// actually uses.
//
// An edge spends most of each request waiting for sockets, and its goroutines
// park twice per request. With more processors than the load keeps busy, each
// wake-up of a parked goroutine also wakes an idle processor's thread to run
// it, and that thread goes back to sleep a few microseconds later: on a shared
// two-core machine that was a quarter of the edge's CPU per request
// (docs/performance.md). One processor per ¾ core of work avoids it, and the
// count follows the load: it doubles within one window once the processors
// are more than ¾ busy, and shrinks one at a time after the load has stayed
// low for ten seconds, so a burst gets parallelism within a quarter of a
// second and a periodic one keeps it.
package procs

import (
	"context"
	"fmt"
	"log/slog"
	"math"
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

// Policy is when the count changes. Zero fields take DefaultPolicy's.
type Policy struct {
	Window time.Duration // how often CPU use is measured
	// Grow: more than Grow × procs cores used in a window doubles procs.
	Grow float64
	// Shrink: fewer than Shrink × (procs-1) cores used in ShrinkAfter
	// windows in a row takes one processor away. Shrink below Grow leaves a
	// gap, so a load that fits one count does not flap between two.
	Shrink      float64
	ShrinkAfter int
}

// DefaultPolicy measures four times a second, grows past ¾ busy and shrinks
// after ten seconds under 0.65 of one processor fewer: long enough that a
// burst every block (a websocket fan-out every 2 s) keeps its processors.
var DefaultPolicy = Policy{Window: 250 * time.Millisecond, Grow: 0.75, Shrink: 0.65, ShrinkAfter: 40}

// Controller runs the adaptive count.
type Controller struct {
	pol   Policy
	max   int
	procs int
	below int // windows in a row under the shrink line

	cpu func() time.Duration // CPU time the process has used
	set func(int)            // runtime.GOMAXPROCS
	log *slog.Logger

	procsGauge, busyGauge prometheus.Gauge
	changes               *prometheus.CounterVec
}

// Start applies setting (adaptive, all or a count; "" is adaptive) to this
// process and returns a running Controller for adaptive, nil otherwise. A
// GOMAXPROCS environment variable wins over the setting: the operator fixed
// the count. The metrics join reg either way.
func Start(ctx context.Context, setting string, getenv func(string) string, reg prometheus.Registerer, log *slog.Logger) (*Controller, error) {
	if setting == "" {
		setting = Adaptive
	}
	fixed, err := Parse(setting)
	if err != nil {
		return nil, fmt.Errorf("procs: %w", err)
	}
	if env := getenv("GOMAXPROCS"); env != "" {
		setting, fixed = "GOMAXPROCS="+env, 0 // the runtime applied it already
	}
	if fixed > 0 {
		runtime.GOMAXPROCS(fixed)
	}
	if setting == Adaptive && !canMeasure {
		setting = All + " (this system's CPU time is not measured)"
	}
	c := newController(DefaultPolicy, runtime.GOMAXPROCS(0), cpuTime, func(n int) { runtime.GOMAXPROCS(n) }, log)
	if setting != Adaptive {
		log.Info("processors fixed", "procs", c.max, "by", setting)
		return nil, reg.Register(c.procsGauge)
	}
	if err := c.register(reg); err != nil {
		return nil, err
	}
	c.begin()
	log.Info("processors follow the load", "procs", c.procs, "max", c.max)
	go c.run(ctx)
	return c, nil
}

// newController sizes between one processor and limit; begin starts it at one.
func newController(pol Policy, limit int, cpu func() time.Duration, set func(int), log *slog.Logger) *Controller {
	d := DefaultPolicy
	if pol.Window <= 0 {
		pol.Window = d.Window
	}
	if pol.Grow <= 0 {
		pol.Grow = d.Grow
	}
	if pol.Shrink <= 0 {
		pol.Shrink = d.Shrink
	}
	if pol.ShrinkAfter <= 0 {
		pol.ShrinkAfter = d.ShrinkAfter
	}
	c := &Controller{pol: pol, max: max(limit, 1), procs: 1, cpu: cpu, set: set, log: log,
		procsGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "icon_edge_procs",
			Help: "Processors the Go scheduler runs goroutines on (GOMAXPROCS); with procs: adaptive it follows the load.",
		}),
		busyGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "icon_edge_procs_busy_cores",
			Help: "CPU the process used in the last window of the adaptive processor count, in cores.",
		}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "icon_edge_procs_changes_total",
			Help: "Changes of the adaptive processor count, by direction (up, down).",
		}, []string{"direction"}),
	}
	c.procsGauge.Set(float64(c.max))
	for _, dir := range []string{"up", "down"} {
		c.changes.WithLabelValues(dir) // 0 from the start, so rates and scrapes see both
	}
	return c
}

// begin drops the count to one processor: the load raises it.
func (c *Controller) begin() {
	c.procs = 1
	c.set(1)
	c.procsGauge.Set(1)
}

func (c *Controller) register(reg prometheus.Registerer) error {
	for _, m := range []prometheus.Collector{c.procsGauge, c.busyGauge, c.changes} {
		if err := reg.Register(m); err != nil {
			return err
		}
	}
	return nil
}

// Procs is the current count.
func (c *Controller) Procs() int { return c.procs }

func (c *Controller) run(ctx context.Context) {
	t := time.NewTicker(c.pol.Window)
	defer t.Stop()
	lastCPU, last := c.cpu(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			used := c.cpu()
			busy := float64(used-lastCPU) / float64(now.Sub(last))
			lastCPU, last = used, now
			c.observe(busy)
		}
	}
}

// observe takes one window's CPU use, in cores, and changes the count if
// the policy says so.
func (c *Controller) observe(busy float64) {
	c.busyGauge.Set(busy)
	p := c.procs
	next := p
	switch {
	case busy > c.pol.Grow*float64(p) && p < c.max:
		next = min(2*p, c.max)
		c.below = 0
	case p > 1 && busy < c.pol.Shrink*float64(p-1):
		c.below++
		if c.below >= c.pol.ShrinkAfter {
			next, c.below = p-1, 0
		}
	default:
		c.below = 0
	}
	if next == p {
		return
	}
	dir := "up"
	if next < p {
		dir = "down"
	}
	c.procs = next
	c.set(next)
	c.procsGauge.Set(float64(next))
	c.changes.WithLabelValues(dir).Inc()
	c.log.Debug("processors changed", "from", p, "to", next, "busy_cores", math.Round(busy*100)/100)
}
