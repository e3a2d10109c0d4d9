package upstream

import (
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/internal/promtest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// scriptNode is a node whose probes always pass (at a settable height) and
// whose answer to everything else is scripted per test.
type scriptNode struct {
	url     string
	ln      net.Listener
	srv     *fasthttp.Server
	height  atomic.Int64
	calls   atomic.Int64 // non-probe requests received
	answer  atomic.Value // func(method string) (status int, body string); nil: hang until release
	release chan struct{}
}

func newScriptNode(t *testing.T, height int64) *scriptNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &scriptNode{url: "http://" + ln.Addr().String(), ln: ln, release: make(chan struct{})}
	n.height.Store(height)
	n.srv = &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		method := string(fastjson.GetBytes(ctx.PostBody(), "method"))
		if method == "icx_getLastBlock" && strings.Contains(string(ctx.PostBody()), `"id":1,"method":"icx_getLastBlock"}`) {
			ctx.SetBodyString(`{"jsonrpc":"2.0","result":{"height":` + strconv.FormatInt(n.height.Load(), 10) + `},"id":1}`)
			return
		}
		n.calls.Add(1)
		f, _ := n.answer.Load().(func(string) (int, string))
		if f == nil {
			<-n.release
			return
		}
		status, body := f(method)
		ctx.SetStatusCode(status)
		ctx.SetBodyString(body)
	}}
	go func() { _ = n.srv.Serve(ln) }()
	t.Cleanup(func() {
		n.stopHanging()
		_ = n.srv.Shutdown()
	})
	return n
}

func (n *scriptNode) set(f func(method string) (int, string)) { n.answer.Store(f) }

func (n *scriptNode) stopHanging() {
	select {
	case <-n.release:
	default:
		close(n.release)
	}
}

// closeListener makes new connections fail at dial, as a node that went away does.
func (n *scriptNode) closeListener() { _ = n.ln.Close() }

func answers(status int, body string) func(string) (int, string) {
	return func(string) (int, string) { return status, body }
}

