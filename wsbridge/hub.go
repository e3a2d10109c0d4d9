package wsbridge

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// pos orders notifications: (height, tx index); a progress notification of
// height h sorts before h's events (goloop sends it when it starts on h).
type pos struct{ h, i int64 }

const progressIndex = -1

func (a pos) less(b pos) bool { return a.h < b.h || (a.h == b.h && a.i < b.i) }

// before is the position just before anything of height h.
func before(h int64) pos { return pos{h - 1, math.MaxInt64} }

// entry is one upstream notification, framed once for every client.
type entry struct {
	at       pos
	progress bool
	frame    []byte // framed once (fanout.go), written as is to every client
	raw      []byte // the node's bytes until published, for a shared feed to cut from
	recv     time.Time
}

// hub is one upstream subscription following the head for every client with
// the same kind, channel and filters. It keeps the last cfg.History entries
// so that clients asking for a recent height can join it without a gap. Its
// notifications come from a session of its own, or, for event filters the
// bridge can match itself (sel), from a feed shared with other hubs.
type hub struct {
	b       *Bridge
	key     string
	kind    string
	channel string
	filters []byte
	plain   bool      // /block without filters: the hub every block subscriber shares
	sel     *selector // set when fed by a shared feed
	feed    *feed     // guarded by b.mu
	cancel  context.CancelFunc

	mu      sync.Mutex
	clients map[*client]struct{}
	hist    []*entry
	covered pos // every notification after covered is in hist or still to come
	last    pos // last published
	closed  bool
	linger  *time.Timer
}

func hubKey(sub *subscription, channel string) string {
	return sub.kind + "\x00" + channel + "\x00" + string(sub.filters)
}

// hubFor returns the live hub for sub, creating it (for a client already
// admitted by subscribe whose hub closed meanwhile).
func (b *Bridge) hubFor(sub *subscription, channel string, from int64) *hub {
	b.mu.Lock()
	defer b.mu.Unlock()
	if h := b.hubs[hubKey(sub, channel)]; h != nil {
		return h
	}
	return b.newHubLocked(sub, channel, from)
}

// newHubLocked creates the hub for sub, starting at from (or at the tip when
// from is far behind it: those clients catch up on their own).
func (b *Bridge) newHubLocked(sub *subscription, channel string, from int64) *hub {
	// A hub serves everyone who follows the head: it never starts ahead of
	// the tip (a client asking for a future height must not park it there;
	// such a client simply waits, as its cursor skips what it did not ask for)
	// nor far behind it.
	if tip := b.pool.Tip(); tip > 0 && (from < tip-hubLookback || from > tip) {
		from = tip
	}
	ctx, cancel := context.WithCancel(b.ctx)
	h := &hub{b: b, key: hubKey(sub, channel), kind: sub.kind, channel: channel, filters: sub.filters,
		plain: sub.plain, cancel: cancel, clients: map[*client]struct{}{}, covered: before(from), last: before(from)}
	h.linger = time.AfterFunc(b.cfg.HubLinger, h.closeIfIdle)
	b.hubs[h.key] = h
	if sub.sel != nil && fitsAlone(sub.sel) {
		h.sel = sub.sel
		b.joinFeedLocked(h)
		return h
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		err := b.follow(ctx, h.kind, h.channel, h.filters, h.lastPos, h.publish, h.plain)
		if err != nil && ctx.Err() == nil {
			h.fail(err)
		}
	}()
	return h
}

// hubLookback: a new hub starts this many blocks back at most, so a client's
// recent height is covered without an initial burst larger than its queue.
const hubLookback = 32

func (h *hub) lastPos() pos {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// attach makes c a client of h if h holds everything after c's cursor and
// the part already received fits c's free queue. closed reports a hub that
// has shut down (the caller asks for a new one).
func (h *hub) attach(c *client) (ok, closed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false, true
	}
	select {
	case <-c.done: // left while catching up: attaching it would pin the hub
		return false, false
	default:
	}
	if c.cursor.less(h.covered) {
		return false, false
	}
	i := sort.Search(len(h.hist), func(i int) bool { return c.cursor.less(h.hist[i].at) })
	n, cur := 0, c.cursor
	for _, e := range h.hist[i:] {
		if c.wants(cur, e) {
			n++
		}
		cur = e.at
	}
	if n > c.room() {
		return false, false
	}
	for _, e := range h.hist[i:] {
		c.offer(e) // fits: checked above, and only the writer takes from q
	}
	h.clients[c] = struct{}{}
	c.hub.Store(h)
	h.linger.Stop()
	return true, false
}

func (h *hub) detach(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
	if len(h.clients) == 0 && !h.closed {
		h.linger.Reset(h.b.cfg.HubLinger)
	}
}

func (h *hub) closeIfIdle() {
	h.b.mu.Lock()
	defer h.b.mu.Unlock()
	if h.b.keyRefs[h.key] > 0 {
		return // a client admitted for it is about to attach
	}
	h.shutIfIdleLocked()
}

// shutIfIdleLocked closes h if no client is attached (b.mu held).
func (h *hub) shutIfIdleLocked() bool {
	h.mu.Lock()
	if len(h.clients) > 0 || h.closed {
		h.mu.Unlock()
		return false
	}
	h.closed = true
	h.hist = nil
	h.mu.Unlock()
	h.linger.Stop()
	h.removeLocked()
	return true
}

// removeLocked takes a closed hub off the bridge and its feed (b.mu held).
func (h *hub) removeLocked() {
	if h.b.hubs[h.key] == h {
		delete(h.b.hubs, h.key)
	}
	h.cancel()
	if h.feed != nil {
		h.feed.leaveLocked(h)
	}
}

// publish hands e to every client; called by the upstream reader only.
func (h *hub) publish(e *entry) bool {
	var slow []*client
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return false
	}
	if !h.last.less(e.at) { // already published before a resubscription
		h.mu.Unlock()
		return true
	}
	h.last = e.at
	e.raw = nil // frame holds its own copy; history need not keep two
	h.hist = append(h.hist, e)
	if over := len(h.hist) - h.b.cfg.History; over > 0 {
		h.covered = h.hist[over-1].at
		clear(h.hist[:over])
		h.hist = h.hist[over:]
	}
	for c := range h.clients {
		if !c.offer(e) {
			delete(h.clients, c)
			slow = append(slow, c)
		}
	}
	h.mu.Unlock()
	for _, c := range slow {
		h.b.metrics.slow.Inc()
		c.kick(websocket.ClosePolicyViolation, "send buffer full: client too slow")
	}
	return true
}

// fail ends a hub whose subscription no node accepts.
func (h *hub) fail(err error) {
	h.b.log.Warn("wsbridge: hub failed", "kind", h.kind, "channel", h.channel, "err", err)
	h.b.mu.Lock()
	h.removeLocked()
	h.b.mu.Unlock()
	h.mu.Lock()
	h.closed = true
	cs := make([]*client, 0, len(h.clients))
	for c := range h.clients {
		cs = append(cs, c)
	}
	clear(h.clients)
	h.mu.Unlock()
	for _, c := range cs {
		c.kick(websocket.CloseInternalServerErr, truncReason("upstream: "+err.Error()))
	}
}

// truncReason keeps a close reason within the 123 bytes a close frame allows.
func truncReason(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}

func (b *Bridge) hubCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.hubs)
}
