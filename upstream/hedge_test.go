package upstream

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/internal/promtest"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

const readBody = `{"jsonrpc":"2.0","id":5,"method":"icx_getBalance","params":{}}`

// preferFirst makes Pick choose first over every other node: a tiny latency
// EWMA against a huge one, so even many hung requests keep first ahead.
func preferFirst(first *Node, others ...*Node) {
	first.ewma.Store(math.Float64bits(1e-9))
	for _, n := range others {
		n.ewma.Store(math.Float64bits(10))
	}
}

func TestHedgeAnswersFromSecondNodeWhileFirstHangs(t *testing.T) {
	slow, fast := newScriptNode(t, 10), newScriptNode(t, 10) // slow hangs: no answer set
	fast.set(answers(200, `{"jsonrpc":"2.0","result":"0x1","id":5}`))
	p, reg := scriptPool(t, slow, fast)
	preferFirst(nodeByURL(p, slow.url), nodeByURL(p, fast.url))

	req := post(readBody)
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	pol := Policy{Retries: 2, AttemptTimeout: 5 * time.Second,
		Hedge: HedgePolicy{Delay: 20 * time.Millisecond, MaxShare: 1}}
	start := time.Now()
	r := p.Send(Need{Latest: true}, req, resp, time.Now().Add(10*time.Second), pol)
	took := time.Since(start)
	if r.Outcome != OutcomeOK || r.Node != fast.url || !r.Hedged || r.Tried != 2 {
		t.Fatalf("result %+v", r)
	}
	if string(resp.Body()) != `{"jsonrpc":"2.0","result":"0x1","id":5}` {
		t.Fatalf("answer %q", resp.Body())
	}
	if took > 3*time.Second {
		t.Fatalf("took %v: the answer waited for the hung node", took)
	}
	if slow.calls.Load() != 1 || fast.calls.Load() != 1 {
		t.Fatalf("calls slow=%d fast=%d, want one each", slow.calls.Load(), fast.calls.Load())
	}
	if got := promtest.Value(t, reg, "icon_edge_hedges_total", map[string]string{"result": HedgeWon}); got != 1 {
		t.Fatalf("hedges won = %v", got)
	}
	// The loser is still out; the pooled objects it holds must survive the
	// caller's release of its own (run with -race).
	slow.stopHanging()
}

func TestFastAnswerIsNotHedged(t *testing.T) {
	a, b := newScriptNode(t, 10), newScriptNode(t, 10)
	a.set(answers(200, `{"jsonrpc":"2.0","result":"0xa","id":5}`))
	b.set(answers(200, `{"jsonrpc":"2.0","result":"0xb","id":5}`))
	p, reg := scriptPool(t, a, b)
	req := post(readBody)
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	pol := Policy{Retries: 2, Hedge: HedgePolicy{Delay: 2 * time.Second, MaxShare: 1}}
	for range 20 {
		if r := p.Send(Need{Latest: true}, req, resp, time.Now().Add(10*time.Second), pol); r.Outcome != OutcomeOK || r.Hedged {
			t.Fatalf("result %+v", r)
		}
	}
	if got := a.calls.Load() + b.calls.Load(); got != 20 {
		t.Fatalf("%d node calls for 20 reads", got)
	}
	for _, res := range []string{HedgeWon, HedgeLost, HedgeSkippedCap} {
		if got := promtest.Value(t, reg, "icon_edge_hedges_total", map[string]string{"result": res}); got != 0 {
			t.Fatalf("hedges %s = %v", res, got)
		}
	}
}