// scriptPool starts a pool over nodes, probed once at start (a long interval
// keeps later probes from changing what a test scripted), and waits until
// every node is healthy.
func scriptPool(t *testing.T, nodes ...*scriptNode) (*Pool, *prometheus.Registry) {
	t.Helper()
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.url
	}
	reg := prometheus.NewRegistry()
	p, err := New(Config{Upstreams: urls, MaxLag: 2, Metrics: reg,
		Health: HealthConfig{ProbeInterval: time.Hour, ProbeTimeout: 2 * time.Second, EjectAfter: 100}},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p.Start(t.Context())
	t.Cleanup(p.Close)
	deadline := time.Now().Add(10 * time.Second)
	for {
		healthy := 0
		for _, n := range p.Nodes() {
			if n.State() == StateHealthy {
				healthy++
			}
		}
		if healthy == len(nodes) {
			return p, reg
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d nodes healthy after 10s", healthy, len(nodes))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func post(body string) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI("/api/v3")
	req.SetBodyString(body)
	return req
}

const sendTx = `{"jsonrpc":"2.0","id":7,"method":"icx_sendTransaction","params":{}}`

var writePolicy = Policy{Retries: 2, SentOnce: true}

func TestWriteRefusedBeforeSendMovesToAnotherNode(t *testing.T) {
	gone, alive := newScriptNode(t, 10), newScriptNode(t, 10)
	alive.set(answers(200, `{"jsonrpc":"2.0","result":"0xabc","id":7}`))
	p, reg := scriptPool(t, gone, alive)
	gone.closeListener()
	for _, n := range p.Nodes() {
		n.client.CloseIdleConnections() // the next request must dial
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	for range 10 { // whichever node is picked first, the write lands once on the live one
		// Selection prefers the faster node: make the dead one look faster.
		p.byURL[alive.url].observeLatency(10 * time.Second)
		before := alive.calls.Load()
		r := p.Send(Need{Latest: true}, post(sendTx), resp, time.Now().Add(5*time.Second), writePolicy)
		if !r.Answered() || r.Uncertain || r.Node != alive.url || string(resp.Body()) != `{"jsonrpc":"2.0","result":"0xabc","id":7}` {
			t.Fatalf("result %+v body %s", r, resp.Body())
		}
		if got := alive.calls.Load() - before; got != 1 {
			t.Fatalf("live node got the write %d times", got)
		}
	}
	if retries(t, reg, "write_not_sent") == 0 {
		t.Fatal("a write moved after a refused dial must be counted as write_not_sent")
	}
}

func TestWriteSentAndAnsweredIsNotRepeated(t *testing.T) {
	a, b := newScriptNode(t, 10), newScriptNode(t, 10)
	// Even a node error (here goloop's 400 for a bad transaction, then a 5xx)
	// is the answer: the node had the write.
	a.set(answers(400, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"InvalidParams"},"id":7}`))
	b.set(answers(500, `boom`))
	p, _ := scriptPool(t, a, b)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	for range 6 {
		r := p.Send(Need{Latest: true}, post(sendTx), resp, time.Now().Add(5*time.Second), writePolicy)
		if !r.Answered() || r.Tried != 1 || r.Retries != 0 {
			t.Fatalf("an answered write must stay answered by its first node: %+v", r)
		}
	}
	if total := a.calls.Load() + b.calls.Load(); total != 6 {
		t.Fatalf("6 writes reached the nodes %d times", total)
	}
}

func TestWriteTimedOutIsUncertainAndSettledByTxKnown(t *testing.T) {
	slow, other := newScriptNode(t, 10), newScriptNode(t, 10)
	p, _ := scriptPool(t, slow, other)
	// Only the slow node is in sync for this write: the other one lags.
	other.height.Store(1)
	p.probeOnce(t.Context(), p.byURL[other.url])
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	r := p.Send(Need{Latest: true}, post(sendTx), resp, time.Now().Add(150*time.Millisecond), writePolicy)
	if !r.Uncertain || r.Answered() || r.Node != slow.url || r.Outcome != OutcomeTimeout {
		t.Fatalf("a write that timed out must be uncertain: %+v", r)
	}
	if got := slow.calls.Load() + other.calls.Load(); got != 1 {
		t.Fatalf("an uncertain write was sent %d times", got)
	}
	slow.stopHanging()

	other.height.Store(10)
	p.probeOnce(t.Context(), p.byURL[other.url])
	cases := []struct {
		name   string
		status int
		body   string
		known  bool
	}{
		{"landed and final", 200, `{"jsonrpc":"2.0","result":{"status":"0x1"},"id":1}`, true},
		{"landed, pending", 400, `{"jsonrpc":"2.0","error":{"code":-31002,"message":"Pending: pending"},"id":1}`, true},
		{"landed, executing", 400, `{"jsonrpc":"2.0","error":{"code":-31003,"message":"Executing: executing"},"id":1}`, true},
		{"not landed", 400, `{"jsonrpc":"2.0","error":{"code":-31004,"message":"NotFound: no transaction"},"id":1}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			slow.set(answers(c.status, c.body))
			other.set(answers(c.status, c.body))
			if got := p.TxKnown([]byte("/api/v3"), "0x"+strings.Repeat("ab", 32), time.Now().Add(5*time.Second)); got != c.known {
				t.Fatalf("TxKnown = %v, want %v", got, c.known)
			}
		})
	}
	// A transaction one node has and the other does not yet is known.
	slow.set(answers(400, `{"jsonrpc":"2.0","error":{"code":-31004,"message":"NotFound: no transaction"},"id":1}`))
	other.set(answers(400, `{"jsonrpc":"2.0","error":{"code":-31002,"message":"Pending: pending"},"id":1}`))
	for range 5 {
		if !p.TxKnown([]byte("/api/v3"), "0x"+strings.Repeat("cd", 32), time.Now().Add(5*time.Second)) {
			t.Fatal("a transaction pending on one of two nodes must count as landed")
		}
	}
}

