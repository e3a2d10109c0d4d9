package upstream

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Hedged reads ("The Tail at Scale"): when a read has been out longer than
// most reads take, the same read goes to a second node and whichever answers
// first is used. A node's slow moment then costs the client the hedge delay,
// not the whole slow answer. Only idempotent reads are hedged (the proxy sets
// HedgePolicy for reads that are neither writes nor waits), at most once per
// request, and the share of hedged requests is capped so that a slow fleet is
// not doubled in load.

// HedgePolicy says whether and when a read is hedged. The zero value is off.
type HedgePolicy struct {
	// Delay is the fixed hedge delay; with Quantile set it is the least delay.
	Delay time.Duration
	// Quantile (0 < q < 1): hedge once the read has been out longer than
	// this quantile of recent latencies of its class (Latencies).
	Quantile float64
	// MaxShare caps hedges at this share of hedgeable requests (0 < s <= 1).
	MaxShare float64
	// Latencies is where this class of reads keeps its recent latencies (one
	// per method, so icx_call is not judged by icx_getLastBlock); nil shares
	// the pool's record.
	Latencies *Latencies
}

// On reports whether the policy hedges at all.
func (h *HedgePolicy) On() bool { return h.MaxShare > 0 && (h.Delay > 0 || h.Quantile > 0) }

// Hedge results, the "result" label of icon_edge_hedges_total.
const (
	HedgeWon           = "won"             // the hedge answered first and its answer was used
	HedgeLost          = "lost"            // the first node answered first; the hedge was wasted
	HedgeSkippedCap    = "skipped_cap"     // due, but the share of hedged requests was at its cap
	HedgeSkippedNoNode = "skipped_no_node" // due, but no other node qualified
)

// hedgeUnit is one hedge in the credit counter, which counts in millionths so
// that a share such as 0.05 adds up exactly.
const (
	hedgeUnit  = 1_000_000
	hedgeBurst = 10 * hedgeUnit // hedges that may run back to back after a quiet spell
)

// earnHedge credits share of a hedge for one hedgeable request.
func (p *Pool) earnHedge(share float64) {
	if p.hedgeCredit.Load() < hedgeBurst {
		p.hedgeCredit.Add(int64(share * hedgeUnit))
	}
}

// spendHedge takes one hedge from the credit; false when the cap is reached.
func (p *Pool) spendHedge() bool {
	if p.hedgeCredit.Add(-hedgeUnit) < 0 {
		p.hedgeCredit.Add(hedgeUnit)
		return false
	}
	return true
}

func (p *Pool) hedgeDelay(h *HedgePolicy, now time.Time) time.Duration {
	if h.Quantile <= 0 {
		return h.Delay
	}
	lat := h.Latencies
	if lat == nil {
		lat = &p.latencies
	}
	q := lat.Quantile(h.Quantile, now)
	if q == 0 { // too few samples yet: only a fixed delay can hedge
		return h.Delay
	}
	return max(q, h.Delay)
}

func (p *Pool) countHedge(result string) {
	if c := p.hedges[result]; c != nil {
		c.Inc()
	}
}

// hedgeRun is one hedged pair of attempts. Each attempt has its own copy of
// the request and its own response, because the loser keeps running after
// the caller has answered (fasthttp cannot abandon a request in flight). The
// caller and each running attempt hold a reference; the last one to let go
// returns the run and its objects to the pools.
type hedgeRun struct {
	reqs  [2]*fasthttp.Request
	resps [2]*fasthttp.Response
	done  chan hedgeDone
	timer *time.Timer
	refs  atomic.Int32
}

type hedgeDone struct {
	i       int
	node    *Node
	outcome Outcome
	err     error
}

var hedgeRuns = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &hedgeRun{done: make(chan hedgeDone, 2), timer: t}
}}

func (r *hedgeRun) release() {
	if r.refs.Add(-1) != 0 {
		return
	}
	for i := range r.reqs {
		if r.reqs[i] != nil {
			fasthttp.ReleaseRequest(r.reqs[i])
			fasthttp.ReleaseResponse(r.resps[i])
			r.reqs[i], r.resps[i] = nil, nil
		}
	}
	for len(r.done) > 0 {
		<-r.done
	}
	hedgeRuns.Put(r)
}

// launch starts attempt i of the run on n with its own copy of req.
func (p *Pool) launch(r *hedgeRun, i int, n *Node, req *fasthttp.Request, a Attempt, lat *Latencies) {
	r.reqs[i], r.resps[i] = fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.CopyTo(r.reqs[i])
	r.refs.Add(1)
	go func() {
		defer r.release()
		o, err := p.timedDo(n, r.reqs[i], r.resps[i], a, lat)
		r.done <- hedgeDone{i: i, node: n, outcome: o, err: err}
	}()
}

// timedDo is Do, feeding an answered read's latency to lat.
func (p *Pool) timedDo(n *Node, req *fasthttp.Request, resp *fasthttp.Response, a Attempt, lat *Latencies) (Outcome, error) {
	start := time.Now()
	o, err := p.Do(n, req, resp, a)
	if o == OutcomeOK {
		now := time.Now()
		lat.observe(now.Sub(start), now)
	}
	return o, err
}

