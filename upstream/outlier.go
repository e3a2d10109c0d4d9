package upstream

import (
	"time"
)

// Passive health (outlier detection, after Envoy's): live traffic ejects a
// node only when its failure *rate* over a window is high, never on a short
// streak, and never more than a share of the fleet at once. A fleet where
// every node fails a fifth of requests keeps every node: retries on other
// nodes absorb the failures, and ejecting nodes would only concentrate them.
// Dead nodes are found by active probes (health.go), which are not capped.

// outlierWindow counts live outcomes in two half-window buckets, so the rate
// always covers between a half and a whole window.
type outlierWindow struct {
	start       time.Time
	cur, prev   [2]int // requests, failures
	halfWindow  time.Duration
	initialized bool
}

func (w *outlierWindow) add(failed bool, now time.Time, half time.Duration) (requests, failures int) {
	if !w.initialized || half != w.halfWindow {
		*w = outlierWindow{start: now, halfWindow: half, initialized: true}
	}
	switch elapsed := now.Sub(w.start); {
	case elapsed >= 2*half:
		w.prev, w.cur, w.start = [2]int{}, [2]int{}, now
	case elapsed >= half:
		w.prev, w.cur, w.start = w.cur, [2]int{}, w.start.Add(half)
	}
	w.cur[0]++
	if failed {
		w.cur[1]++
	}
	return w.cur[0] + w.prev[0], w.cur[1] + w.prev[1]
}

// observeLive books one live request on n and ejects it when its failure
// rate crosses the threshold and the fleet can spare it. It reports an ejection.
func (p *Pool) observeLive(n *Node, failed bool, err error, now time.Time) bool {
	hc := &p.conf().Health
	n.mu.Lock()
	requests, failures := n.window.add(failed, now, hc.OutlierWindow/2)
	if failed {
		n.failures.Add(1)
		n.errRate += ewmaWeight * (1 - n.errRate)
		if err != nil {
			n.lastError = err.Error()
		}
	}
	over := failed && requests >= hc.OutlierMinRequests && float64(failures) >= hc.OutlierFailureRate*float64(requests)
	n.mu.Unlock()
	if !over || n.State() != StateHealthy || !p.mayEject() {
		return false
	}
	return n.eject(hc, now, false)
}

// mayEject reports whether one more node may be ejected for its error rate
// without exceeding the share of the fleet that may be out at once.
func (p *Pool) mayEject() bool {
	nodes := *p.nodes.Load()
	total, out := 0, 0
	for _, n := range nodes {
		switch n.State() {
		case StateDraining:
			continue
		case StateEjected:
			out++
		}
		total++
	}
	return (out+1)*100 <= total*p.conf().Health.MaxEjectedPercent
}

// eject takes a healthy node out of rotation for a backoff that doubles with
// each ejection in a row. It reports whether this call ejected it.
func (n *Node) eject(hc *HealthConfig, now time.Time, byProbe bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.State() != StateHealthy && n.State() != StateStarting {
		return false
	}
	// A node that stayed healthy for a while starts its backoff afresh.
	if n.backoff == 0 || now.Sub(n.ejectedUntil) > 2*hc.BackoffMax {
		n.backoff = hc.BackoffMin
	} else {
		n.backoff = min(2*n.backoff, hc.BackoffMax)
	}
	n.ejectedUntil = now.Add(n.backoff)
	n.goodProbes = 0
	n.ejectedByProbe = byProbe
	n.state.Store(int32(StateEjected))
	return true
}
