package proxy

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/icon-edge/icon-edge/internal/rawjson"
	"github.com/icon-edge/icon-edge/routing"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// Micro-batching (opt-in, upstream.micro_batch): concurrent single reads for
// the same path and Icon-Options are sent to one node as one JSON-RPC batch
// of up to MaxItems, and each client gets its item back as the node would
// have answered it alone (200 with the object for a result, 400 for an
// error, as goloop answers single calls). The first read of a batch waits
// at most MaxWait for company; a read that finds no other read in flight is
// sent at once, so an idle edge adds no latency. Nodes then parse, route and
// answer one request where there were several: fewer requests, fewer
// connections woken, less node CPU per call.
//
// Only plain reads take part: no writes, no wait methods, no debug calls,
// and no method whose -31004 may deserve a second node's opinion (the
// attempt loop's not-found rule works on single answers). Anything a batch
// cannot settle (no node, a failed node, an answer that is not one item per
// call) sends its calls the ordinary way, one by one.

// MicroBatchConfig turns micro-batching on when MaxItems > 1.
type MicroBatchConfig struct {
	// MaxWait bounds how long the first read of a batch waits for others.
	MaxWait time.Duration
	// MaxItems bounds the calls in one node batch (≤ NodeBatchLimit).
	MaxItems int
}

type microBatcher struct {
	s        *Server
	maxWait  time.Duration
	maxItems int
	inFlight atomic.Int64 // eligible reads being served right now

	mu   sync.Mutex
	open map[string]*microBatch // by path + Icon-Options; the batch still taking calls

	batches, calls prometheus.Counter
}

// microBatch is one node batch being gathered, then sent by whoever closes it.
type microBatch struct {
	key   string
	items []*microItem
	full  chan struct{} // closed when MaxItems joined: the leader stops waiting
}

// microItem is one client's call in a batch. done is signalled once the
// client's answer is in resp, or fallback says to send it alone.
type microItem struct {
	x        *exchange
	c        *call
	resp     *fasthttp.Response
	done     chan struct{}
	fallback bool
}

var (
	microItems = sync.Pool{New: func() any { return &microItem{done: make(chan struct{}, 1)} }}
)