func TestReadRetriesAfterFailureButNotAfterAnswer(t *testing.T) {
	bad, good := newScriptNode(t, 10), newScriptNode(t, 10)
	bad.set(answers(503, `overloaded`))
	good.set(answers(200, `{"jsonrpc":"2.0","result":"0x1","id":1}`))
	p, reg := scriptPool(t, bad, good)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	for range 10 {
		r := p.Send(Need{Latest: true}, post(`{"jsonrpc":"2.0","id":1,"method":"icx_getBalance"}`), resp,
			time.Now().Add(5*time.Second), Policy{Retries: 2, AttemptTimeout: time.Second})
		if r.Outcome != OutcomeOK || r.Node != good.url || string(resp.Body()) != `{"jsonrpc":"2.0","result":"0x1","id":1}` {
			t.Fatalf("result %+v body %s", r, resp.Body())
		}
	}
	if good.calls.Load() != 10 {
		t.Fatalf("good node answered %d of 10 reads: an answered read was repeated", good.calls.Load())
	}
	if bad.calls.Load() > 0 && retries(t, reg, "http_5xx") != float64(bad.calls.Load()) {
		t.Fatal("each retry after a 5xx must be counted")
	}
	// With no retries left, the node's own 5xx is the answer.
	good.set(answers(503, `overloaded`))
	r := p.Send(Need{Latest: true}, post(`{"jsonrpc":"2.0","id":1,"method":"icx_getBalance"}`), resp,
		time.Now().Add(5*time.Second), Policy{Retries: 1})
	if !r.Answered() || r.Outcome != OutcomeHTTP5xx || resp.StatusCode() != 503 {
		t.Fatalf("all nodes 5xx: %+v %d", r, resp.StatusCode())
	}
}

func TestNotFoundRules(t *testing.T) {
	behind, ahead := newScriptNode(t, 9), newScriptNode(t, 10)
	missing := `{"jsonrpc":"2.0","error":{"code":-31004,"message":"NotFound: no block"},"id":1}`
	behind.set(answers(400, missing))
	ahead.set(answers(200, `{"jsonrpc":"2.0","result":{"height":10},"id":1}`))
	p, _ := scriptPool(t, behind, ahead)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	send := func(rule NotFoundRule) Result {
		return p.Send(Need{Latest: true}, post(`{"jsonrpc":"2.0","id":1,"method":"icx_getBlockByHash"}`), resp,
			time.Now().Add(5*time.Second), Policy{Retries: 2, NotFound: rule})
	}
	for range 10 {
		if r := send(NotFoundAskAhead); resp.StatusCode() != 200 || r.Node != ahead.url {
			t.Fatalf("a not-found from a node behind the tip must be asked again: %+v %s", r, resp.Body())
		}
	}
	// A node at the tip speaks for the chain: one request, the answer stands.
	ahead.set(answers(400, missing))
	behind.height.Store(10)
	p.probeOnce(t.Context(), p.byURL[behind.url])
	before := behind.calls.Load() + ahead.calls.Load()
	for range 10 {
		if r := send(NotFoundAskAhead); r.Tried != 1 || resp.StatusCode() != 400 {
			t.Fatalf("not-found at the tip: %+v", r)
		}
	}
	if got := behind.calls.Load() + ahead.calls.Load() - before; got != 10 {
		t.Fatalf("10 unknown-hash lookups cost %d node requests", got)
	}
	if r := send(NotFoundIsAnswer); r.Tried != 1 {
		t.Fatalf("NotFoundIsAnswer asked %d nodes", r.Tried)
	}
	// When every node says not found, the client gets a not-found answer.
	if r := send(NotFoundAskAny); r.Tried != 2 || resp.StatusCode() != 400 || !strings.Contains(string(resp.Body()), "-31004") {
		t.Fatalf("NotFoundAskAny: %+v %s", r, resp.Body())
	}
}

func TestSendWithNoQualifyingNode(t *testing.T) {
	n := newScriptNode(t, 10)
	p, _ := scriptPool(t, n)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	r := p.Send(Need{MinHeight: 50, Latest: false}, post(`{}`), resp, time.Now().Add(time.Second), Policy{Retries: 2})
	// Pinned above the tip: goes to an in-sync node (the block may just be new).
	if r.Tried != 1 {
		t.Fatalf("pinned above the tip: %+v", r)
	}
	n.closeListener()
	p.byURL[n.url].eject(&p.cfg.Health, time.Now(), true) // failed its probes: down
	r = p.Send(Need{Latest: true}, post(`{}`), resp, time.Now().Add(time.Second), Policy{Retries: 2})
	if r.Tried != 0 || r.Node != "" || r.Answered() {
		t.Fatalf("no healthy node: %+v", r)
	}
}

// retries is icon_edge_retries_total{reason} (0 before the first).
func retries(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	v, _ := promtest.Sum(t, reg, "icon_edge_retries_total", map[string]string{"reason": reason})
	return v
}
