package wsbridge

import (
	"slices"
	"sync"

	"github.com/icon-edge/icon-edge/upstream"
)

// Upstream sessions are a node's scarcest resource (goloop allows 10 by
// default), and a node with none left answers every new subscriber -31005.
// The bridge therefore never opens more than MaxSessionsPerNode on a node,
// keeps some of those for the plain /block hubs every block subscriber shares,
// and decides up front (subscribe) whether a new subscription can be served,
// answering goloop's -31005 "too many monitor" when it cannot instead of
// leaving the client waiting for a session that will not come.

// nodeSlots counts the bridge's open upstream sessions per node.
type nodeSlots struct {
	mu      sync.Mutex
	open    map[string]int
	max     int // per node
	reserve int // of max, only for plain /block hubs
}

func (s *nodeSlots) acquire(node string, block bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := s.max - s.reserve
	if block {
		limit = s.max
	}
	if s.open[node] >= limit {
		return false
	}
	s.open[node]++
	return true
}

func (s *nodeSlots) release(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[node]--; s.open[node] <= 0 {
		delete(s.open, node)
	}
}

// pickNode picks a node at the tip with a free session slot and takes the slot.
func (b *Bridge) pickNode(tried []*upstream.Node, block bool) *upstream.Node {
	skip := slices.Clone(tried)
	for {
		n := b.pool.Pick(upstream.Need{Latest: true}, skip)
		if n == nil {
			return nil
		}
		if b.slots.acquire(n.URL(), block) {
			return n
		}
		skip = append(skip, n)
	}
}

// Reasons a subscription is refused (label of icon_edge_ws_subscriptions_refused_total).
const (
	refusedPerIP    = "filter_sets_per_ip"
	refusedTotal    = "filter_sets"
	refusedSessions = "sessions"
)

// errTooManyMonitor is goloop's answer when it has no session left
// (samples/ws_session_limit_11th.jsonl).
var errTooManyMonitor = &wsError{Code: -31005, Message: "too many monitor"}

// subscribe admits sub for a client at ip and returns the hub that serves it
// (created if needed), or why it is refused. Plain /block subscriptions are
// always admitted: they all share one hub per channel, which has its slots.
func (b *Bridge) subscribe(ip, channel string, sub *subscription) (*hub, string) {
	key := hubKey(sub, channel)
	lim := b.conns.Load() // the filter-set limits in force (a reload may change them)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !sub.plain {
		sets := b.ipSets[ip]
		if sets[key] == 0 && len(sets) >= lim.MaxFilterSetsPerIP {
			return nil, refusedPerIP
		}
	}
	h := b.hubs[key]
	if h == nil && !sub.plain {
		if b.filterSetsLocked() >= lim.MaxFilterSets && !b.evictIdleLocked(false) {
			return nil, refusedTotal
		}
		if b.needsSessionLocked(channel, sub) && b.sessionsLocked() >= b.sessionCapacity() && !b.evictIdleLocked(true) {
			return nil, refusedSessions
		}
	}
	if h == nil {
		h = b.newHubLocked(sub, channel, sub.height)
	}
	b.keyRefs[key]++
	if !sub.plain {
		if b.ipSets[ip] == nil {
			b.ipSets[ip] = map[string]int{}
		}
		b.ipSets[ip][key]++
	}
	return h, ""
}

// unsubscribe gives back what subscribe counted, once the client has left.
func (b *Bridge) unsubscribe(ip, channel string, sub *subscription) {
	key := hubKey(sub, channel)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.keyRefs[key]--; b.keyRefs[key] <= 0 {
		delete(b.keyRefs, key)
	}
	if sets := b.ipSets[ip]; sets != nil {
		if sets[key]--; sets[key] <= 0 {
			delete(sets, key)
		}
		if len(sets) == 0 {
			delete(b.ipSets, ip)
		}
	}
}

// filterSetsLocked counts the hubs of distinct filter sets (all but plain /block).
func (b *Bridge) filterSetsLocked() int {
	n := 0
	for _, h := range b.hubs {
		if !h.plain {
			n++
		}
	}
	return n
}

// sessionsLocked counts the upstream sessions hubs other than plain /block
// hold: one per dedicated hub, one per shared feed.
func (b *Bridge) sessionsLocked() int {
	n := 0
	for _, h := range b.hubs {
		if !h.plain && h.sel == nil {
			n++
		}
	}
	for _, fs := range b.feeds {
		n += len(fs)
	}
	return n
}

// needsSessionLocked reports whether a new hub for sub would open a session.
func (b *Bridge) needsSessionLocked(channel string, sub *subscription) bool {
	return sub.sel == nil || !fitsAlone(sub.sel) || b.feedForLocked(channel, sub.sel) == nil
}

// sessionCapacity is how many sessions hubs may hold on the nodes at the tip,
// leaving the plain /block slots and room for backlog catch-ups.
func (b *Bridge) sessionCapacity() int {
	nodes := 0
	for _, n := range b.pool.Nodes() {
		if b.pool.InSync(n) {
			nodes++
		}
	}
	return max(max(nodes, 1)*(b.slots.max-b.slots.reserve)-b.cfg.MaxBacklogSessions, 1)
}

// evictIdleLocked closes one hub no client uses any more (it lingers so that
// reconnecting clients find it) to make room; session asks for one whose
// closing frees an upstream session.
func (b *Bridge) evictIdleLocked(session bool) bool {
	for _, h := range b.hubs {
		if h.plain || b.keyRefs[h.key] > 0 {
			continue
		}
		if session && h.sel != nil && len(h.feed.hubs) > 1 {
			continue // the feed would stay
		}
		if h.shutIfIdleLocked() {
			return true
		}
	}
	return false
}