func newMicroBatcher(s *Server, cfg MicroBatchConfig, reg prometheus.Registerer) (*microBatcher, error) {
	m := &microBatcher{s: s, maxWait: cfg.MaxWait, maxItems: min(cfg.MaxItems, s.live.Load().cfg.NodeBatchLimit),
		open: map[string]*microBatch{}}
	if m.maxWait <= 0 {
		m.maxWait = 200 * time.Microsecond
	}
	m.batches = prometheus.NewCounter(prometheus.CounterOpts{Name: "icon_edge_microbatch_node_requests_total",
		Help: "Node batches sent by micro-batching (upstream.micro_batch), each carrying two or more single reads."})
	m.calls = prometheus.NewCounter(prometheus.CounterOpts{Name: "icon_edge_microbatch_calls_total",
		Help: "Single reads answered from a micro-batched node batch."})
	for _, c := range []prometheus.Collector{m.batches, m.calls} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// eligible: a read the node answers at once whose answer stands as given.
func (m *microBatcher) eligible(c *call) bool {
	md := c.method
	return md.Kind == routing.Read && !md.Wait && !md.Debug && !md.RetryNotFound && !c.notify
}

// forward serves c, an eligible read, through a node batch when other
// eligible reads are in flight. false: c was not batched (alone, or the
// batch could not settle it) and must be sent the ordinary way; it counts
// as in flight until the caller's deferred done.
func (m *microBatcher) forward(x *exchange, c *call, resp *fasthttp.Response) (batched bool, done func()) {
	if m.inFlight.Add(1) == 1 {
		return false, m.leave // nobody to share a node request with: no wait
	}
	return m.join(x, c, resp), m.leave
}

func (m *microBatcher) leave() { m.inFlight.Add(-1) }

// join puts c in the open batch for its path, waits for the answer and
// reports whether it came from the batch.
func (m *microBatcher) join(x *exchange, c *call, resp *fasthttp.Response) bool {
	it := microItems.Get().(*microItem)
	*it = microItem{x: x, c: c, resp: resp, done: it.done}
	defer microItems.Put(it)

	var kb [256]byte
	key := microKey(kb[:0], x.origin)
	m.mu.Lock()
	b := m.open[string(key)] // no allocation: the conversion is only looked up
	leader := b == nil
	if leader {
		// Not pooled: the leader may still be waiting on it when its
		// sender is done.
		b = &microBatch{key: string(key), full: make(chan struct{}), items: make([]*microItem, 0, m.maxItems)}
		m.open[b.key] = b
	}
	b.items = append(b.items, it)
	closeNow := len(b.items) >= m.maxItems
	if closeNow {
		delete(m.open, b.key)
		close(b.full)
	}
	m.mu.Unlock()

	switch {
	case closeNow:
		m.send(x, b)
	case leader:
		t := time.NewTimer(m.maxWait)
		select {
		case <-b.full:
			t.Stop()
		case <-t.C:
			m.mu.Lock()
			mine := m.open[b.key] == b
			if mine {
				delete(m.open, b.key)
			}
			m.mu.Unlock()
			if mine {
				m.send(x, b)
			}
		}
	}
	<-it.done
	return !it.fallback
}

// microKey is what calls must share to share a node request: the path (so
// the channel) and the Icon-Options header.
func microKey(dst []byte, o origin) []byte {
	k := append(dst, o.path...)
	k = append(k, 0)
	return append(k, o.iconOptions...)
}

// send makes b's node request on behalf of all its calls and hands each its
// answer. x is the sender's own exchange: its path and Icon-Options are
// every item's.
func (m *microBatcher) send(x *exchange, b *microBatch) {
	items := b.items
	defer func() {
		for _, it := range items {
			it.done <- struct{}{}
		}
	}()
	if len(items) == 1 {
		items[0].fallback = true // a batch of one is a single call
		return
	}
	buf := scratch.Get()
	defer scratch.Put(buf)
	body := append(buf.B[:0], '[')
	need := upstream.Need{}
	timeout := x.st.cfg.RequestTimeout
	deadline := items[0].x.start.Add(timeout)
	for i, it := range items {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, it.c.raw...)
		need.Latest = need.Latest || it.c.need.Latest
		need.MinHeight = max(need.MinHeight, it.c.need.MinHeight)
		if d := it.x.start.Add(timeout); d.Before(deadline) {
			deadline = d
		}
	}
	buf.B = append(body, ']')
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	r := m.s.send(x.origin, need, buf.B, resp, deadline, x.st.chunk)
	var raws [][]byte
	if r.Answered() && resp.StatusCode() == fasthttp.StatusOK {
		raws = rawjson.Elements(resp.Body())
	}
	for i := 0; i < len(raws) && len(raws) == len(items); i++ {
		if string(rawjson.Get(raws[i], "id")) != string(items[i].c.id) {
			raws = nil // not the order asked for: never guess whose answer is whose
		}
	}
	if len(raws) != len(items) {
		// No node, a failed one, or not one answer per call: each call
		// goes again on its own, with the ordinary rules.
		for _, it := range items {
			it.fallback = true
		}
		return
	}
	m.batches.Inc()
	m.calls.Add(float64(len(items)))
	for i, it := range items {
		// goloop keeps a batch's order; its single answers are the same
		// object, 400 when it is an error, with a trailing newline.
		status := fasthttp.StatusOK
		if rawjson.Get(raws[i], "error") != nil {
			status = fasthttp.StatusBadRequest
		}
		writeJSON(it.resp, status, raws[i])
		it.c.upstream, it.c.retries = r.Node, r.Retries
	}
}