func TestWritesAndWaitsAreNeverHedged(t *testing.T) {
	for _, pol := range []Policy{
		{Retries: 2, SentOnce: true, Hedge: HedgePolicy{Delay: time.Millisecond, MaxShare: 1}},
		{Retries: 2, Long: true, Hedge: HedgePolicy{Delay: time.Millisecond, MaxShare: 1}},
	} {
		slow, other := newScriptNode(t, 10), newScriptNode(t, 10)
		slow.set(func(string) (int, string) {
			time.Sleep(100 * time.Millisecond)
			return 200, `{"jsonrpc":"2.0","result":"0x1","id":5}`
		})
		other.set(answers(200, `{"jsonrpc":"2.0","result":"0x2","id":5}`))
		p, _ := scriptPool(t, slow, other)
		preferFirst(nodeByURL(p, slow.url), nodeByURL(p, other.url))
		req := post(sendTx)
		resp := fasthttp.AcquireResponse()
		r := p.Send(Need{Latest: true}, req, resp, time.Now().Add(5*time.Second), pol)
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		if r.Outcome != OutcomeOK || r.Hedged || r.Node != slow.url {
			t.Fatalf("SentOnce=%v Long=%v: result %+v", pol.SentOnce, pol.Long, r)
		}
		if other.calls.Load() != 0 {
			t.Fatalf("SentOnce=%v Long=%v: the request also went to a second node", pol.SentOnce, pol.Long)
		}
	}
}

func TestHedgeShareIsCapped(t *testing.T) {
	slow, fast := newScriptNode(t, 10), newScriptNode(t, 10)
	slow.set(func(string) (int, string) {
		time.Sleep(30 * time.Millisecond)
		return 200, `{"jsonrpc":"2.0","result":"0x1","id":5}`
	})
	fast.set(answers(200, `{"jsonrpc":"2.0","result":"0x2","id":5}`))
	p, reg := scriptPool(t, slow, fast)
	pol := Policy{Retries: 2, AttemptTimeout: 5 * time.Second,
		Hedge: HedgePolicy{Delay: 2 * time.Millisecond, MaxShare: 0.1}}
	const reads = 60
	for range reads {
		preferFirst(nodeByURL(p, slow.url), nodeByURL(p, fast.url)) // every read starts on the slow node
		req := post(readBody)
		resp := fasthttp.AcquireResponse()
		if r := p.Send(Need{Latest: true}, req, resp, time.Now().Add(5*time.Second), pol); r.Outcome != OutcomeOK {
			t.Fatalf("result %+v", r)
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
	hedged := promtest.Value(t, reg, "icon_edge_hedges_total", map[string]string{"result": HedgeWon}) + promtest.Value(t, reg, "icon_edge_hedges_total", map[string]string{"result": HedgeLost})
	capped := promtest.Value(t, reg, "icon_edge_hedges_total", map[string]string{"result": HedgeSkippedCap})
	// The credit starts empty: a tenth of each read, so 6 hedges in 60 reads.
	if limit := reads*0.1 + 1; hedged > limit || hedged < 1 {
		t.Fatalf("%v hedges in %d reads (max share 0.1: want 1..%v)", hedged, reads, limit)
	}
	if hedged+capped != reads {
		t.Fatalf("hedged %v + capped %v != %d slow reads", hedged, capped, reads)
	}
}

// TestConcurrentHedgesKeepAnswersApart runs many hedged reads at once on two
// nodes that answer at random speeds, so winners and losers interleave; every
// caller must get the answer to its own request (run with -race: the loser's
// pooled request and response must never meet a caller's).
func TestConcurrentHedgesKeepAnswersApart(t *testing.T) {
	a, b := newEchoNode(t, 10), newEchoNode(t, 10)
	p, reg := scriptPool(t, a, b)
	pol := Policy{Retries: 1, AttemptTimeout: 5 * time.Second,
		Hedge: HedgePolicy{Delay: 500 * time.Microsecond, MaxShare: 1}}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				id := strconv.Itoa(g*1000 + i)
				req := post(`{"jsonrpc":"2.0","id":` + id + `,"method":"icx_getBalance"}`)
				resp := fasthttp.AcquireResponse()
				r := p.Send(Need{Latest: true}, req, resp, time.Now().Add(5*time.Second), pol)
				got := string(resp.Body())
				fasthttp.ReleaseRequest(req)
				fasthttp.ReleaseResponse(resp)
				if r.Outcome != OutcomeOK || got != `{"id":`+id+`}` {
					errs <- fmt.Errorf("request %s: %+v, answer %q", id, r, got)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if promtest.Value(t, reg, "icon_edge_hedges_total", map[string]string{"result": HedgeWon})+promtest.Value(t, reg, "icon_edge_hedges_total", map[string]string{"result": HedgeLost}) == 0 {
		t.Fatal("no read was hedged: the test did not exercise hedging")
	}
}

// newEchoNode answers a read with its own id after 0-3 ms; probes as usual.
func newEchoNode(t *testing.T, height int64) *scriptNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &scriptNode{url: "http://" + ln.Addr().String(), ln: ln, release: make(chan struct{})}
	n.height.Store(height)
	var mu sync.Mutex
	k := 0
	n.srv = &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		body := ctx.PostBody()
		if fastjson.GetString(body, "method") == "icx_getLastBlock" {
			ctx.SetBodyString(`{"jsonrpc":"2.0","result":{"height":` + strconv.FormatInt(n.height.Load(), 10) + `},"id":1}`)
			return
		}
		mu.Lock()
		k++
		d := time.Duration(k%4) * time.Millisecond
		mu.Unlock()
		time.Sleep(d)
		ctx.SetBodyString(`{"id":` + strconv.Itoa(fastjson.GetInt(body, "id")) + `}`)
	}}
	go func() { _ = n.srv.Serve(ln) }()
	t.Cleanup(func() { _ = n.srv.Shutdown() })
	return n
}