// sendHedged runs the first attempt of a hedged read on n: if n has not
// answered after the hedge delay, the same read goes to a second node that
// meets need (and is not in tried), and the first answer wins. It returns
// the outcome the attempt loop goes on with, the node that gave it, and the
// hedge's node (nil when there was no hedge).
func (p *Pool) sendHedged(n *Node, need Need, tried []*Node, req *fasthttp.Request, resp *fasthttp.Response,
	a Attempt, pol *Policy, deadline time.Time) (Outcome, error, *Node, *Node) {
	h := &pol.Hedge
	lat := h.Latencies
	if lat == nil {
		lat = &p.latencies
	}
	now := time.Now()
	d := p.hedgeDelay(h, now)
	if d <= 0 || !now.Add(d).Before(a.Deadline) {
		o, err := p.timedDo(n, req, resp, a, lat)
		return o, err, n, nil
	}
	r := hedgeRuns.Get().(*hedgeRun)
	r.refs.Store(1)
	defer r.release()
	p.launch(r, 0, n, req, a, lat)
	r.timer.Reset(d)
	select {
	case first := <-r.done:
		r.timer.Stop()
		r.resps[first.i].CopyTo(resp)
		return first.outcome, first.err, first.node, nil
	case <-r.timer.C:
	}
	var second *Node
	switch {
	case !p.spendHedge():
		p.countHedge(HedgeSkippedCap)
	default:
		if second = p.Pick(need, tried); second == nil {
			p.hedgeCredit.Add(hedgeUnit) // not spent after all
			p.countHedge(HedgeSkippedNoNode)
		}
	}
	if second == nil {
		first := <-r.done
		r.resps[first.i].CopyTo(resp)
		return first.outcome, first.err, first.node, nil
	}
	a2 := Attempt{Deadline: deadline}
	if pol.AttemptTimeout > 0 {
		a2.Deadline = earlier(deadline, time.Now().Add(pol.AttemptTimeout))
	}
	p.launch(r, 1, second, req, a2, lat)
	win := <-r.done
	if win.outcome != OutcomeOK {
		// The first to finish failed; the other may still answer. When both
		// fail, the attempt loop goes on from the later failure.
		win = <-r.done
	}
	if win.i == 1 {
		p.countHedge(HedgeWon)
	} else {
		p.countHedge(HedgeLost)
	}
	r.resps[win.i].CopyTo(resp)
	return win.outcome, win.err, win.node, second
}

// Latencies is a decaying histogram of read latencies, cheap to feed from
// many goroutines: log-spaced buckets of atomic counters, halved every
// latencyHalfLife so the quantiles follow the recent past.
type Latencies struct {
	buckets   [latencyBuckets]atomic.Uint32
	lastDecay atomic.Int64 // unix ns
	// The last quantile computed, reused for a short while: walking the
	// buckets on every hedgeable read would cost more than the read's routing.
	cachedQ  atomic.Uint64 // float64 bits of the quantile asked
	cachedV  atomic.Int64  // its value, ns
	cachedAt atomic.Int64  // unix ns
}

const (
	latencyBase      = 50 * time.Microsecond
	latencyPerOctave = 4  // buckets per doubling: bucket bounds ~19% apart
	latencyBuckets   = 80 // 50 µs × 2^(79/4) ≈ 45 s
	latencyHalfLife  = 5 * time.Second
	latencyMinCount  = 50 // fewer samples give no quantile
	latencyCacheFor  = 100 * time.Millisecond
)

// NewLatencies makes an empty record.
func NewLatencies() *Latencies { return &Latencies{} }

func latencyBucket(d time.Duration) int {
	if d <= latencyBase {
		return 0
	}
	i := int(latencyPerOctave*math.Log2(float64(d)/float64(latencyBase))) + 1
	return min(i, latencyBuckets-1)
}

// latencyUpper is the upper bound of bucket i.
func latencyUpper(i int) time.Duration {
	return time.Duration(float64(latencyBase) * math.Exp2(float64(i)/latencyPerOctave))
}

func (l *Latencies) observe(d time.Duration, now time.Time) {
	l.buckets[latencyBucket(d)].Add(1)
	ns := now.UnixNano()
	last := l.lastDecay.Load()
	if last == 0 {
		l.lastDecay.CompareAndSwap(0, ns)
		return
	}
	if ns-last >= int64(latencyHalfLife) && l.lastDecay.CompareAndSwap(last, ns) {
		// A sample added between the load and the store is lost: a rounding
		// error in a statistic, not worth a lock on the hot path.
		for i := range l.buckets {
			l.buckets[i].Store(l.buckets[i].Load() / 2)
		}
	}
}

// Quantile estimates the q-quantile of recent latencies (the upper bound of
// its bucket); 0 when there are too few samples to say.
func (l *Latencies) Quantile(q float64, now time.Time) time.Duration {
	ns := now.UnixNano()
	if math.Float64frombits(l.cachedQ.Load()) == q && ns-l.cachedAt.Load() < int64(latencyCacheFor) {
		return time.Duration(l.cachedV.Load())
	}
	var counts [latencyBuckets]uint32
	var total uint64
	for i := range l.buckets {
		counts[i] = l.buckets[i].Load()
		total += uint64(counts[i])
	}
	var v time.Duration
	if total >= latencyMinCount {
		target := uint64(math.Ceil(q * float64(total)))
		var cum uint64
		for i, c := range counts {
			if cum += uint64(c); cum >= target {
				v = latencyUpper(i)
				break
			}
		}
	}
	l.cachedV.Store(int64(v))
	l.cachedQ.Store(math.Float64bits(q))
	l.cachedAt.Store(ns)
	return v
}
