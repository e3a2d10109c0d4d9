package upstream

import (
	"math/rand/v2"
	"slices"
)

// Pick chooses the node for a request: among healthy nodes that meet need and
// are not in tried, the better of two random ones by latency × (in-flight+1)
// ("power of two choices": near-best choices without herding every request
// onto the one node that looked fastest a moment ago).
//
// A read pinned at or above the tip that no node qualifies for goes to an
// in-sync node: the block may have been made since the last probe, and the
// node that was at the tip may just have left. Pick returns nil when nothing
// qualifies.
func (p *Pool) Pick(need Need, tried []*Node) *Node {
	nodes := *p.nodes.Load()
	tip, syncTip := p.tip.Load(), p.syncTip.Load()
	var buf [16]*Node
	eligible := buf[:0]
	for _, n := range nodes {
		if p.qualifies(n, need, syncTip) && !slices.Contains(tried, n) {
			eligible = append(eligible, n)
		}
	}
	if len(eligible) == 0 && need.MinHeight > 0 && need.MinHeight >= tip {
		return p.Pick(Need{Latest: true}, tried)
	}
	if len(eligible) == 0 {
		// Panic mode: no healthy node qualifies, but nodes ejected for their
		// error rate still answer most requests. Serving from them beats
		// serving nothing; nodes that fail their probes stay out.
		for _, n := range nodes {
			if p.panicEligible(n, need) && !slices.Contains(tried, n) {
				eligible = append(eligible, n)
			}
		}
	}
	switch len(eligible) {
	case 0:
		return nil
	case 1:
		return eligible[0]
	}
	i := rand.IntN(len(eligible))
	j := rand.IntN(len(eligible) - 1)
	if j >= i {
		j++
	}
	a, b := eligible[i], eligible[j]
	if b.score() < a.score() {
		return b
	}
	return a
}

func (p *Pool) panicEligible(n *Node, need Need) bool {
	if n.State() != StateEjected {
		return false
	}
	n.mu.Lock()
	byProbe := n.ejectedByProbe
	n.mu.Unlock()
	h := n.Height()
	return !byProbe && h >= 0 && h >= need.MinHeight
}

func (p *Pool) qualifies(n *Node, need Need, tip int64) bool {
	if n.State() != StateHealthy {
		return false
	}
	h := n.Height()
	if h < 0 || h < need.MinHeight {
		return false
	}
	return !need.Latest || tip-h <= p.conf().MaxLag
}