func TestLatenciesQuantile(t *testing.T) {
	l := NewLatencies()
	now := time.Now()
	for range 10 {
		l.observe(time.Millisecond, now)
	}
	if q := l.Quantile(0.95, now); q != 0 {
		t.Fatalf("quantile from 10 samples = %v, want 0 (too few)", q)
	}
	for range 940 {
		l.observe(time.Millisecond, now)
	}
	for range 50 {
		l.observe(300*time.Millisecond, now)
	}
	// 5% of samples are slow: p90 is in the fast bucket, p99 in the slow one.
	later := now.Add(time.Second) // past the cached value
	p90 := l.Quantile(0.90, later)
	if p90 < time.Millisecond || p90 > 1300*time.Microsecond {
		t.Fatalf("p90 = %v, want the 1 ms bucket", p90)
	}
	p99 := l.Quantile(0.99, later.Add(time.Second))
	if p99 < 300*time.Millisecond || p99 > 360*time.Millisecond {
		t.Fatalf("p99 = %v, want the 300 ms bucket", p99)
	}
	// Half-lives later, new samples outweigh the old slow ones.
	t2 := now.Add(3 * latencyHalfLife)
	for i := range 4 {
		for range 200 {
			l.observe(2*time.Millisecond, t2.Add(time.Duration(i)*latencyHalfLife))
		}
	}
	if p99 := l.Quantile(0.99, t2.Add(time.Hour)); p99 > 3*time.Millisecond {
		t.Fatalf("p99 after decay = %v, want the 2 ms bucket", p99)
	}
}

func TestHedgeDelayFromQuantile(t *testing.T) {
	p := &Pool{}
	h := HedgePolicy{Quantile: 0.95, MaxShare: 0.05}
	now := time.Now()
	if d := p.hedgeDelay(&h, now); d != 0 {
		t.Fatalf("delay with no samples = %v, want 0 (no hedge)", d)
	}
	h.Delay = 7 * time.Millisecond
	if d := p.hedgeDelay(&h, now.Add(time.Second)); d != 7*time.Millisecond {
		t.Fatalf("delay with no samples but a floor = %v", d)
	}
	for range 100 {
		p.latencies.observe(20*time.Millisecond, now)
	}
	if d := p.hedgeDelay(&h, now.Add(2*time.Second)); d < 20*time.Millisecond || d > 25*time.Millisecond {
		t.Fatalf("delay = %v, want p95 of 20 ms samples", d)
	}
	own := NewLatencies()
	h.Latencies = own
	if d := p.hedgeDelay(&h, now.Add(3*time.Second)); d != 7*time.Millisecond {
		t.Fatalf("delay from an empty per-method record = %v, want the floor", d)
	}
}
