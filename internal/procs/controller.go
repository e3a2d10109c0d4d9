package procs

import (
	"context"
	"log/slog"
	"math"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Policy is when the count changes (DefaultPolicy; tests vary it).
type Policy struct {
	Window time.Duration // how often CPU use is measured
	// Grow: a window that used more than Grow × procs cores raises procs to
	// what that use needs at Grow (at least one more), or doubles it when
	// the processors were Saturated: then the real demand is unknown.
	Grow, Saturated float64
	// Shrink: ShrinkAfter windows in a row under Shrink × (procs-1) cores
	// lower procs to what the busiest of them needed at Grow (at least one
	// fewer). Shrink below Grow leaves a gap, so a load that fits one count
	// does not flap between two.
	Shrink      float64
	ShrinkAfter int
	// RefreshEvery windows the ceiling is read again from the runtime (the
	// container's CPU limit may have changed).
	RefreshEvery int
}

// DefaultPolicy measures four times a second, grows past ¾ busy (doubling
// past 0.9), and shrinks after ten seconds under 0.65 of one processor
// fewer: long enough that a burst every block (a websocket fan-out every
// 2 s) keeps its processors. The ceiling is re-read every 30 s.
var DefaultPolicy = Policy{Window: 250 * time.Millisecond, Grow: 0.75, Saturated: 0.9, Shrink: 0.65,
	ShrinkAfter: 40, RefreshEvery: 120}

// hooks tie a Controller to the process (processHooks) or to a test.
type hooks struct {
	cpu     func() time.Duration // CPU time the whole process has used
	gcIdle  func() time.Duration // of which the GC ran on processors that were idle
	now     func() time.Time
	set     func(int)  // GOMAXPROCS
	ceiling func() int // the runtime's default count now
}

// Controller runs the adaptive count.
type Controller struct {
	pol   Policy
	h     hooks
	log   *slog.Logger
	max   int
	procs atomic.Int32 // written by the controller's goroutine only
	below int          // windows in a row under the shrink line
	peak  float64      // the busiest of them

	stop context.CancelFunc
	done chan struct{}

	procsGauge prometheus.GaugeFunc
	busyGauge  prometheus.Gauge
	changes    *prometheus.CounterVec
}

// newController sizes between one processor and limit; begin starts it at one.
func newController(pol Policy, limit int, h hooks, log *slog.Logger) *Controller {
	c := &Controller{pol: pol, h: h, log: log, max: max(limit, 1), done: make(chan struct{})}
	c.procs.Store(int32(c.max))
	c.procsGauge = prometheus.NewGaugeFunc(procsOpts, func() float64 { return float64(c.procs.Load()) })
	c.busyGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "icon_edge_procs_busy_cores",
		Help: "CPU the process used in the last window of the adaptive processor count, in cores (GC work on idle processors left out).",
	})
	c.changes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "icon_edge_procs_changes_total",
		Help: "Changes of the adaptive processor count, by direction (up, down).",
	}, []string{"direction"})
	for _, dir := range []string{"up", "down"} {
		c.changes.WithLabelValues(dir) // 0 from the start, so rates and scrapes see both
	}
	return c
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
func (c *Controller) Procs() int { return int(c.procs.Load()) }

// begin drops the count to one processor: the load raises it.
func (c *Controller) begin() { c.apply(1) }

func (c *Controller) apply(n int) {
	c.procs.Store(int32(n))
	c.h.set(n)
}

// start runs the controller on a ticker of every until ctx ends or Stop.
func (c *Controller) start(ctx context.Context, every time.Duration) {
	ctx, c.stop = context.WithCancel(ctx)
	t := time.NewTicker(every)
	go func() {
		defer t.Stop()
		c.run(ctx, t.C)
	}()
}

// Stop ends the controller and waits for it; the count stays where it is.
func (c *Controller) Stop() {
	c.stop()
	<-c.done
}

// run measures a window at each tick and acts on it.
func (c *Controller) run(ctx context.Context, ticks <-chan time.Time) {
	defer close(c.done)
	last := c.read()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
		last = c.window(n, last)
	}
}

// reading is the process's CPU clocks at one instant.
type reading struct {
	cpu, gcIdle time.Duration
	at          time.Time
}

func (c *Controller) read() reading {
	return reading{cpu: c.h.cpu(), gcIdle: c.h.gcIdle(), at: c.h.now()}
}

// window ends the n-th window, which began at last, and returns the next
// one's start.
func (c *Controller) window(n int, last reading) reading {
	r := c.read()
	if wall := r.at.Sub(last.at); wall > 0 {
		// The GC's idle-time workers fill every processor the edge leaves
		// idle during a cycle: counted, they would make any GC a reason to
		// grow.
		c.observe(max(0, float64((r.cpu-last.cpu)-(r.gcIdle-last.gcIdle))/float64(wall)))
	}
	if n%c.pol.RefreshEvery == 0 {
		c.refreshCeiling()
	}
	return r
}

// observe takes one window's CPU use, in cores, and changes the count if
// the policy says so.
func (c *Controller) observe(busy float64) {
	c.busyGauge.Set(busy)
	p := c.Procs()
	next := p
	need := int(math.Ceil(busy / c.pol.Grow)) // processors that keep this load at Grow
	switch {
	case busy > c.pol.Grow*float64(p) && p < c.max:
		next = max(need, p+1)
		if busy > c.pol.Saturated*float64(p) {
			next = max(next, 2*p)
		}
		next = min(next, c.max)
		c.below, c.peak = 0, 0
	case p > 1 && busy < c.pol.Shrink*float64(p-1):
		c.below++
		c.peak = max(c.peak, busy)
		if c.below >= c.pol.ShrinkAfter {
			next = min(max(int(math.Ceil(c.peak/c.pol.Grow)), 1), p-1)
			c.below, c.peak = 0, 0
		}
	default:
		c.below, c.peak = 0, 0
	}
	if next == p {
		return
	}
	dir := "up"
	if next < p {
		dir = "down"
	}
	c.apply(next)
	c.changes.WithLabelValues(dir).Inc()
	c.log.Debug("processors changed", "from", p, "to", next, "busy_cores", math.Round(busy*100)/100)
}

// refreshCeiling follows a change of the runtime's default count (a new
// container CPU limit): reading it resets GOMAXPROCS, so the count is set
// again, within the new ceiling.
func (c *Controller) refreshCeiling() {
	limit := max(c.h.ceiling(), 1)
	if limit != c.max {
		c.log.Info("processor ceiling changed", "from", c.max, "to", limit)
		c.max = limit
	}
	c.apply(min(c.Procs(), c.max))
}

// gcIdleTime is the runtime's estimate of the CPU its GC spent on otherwise
// idle processors (updated at each cycle's start and end).
func gcIdleTime() time.Duration {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/mark/idle:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return time.Duration(s[0].Value.Float64() * float64(time.Second))
}
