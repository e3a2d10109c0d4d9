package upstream

import (
	"time"
)

// A region may run several edge replicas in front of the same nodes. Each
// probes every node, but a node one replica found dead would keep getting
// the others' traffic until each found out alone. Replicas therefore share
// their verdicts (package redisstate carries them over Redis pub/sub): an
// ejection with its backoff, and the tip their probes saw.
//
// A shared ejection takes the node out at once; it comes back the usual way,
// after the backoff and this replica's own good probes, so a replica that
// can still reach the node does not keep it out for long. A shared tip only
// tightens which nodes count as in sync (never by more than max_lag past this
// replica's own tip, so its best node always stays in); routing by height,
// cache finality and /status.json keep this replica's own tip.

// VerdictSink carries this replica's verdicts to the region's other
// replicas. Its methods are called on probe and request goroutines and must
// never block.
type VerdictSink interface {
	PublishEjection(node string, backoff time.Duration, byProbe bool)
	PublishTip(height int64)
}

// shareEjection publishes that n was just ejected.
func (p *Pool) shareEjection(n *Node, byProbe bool) {
	if p.cfg.Verdicts != nil {
		p.cfg.Verdicts.PublishEjection(n.url, n.backoffNow(), byProbe)
	}
}

// ApplyEjection takes the node at url out of rotation for backoff because
// another replica ejected it. byProbe: it failed that replica's probes (it is
// down), rather than live requests; only the latter respect the share of the
// fleet that may be out at once, as local ejections do. It reports whether
// the node was ejected here.
func (p *Pool) ApplyEjection(url string, backoff time.Duration, byProbe bool) bool {
	var n *Node
	for _, c := range p.Nodes() {
		if c.url == url {
			n = c
			break
		}
	}
	if n == nil || n.State() != StateHealthy || (!byProbe && !p.mayEject()) {
		return false
	}
	hc := &p.conf().Health
	backoff = min(max(backoff, hc.BackoffMin), hc.BackoffMax)
	if !n.ejectFor(backoff, byProbe, time.Now()) {
		return false
	}
	why := "live requests"
	if byProbe {
		why = "probes"
	}
	p.log.Warn("upstream node ejected: another replica's "+why+" failed on it", "upstream", url, "retry_in", backoff)
	p.updateTip()
	return true
}

// ejectFor ejects a healthy node for exactly backoff (the doubling of later
// ejections continues from it).
func (n *Node) ejectFor(backoff time.Duration, byProbe bool, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.State() != StateHealthy {
		return false
	}
	n.backoff = backoff
	n.ejectedUntil = now.Add(backoff)
	n.goodProbes = 0
	n.ejectedByProbe = byProbe
	n.state.Store(int32(StateEjected))
	return true
}

// ApplyTip notes a tip another replica's probes saw.
func (p *Pool) ApplyTip(height int64) {
	now := time.Now().UnixNano()
	if height <= p.remoteTip.Load() && now-p.remoteTipAt.Load() < int64(p.remoteTipTTL()) {
		return
	}
	p.remoteTip.Store(height)
	p.remoteTipAt.Store(now)
	p.updateTip()
}

// remoteTipTTL is how long a published tip counts: a replica that stops
// publishing (gone, or cut off from Redis) stops steering this one.
func (p *Pool) remoteTipTTL() time.Duration {
	return max(3*p.conf().Health.ProbeInterval, time.Second)
}

// syncTipFor is the tip in-sync decisions use, given this replica's own.
func (p *Pool) syncTipFor(tip int64) int64 {
	rt := p.remoteTip.Load()
	if tip < 0 || rt <= tip || time.Now().UnixNano()-p.remoteTipAt.Load() >= int64(p.remoteTipTTL()) {
		return tip
	}
	return min(rt, tip+p.conf().MaxLag)
}

// publishTip shares a tip higher than any this replica published before.
func (p *Pool) publishTip(tip int64) {
	if p.cfg.Verdicts == nil {
		return
	}
	for {
		old := p.publishedTip.Load()
		if tip <= old {
			return
		}
		if p.publishedTip.CompareAndSwap(old, tip) {
			p.cfg.Verdicts.PublishTip(tip)
			return
		}
	}
}
