package ratelimit

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	uber "go.uber.org/ratelimit"
)

// GuardMetrics holds the upstream guards' metrics; one per registry, shared
// by every guard.
type GuardMetrics struct {
	shed *prometheus.CounterVec
}

// NewGuardMetrics registers icon_edge_upstream_shed_total{upstream} on reg
// (nil: not registered).
func NewGuardMetrics(reg prometheus.Registerer) (*GuardMetrics, error) {
	m := &GuardMetrics{shed: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "icon_edge_upstream_shed_total", Help: "Requests shed because an upstream node was at its maximum request rate for longer than the allowed wait.",
	}, []string{"upstream"})}
	if reg != nil {
		if err := reg.Register(m.shed); err != nil {
			return nil, fmt.Errorf("ratelimit: registering upstream metrics: %w", err)
		}
	}
	return m, nil
}

// UpstreamGuard paces requests to one upstream node at its maximum rate.
// A request waits for its slot at most maxWait (or until its deadline, if
// sooner); one that would wait longer is shed at once, so the queue in
// front of a node never holds more than about rps*maxWait requests.
type UpstreamGuard struct {
	rl      uber.Limiter
	per     time.Duration
	maxWait time.Duration
	waiting atomic.Int64
	shed    atomic.Uint64
	counter prometheus.Counter
}

// NewUpstreamGuard builds the guard for the node named name (the metric
// label). rps <= 0 means unlimited. m may be nil.
func NewUpstreamGuard(name string, rps int, maxWait time.Duration, m *GuardMetrics) *UpstreamGuard {
	g := &UpstreamGuard{maxWait: max(maxWait, 0)}
	if m != nil {
		g.counter = m.shed.WithLabelValues(name)
	}
	if rps <= 0 {
		return g
	}
	g.per = time.Second / time.Duration(rps)
	g.rl = uber.New(rps)
	return g
}

// Acquire waits for the node's next free slot and reports true, or reports
// false at once (counted as shed) when that slot is further away than
// maxWait or than deadline (zero: no deadline). On false, answer HTTP 503 /
// a JSON-RPC server error without contacting the node.
func (g *UpstreamGuard) Acquire(deadline time.Time) bool {
	if g.rl == nil {
		return true
	}
	budget := g.maxWait
	if !deadline.IsZero() {
		budget = min(budget, time.Until(deadline))
	}
	n := g.waiting.Add(1)
	defer g.waiting.Add(-1)
	// The limiter hands out one slot per interval in arrival order, so the
	// n-th waiter leaves about n-1 intervals from now (sooner when idle
	// slack is left over).
	if budget < 0 || time.Duration(n-1)*g.per > budget {
		g.shed.Add(1)
		if g.counter != nil {
			g.counter.Inc()
		}
		return false
	}
	g.rl.Take()
	return true
}

// Shed is the number of requests this guard has shed.
func (g *UpstreamGuard) Shed() uint64 { return g.shed.Load() }

// Waiting is the number of requests now waiting for a slot.
func (g *UpstreamGuard) Waiting() int { return int(g.waiting.Load()) }
