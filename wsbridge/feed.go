package wsbridge

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/valyala/fastjson"
)

// A feed is one upstream /event session shared by the hubs of many distinct
// event subscriptions on a channel: it asks the node for the union of their
// filters with logs, and cuts each hub's own notifications from what arrives
// (selector.cut). Distinct filters then cost the node nothing more than one
// session, so a client cannot exhaust a node's sessions by varying them.
//
// Membership is guarded by Bridge.mu. When a hub joins, the feed resubscribes
// with the new union from the earliest position its hubs still need; hubs
// drop what they already published, so the switch has no gap and no
// duplicate. A hub leaving changes nothing until the next resubscription.
type feed struct {
	b       *Bridge
	channel string
	hubs    map[*hub]struct{}
	filters map[string]int // canonical filter → member hubs using it
	bytes   int            // size of the union's filters in the request
	grew    chan struct{}  // a member joined: resubscribe
	cancel  context.CancelFunc
}

// Limits on one shared request: goloop reads a first message of at most
// 16 KiB, and every filter is matched against every log of a block.
const (
	feedMaxFilters = 64
	feedMaxBytes   = 12 << 10
)

// fits reports whether sel's filters can join f's request.
func (f *feed) fits(sel *selector) bool {
	n, size := len(f.filters), f.bytes
	for _, k := range sel.keys {
		if f.filters[k] == 0 {
			n++
			size += len(k) + 1
		}
	}
	return n <= feedMaxFilters && size <= feedMaxBytes
}

// feedForLocked returns a feed of channel with room for sel; nil if a new
// feed (a new upstream session) would be needed.
func (b *Bridge) feedForLocked(channel string, sel *selector) *feed {
	for _, f := range b.feeds[channel] {
		if f.fits(sel) {
			return f
		}
	}
	return nil
}

// fitsAlone reports whether sel can be shared at all (a filter set larger
// than one shared request keeps a session of its own).
func fitsAlone(sel *selector) bool {
	return (&feed{filters: map[string]int{}}).fits(sel)
}

// joinFeedLocked makes h a member of a feed with room, starting a new feed
// (and upstream session) when none has.
func (b *Bridge) joinFeedLocked(h *hub) {
	f := b.feedForLocked(h.channel, h.sel)
	if f == nil {
		ctx, cancel := context.WithCancel(b.ctx)
		f = &feed{b: b, channel: h.channel, hubs: map[*hub]struct{}{}, filters: map[string]int{},
			grew: make(chan struct{}, 1), cancel: cancel}
		b.feeds[h.channel] = append(b.feeds[h.channel], f)
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			f.run(ctx)
		}()
	}
	f.hubs[h] = struct{}{}
	for _, k := range h.sel.keys {
		if f.filters[k]++; f.filters[k] == 1 {
			f.bytes += len(k) + 1
		}
	}
	h.feed = f
	select {
	case f.grew <- struct{}{}:
	default:
	}
}

// leaveLocked removes h; the last member to leave ends the feed.
func (f *feed) leaveLocked(h *hub) {
	if _, ok := f.hubs[h]; !ok {
		return
	}
	delete(f.hubs, h)
	for _, k := range h.sel.keys {
		if f.filters[k]--; f.filters[k] == 0 {
			delete(f.filters, k)
			f.bytes -= len(k) + 1
		}
	}
	if len(f.hubs) > 0 {
		return
	}
	f.cancel()
	list := f.b.feeds[f.channel]
	for i, g := range list {
		if g == f {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(f.b.feeds, f.channel)
	} else {
		f.b.feeds[f.channel] = list
	}
}

// request is the shared subscription: every member's filters, with logs so
// that each member's events can be told apart here.
func (f *feed) requestLocked() []byte {
	req := struct {
		EventFilters []json.RawMessage `json:"eventFilters"`
		Logs         string            `json:"logs"`
	}{Logs: "0x1"}
	keys := make([]string, 0, len(f.filters))
	for k := range f.filters {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same members make the same request
	for _, k := range keys {
		req.EventFilters = append(req.EventFilters, json.RawMessage(k))
	}
	b, _ := json.Marshal(&req)
	return b
}

func (f *feed) run(ctx context.Context) {
	for ctx.Err() == nil {
		select { // the snapshot below includes whoever signalled
		case <-f.grew:
		default:
		}
		f.b.mu.Lock()
		req := f.requestLocked()
		f.b.mu.Unlock()
		sctx, cancel := context.WithCancel(ctx)
		stop := make(chan struct{})
		go func() {
			select {
			case <-f.grew:
				cancel()
			case <-stop:
			}
		}()
		err := f.b.follow(sctx, "event", f.channel, req, f.lastPos, f.publish, false)
		close(stop)
		cancel()
		if err != nil && ctx.Err() == nil {
			f.fail(err)
			return
		}
	}
}

// lastPos is where a (re)subscription starts: the earliest position any
// member still needs.
func (f *feed) lastPos() pos {
	f.b.mu.Lock()
	hs := make([]*hub, 0, len(f.hubs))
	for h := range f.hubs {
		hs = append(hs, h)
	}
	f.b.mu.Unlock()
	first := true
	var p pos
	for _, h := range hs {
		if l := h.lastPos(); first || l.less(p) {
			p, first = l, false
		}
	}
	if first {
		return before(f.b.pool.Tip())
	}
	return p
}

// publish hands an upstream notification to every member: progress as it
// is, events cut to what each member's filters match.
func (f *feed) publish(e *entry) bool {
	f.b.mu.Lock()
	hs := make([]*hub, 0, len(f.hubs))
	for h := range f.hubs {
		hs = append(hs, h)
	}
	f.b.mu.Unlock()
	if e.progress {
		for _, h := range hs {
			h.publish(e)
		}
		return true
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(e.raw)
	if err != nil {
		return true // parseNotification has parsed it already
	}
	logs := v.GetArray("logs")
	if len(logs) != len(v.GetArray("events")) {
		f.b.log.Warn("wsbridge: shared event notification without a log per event; dropped", "channel", f.channel,
			"height", e.at.h, "index", e.at.i)
		return true
	}
	for _, h := range hs {
		out, ok := h.sel.cut(e.raw, logs)
		if !ok {
			continue
		}
		h.publish(&entry{at: e.at, frame: textFrame(out), recv: e.recv})
	}
	return true
}

// fail ends every member when the nodes refuse the shared request (each
// filter was checked as goloop checks it, so this should not happen).
func (f *feed) fail(err error) {
	f.b.mu.Lock()
	hs := make([]*hub, 0, len(f.hubs))
	for h := range f.hubs {
		hs = append(hs, h)
	}
	f.b.mu.Unlock()
	for _, h := range hs {
		h.fail(err)
	}
}
