package proxy

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/cache"
	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// node is a loopback JSON-RPC node for request-path tests: probes see a
// fixed height; every other call is answered by a per-method script.
type node struct {
	url   string
	srv   *fasthttp.Server
	mu    sync.Mutex
	reply map[string]func(body []byte) (int, string) // by method; "batch" for arrays
	calls map[string]int
	last  atomic.Value // last Icon-Options header seen
}

func newNode(t testing.TB, height int) *node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{url: "http://" + ln.Addr().String(), reply: map[string]func([]byte) (int, string){}, calls: map[string]int{}}
	n.srv = &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		body := ctx.PostBody()
		if string(body) == `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}` {
			ctx.SetBodyString(`{"jsonrpc":"2.0","result":{"height":` + strconv.Itoa(height) + `},"id":1}`)
			return
		}
		n.last.Store(string(ctx.Request.Header.Peek("Icon-Options")))
		method := "batch"
		if len(body) > 0 && body[0] != '[' {
			method = string(fastjson.GetBytes(body, "method"))
		}
		n.mu.Lock()
		n.calls[method]++
		f := n.reply[method]
		n.mu.Unlock()
		if f == nil && method == "batch" {
			items, _ := fastjson.MustParseBytes(body).Array()
			out := make([]string, len(items))
			for i, it := range items {
				out[i] = `{"jsonrpc":"2.0","result":"0x1","id":` + string(it.Get("id").MarshalTo(nil)) + `}`
			}
			ctx.SetBodyString("[" + strings.Join(out, ",") + "]")
			return
		}
		if f == nil {
			ctx.SetBodyString(`{"jsonrpc":"2.0","result":"0x1","id":` + idOf(body) + `}`)
			return
		}
		status, out := f(body)
		ctx.SetStatusCode(status)
		ctx.SetBodyString(out)
	}}
	go func() { _ = n.srv.Serve(ln) }()
	t.Cleanup(func() { _ = n.srv.Shutdown() })
	return n
}

func idOf(body []byte) string {
	v := fastjson.MustParseBytes(body).Get("id")
	if v == nil {
		return "null"
	}
	return string(v.MarshalTo(nil))
}

func (n *node) on(method string, f func(body []byte) (int, string)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.reply[method] = f
}

func (n *node) count(method string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls[method]
}

// liveServer is the request path over real nodes, ready to serve.
func liveServer(t testing.TB, cfg Config, nodes []*node, with ...func(*Options)) (*Server, *prometheus.Registry) {
	t.Helper()
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.url
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	pool, err := upstream.New(upstream.Config{Upstreams: urls, Metrics: reg,
		Health: upstream.HealthConfig{ProbeInterval: time.Hour, EjectAfter: 100}}, log)
	if err != nil {
		t.Fatal(err)
	}
	pool.Start(t.Context())
	t.Cleanup(pool.Close)
	deadline := time.Now().Add(10 * time.Second)
	for ready := 0; ready < len(nodes); {
		ready = 0
		for _, n := range pool.Nodes() {
			if n.State() == upstream.StateHealthy {
				ready++
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("nodes not healthy after 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	o := Options{Config: cfg, Pool: pool, Metrics: reg, Gatherer: reg, Log: log}
	for _, f := range with {
		f(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

func postWith(s *Server, path, body string, headers ...string) *fasthttp.RequestCtx {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI(path)
	for i := 0; i+1 < len(headers); i += 2 {
		ctx.Request.Header.Set(headers[i], headers[i+1])
	}
	ctx.Request.SetBodyString(body)
	s.Handler(ctx)
	return ctx
}

func TestReadIsRelayedAsTheNodeAnswered(t *testing.T) {
	n := newNode(t, 100)
	n.on("icx_getBalance", func(b []byte) (int, string) {
		return 200, `{"jsonrpc":"2.0","result":"0x2a","id":` + idOf(b) + `}`
	})
	s, reg := liveServer(t, Config{}, []*node{n})
	ctx := postWith(s, "/api/v3/icon_dex", `{"jsonrpc":"2.0","id":"x","method":"icx_getBalance","params":{"address":"hx0"}}`, "Origin", "https://dapp.example")
	if ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != `{"jsonrpc":"2.0","result":"0x2a","id":"x"}` {
		t.Fatalf("got %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if string(ctx.Response.Header.Peek("Access-Control-Allow-Origin")) != "*" {
		t.Fatal("a browser dApp must be allowed to read the answer")
	}
	if got := testutil.ToFloat64(s.metrics.requests.WithLabelValues("icx_getBalance", "0")); got != 1 {
		t.Fatalf("icx_getBalance successes counted %v times", got)
	}
	_ = reg
}

func TestWaitTimeoutIsCappedForTheNode(t *testing.T) {
	n := newNode(t, 100)
	s, _ := liveServer(t, Config{MaxWaitTimeout: 5 * time.Second}, []*node{n})
	postWith(s, "/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_waitTransactionResult","params":{"txHash":"0x00"}}`,
		"Icon-Options", "debug=true, timeout=999999999999999")
	if got := n.last.Load(); got != "debug=true,timeout=5000" {
		t.Fatalf("node got Icon-Options %q", got)
	}
}

func TestNodeFailuresBecomeEdgeAnswers(t *testing.T) {
	n := newNode(t, 100)
	s, _ := liveServer(t, Config{RequestTimeout: 300 * time.Millisecond, AttemptTimeout: 100 * time.Millisecond, MaxRetries: ptr(0)}, []*node{n})
	n.on("icx_getBalance", func([]byte) (int, string) { time.Sleep(time.Second); return 200, `{}` })
	ctx := postWith(s, "/api/v3", `{"jsonrpc":"2.0","id":3,"method":"icx_getBalance","params":{}}`)
	if ctx.Response.StatusCode() != 504 || !strings.Contains(string(ctx.Response.Body()), `"message":"ServerError: upstream node timed out"},"id":3`) {
		t.Fatalf("slow node: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	// A node that is not a JSON-RPC node (goloop's 404 for an unknown
	// channel) is passed through and counted under its HTTP status.
	n.on("icx_getTotalSupply", func([]byte) (int, string) { return 404, "No channel" })
	ctx = postWith(s, "/api/v3/nochannel", `{"jsonrpc":"2.0","id":3,"method":"icx_getTotalSupply"}`)
	if ctx.Response.StatusCode() != 404 || string(ctx.Response.Body()) != "No channel" {
		t.Fatalf("unknown channel: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if got := testutil.ToFloat64(s.metrics.requests.WithLabelValues("icx_getTotalSupply", "404")); got != 1 {
		t.Fatalf("non-JSON answer counted %v times under 404", got)
	}
}

func TestUncertainWriteIsSettledByAskingTheNodes(t *testing.T) {
	n := newNode(t, 100)
	var sends atomic.Int64
	n.on("icx_sendTransaction", func([]byte) (int, string) { sends.Add(1); time.Sleep(400 * time.Millisecond); return 200, `{}` })
	n.on("icx_sendTransactionAndWait", func([]byte) (int, string) { sends.Add(1); time.Sleep(2400 * time.Millisecond); return 200, `{}` })
	s, _ := liveServer(t, Config{RequestTimeout: 150 * time.Millisecond, DefaultWaitTimeout: 100 * time.Millisecond}, []*node{n})
	tx := `"params":{"version":"0x3","from":"hx0000000000000000000000000000000000000001","to":"hx0000000000000000000000000000000000000002","value":"0x1","stepLimit":"0x100000","timestamp":"0x5f5e100","nid":"0x3","nonce":"0x1","signature":"c2ln"}`
	cases := []struct {
		name, method string
		lookup       string // the node's answer to icx_getTransactionResult
		status       int
		want         string
	}{
		{"arrived", "icx_sendTransaction", `{"jsonrpc":"2.0","error":{"code":-31002,"message":"Pending"},"id":1}`, 200, `"result":"0x`},
		{"arrived, wait", "icx_sendTransactionAndWait", `{"jsonrpc":"2.0","error":{"code":-31002,"message":"Pending"},"id":1}`, 400, `"code":-31006,"message":"Timeout: the node did not answer in time","data":"0x`},
		{"unknown", "icx_sendTransaction", `{"jsonrpc":"2.0","error":{"code":-31004,"message":"NotFound"},"id":1}`, 504, `"code":-31006,"message":"Timeout: delivery unknown; query or resend the transaction","data":"0x`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n.on("icx_getTransactionResult", func([]byte) (int, string) { return 400, c.lookup })
			before := sends.Load()
			ctx := postWith(s, "/api/v3", `{"jsonrpc":"2.0","id":5,"method":"`+c.method+`",`+tx+`}`)
			if ctx.Response.StatusCode() != c.status || !strings.Contains(string(ctx.Response.Body()), c.want) {
				t.Fatalf("got %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
			if got := sends.Load() - before; got != 1 {
				t.Fatalf("the write reached the node %d times", got)
			}
		})
	}
}

func TestCacheAndCoalescingOnTheRequestPath(t *testing.T) {
	n := newNode(t, 100)
	release := make(chan struct{})
	n.on("icx_getBlockByHeight", func(b []byte) (int, string) {
		<-release
		return 200, `{"jsonrpc":"2.0","result":{"height":5},"id":` + idOf(b) + `}`
	})
	c, err := cache.New(cache.Config{MaxBytes: 1 << 20}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := liveServer(t, Config{}, []*node{n}, func(o *Options) { o.Cache = c })
	const call = `{"jsonrpc":"2.0","id":%d,"method":"icx_getBlockByHeight","params":{"height":"0x5"}}`
	var wg sync.WaitGroup
	bodies := make([]string, 8)
	for i := range bodies {
		wg.Go(func() {
			ctx := postWith(s, "/api/v3", strings.Replace(call, "%d", strconv.Itoa(i), 1))
			bodies[i] = string(ctx.Response.Body())
		})
	}
	waitUntil(t, func() bool { return n.count("icx_getBlockByHeight") > 0 })
	close(release)
	wg.Wait()
	for i, b := range bodies {
		if b != `{"jsonrpc":"2.0","result":{"height":5},"id":`+strconv.Itoa(i)+"}\n" {
			t.Fatalf("caller %d got %s", i, b)
		}
	}
	if got := n.count("icx_getBlockByHeight"); got > 2 { // concurrent callers share a flight
		t.Fatalf("8 identical concurrent reads cost %d node calls", got)
	}
	before := n.count("icx_getBlockByHeight")
	postWith(s, "/api/v3", strings.Replace(call, "%d", "99", 1))
	// A batch item is answered from the cache too; the other goes to the node.
	ctx := postWith(s, "/api/v3", `[`+strings.Replace(call, "%d", "1", 1)+`,{"jsonrpc":"2.0","id":2,"method":"icx_getBalance","params":{}}]`)
	if n.count("icx_getBlockByHeight") != before || n.count("batch") != 1 {
		t.Fatalf("cached answers went to the node: %v", n.calls)
	}
	if !strings.HasPrefix(string(ctx.Response.Body()), `[{"jsonrpc":"2.0","result":{"height":5},"id":1},{"jsonrpc":"2.0","result":"0x1","id":2}]`) {
		t.Fatalf("batch %s", ctx.Response.Body())
	}
}

func TestBatchRoutesChunksAndSingles(t *testing.T) {
	n := newNode(t, 100)
	n.on("batch", func(b []byte) (int, string) {
		var items []map[string]any
		_ = json.Unmarshal(b, &items)
		out := make([]string, len(items))
		for i := range items {
			id, _ := json.Marshal(items[len(items)-1-i]["id"]) // answered out of order: matched by id
			out[i] = `{"jsonrpc":"2.0","result":"0x1","id":` + string(id) + `}`
		}
		return 200, "[" + strings.Join(out, ",") + "]"
	})
	n.on("icx_sendTransaction", func(b []byte) (int, string) {
		return 200, `{"jsonrpc":"2.0","result":"0xtx","id":` + idOf(b) + `}`
	})
	s, _ := liveServer(t, Config{NodeBatchLimit: 2}, []*node{n})
	var items []string
	for i := range 5 {
		items = append(items, `{"jsonrpc":"2.0","id":`+strconv.Itoa(i)+`,"method":"icx_getBalance","params":{}}`)
	}
	items = append(items, `{"jsonrpc":"2.0","id":"w","method":"icx_sendTransaction","params":{}}`,
		`{"jsonrpc":"2.0","method":"icx_sendTransaction","params":{}}`, // a write notification is still executed
		`{"jsonrpc":"2.0","method":"icx_getBalance"}`, `{"jsonrpc":"2.0","id":"bad","method":"nope"}`)
	ctx := postWith(s, "/api/v3", "["+strings.Join(items, ",")+"]")
	var got []map[string]any
	if err := json.Unmarshal(ctx.Response.Body(), &got); err != nil || len(got) != 7 {
		t.Fatalf("batch answer %s (%v)", ctx.Response.Body(), err)
	}
	for i, want := range []any{0.0, 1.0, 2.0, 3.0, 4.0, "w", "bad"} {
		if got[i]["id"] != want {
			t.Fatalf("answer %d has id %v, want %v: %s", i, got[i]["id"], want, ctx.Response.Body())
		}
	}
	if n.count("batch") != 3 || n.count("icx_sendTransaction") != 2 || n.count("icx_getBalance") != 0 {
		t.Fatalf("node saw %v", n.calls)
	}
	// A whole-batch node error becomes each item's answer.
	n.on("batch", func([]byte) (int, string) {
		return 400, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"InvalidRequest: too many"},"id":null}`
	})
	ctx = postWith(s, "/api/v3", "["+items[0]+","+items[1]+"]")
	if strings.Count(string(ctx.Response.Body()), "too many") != 2 {
		t.Fatalf("node batch error: %s", ctx.Response.Body())
	}
}

func TestLimiterRefusesBeforeAnyNodeWork(t *testing.T) {
	n := newNode(t, 100)
	lim, err := ratelimit.New(ratelimit.Config{Enabled: true, RequestsPerSecond: 1, Burst: 5}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := liveServer(t, Config{}, []*node{n}, func(o *Options) { o.Limiter = lim })
	// icx_call costs 5: one single call empties the bucket.
	ctx := postWith(s, "/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_call","params":{}}`)
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("first call: %d", ctx.Response.StatusCode())
	}
	ctx = postWith(s, "/api/v3", `[{"jsonrpc":"2.0","id":1,"method":"icx_getBalance","params":{}}]`)
	if ctx.Response.StatusCode() != 429 || len(ctx.Response.Header.Peek("Retry-After")) == 0 ||
		!strings.Contains(string(ctx.Response.Body()), "rate limit exceeded") {
		t.Fatalf("over budget: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if n.count("batch")+n.count("icx_getBalance") != 0 {
		t.Fatal("a refused request reached a node")
	}
	// The debug API is not in the default allowlist.
	d, _ := liveServer(t, Config{DebugAPI: true}, []*node{n}, func(o *Options) { o.Limiter = lim })
	ctx = postWith(d, "/api/v3d", `{"jsonrpc":"2.0","id":1,"method":"debug_estimateStep","params":{}}`)
	if ctx.Response.StatusCode() != 403 {
		t.Fatalf("debug method for an anonymous client: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}

func TestOperatorEndpoints(t *testing.T) {
	n := newNode(t, 100)
	s, _ := liveServer(t, Config{Region: "eu", AdminOnly: true}, []*node{n})
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/status.json")
	s.Handler(&ctx)
	if ctx.Response.StatusCode() != 404 {
		t.Fatal("with an admin listener, /status.json must not be public")
	}
	ctx.Response.Reset()
	s.AdminHandler(&ctx)
	var doc statusDoc
	if err := json.Unmarshal(ctx.Response.Body(), &doc); err != nil || doc.Region != "eu" || !doc.Ready || doc.Tip != 100 || len(doc.Nodes) != 1 {
		t.Fatalf("status %s", ctx.Response.Body())
	}
	for path, want := range map[string]int{"/metrics": 200, "/readyz": 200, "/healthz": 200, "/nope": 404} {
		ctx.Response.Reset()
		ctx.Request.SetRequestURI(path)
		s.AdminHandler(&ctx)
		if ctx.Response.StatusCode() != want {
			t.Errorf("admin %s: %d", path, ctx.Response.StatusCode())
		}
	}
	s.SetDraining(true)
	ctx.Response.Reset()
	ctx.Request.SetRequestURI("/readyz")
	s.Handler(&ctx)
	if ctx.Response.StatusCode() != 503 || string(ctx.Response.Body()) != "draining" {
		t.Fatalf("draining readyz: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	ctx.Response.Reset()
	s.ErrorHandler(&ctx, fasthttp.ErrBodyTooLarge)
	if ctx.Response.StatusCode() != 413 || !strings.Contains(string(ctx.Response.Body()), "request body too large") {
		t.Fatalf("body too large: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}

func ptr[T any](v T) *T { return &v }

// Attack 5 of the hardening issue: a 100-item batch of icx_call was charged
// at most the burst, so batching bought ~5x the limit.
func TestBatchPaysForEveryItem(t *testing.T) {
	n := newNode(t, 100)
	lim, err := ratelimit.New(ratelimit.Config{Enabled: true, RequestsPerSecond: 50, Burst: 100}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := liveServer(t, Config{}, []*node{n}, func(o *Options) { o.Limiter = lim })
	items := make([]string, 100)
	for i := range items {
		items[i] = `{"jsonrpc":"2.0","id":` + strconv.Itoa(i) + `,"method":"icx_call","params":{}}`
	}
	ctx := postWith(s, "/api/v3", "["+strings.Join(items, ",")+"]")
	if ctx.Response.StatusCode() != 429 || !strings.Contains(string(ctx.Response.Body()), "costs 500 tokens, more than the burst of 100") {
		t.Fatalf("over-burst batch: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if n.count("batch") != 0 {
		t.Fatal("the refused batch reached a node")
	}
	// 20 icx_call items cost exactly the burst: admitted, and the bucket is empty after.
	ctx = postWith(s, "/api/v3", "["+strings.Join(items[:20], ",")+"]")
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("a batch costing the burst: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if ctx = postWith(s, "/api/v3", items[0]); ctx.Response.StatusCode() != 429 {
		t.Fatalf("the batch did not pay for its items: %d", ctx.Response.StatusCode())
	}
}

// Hardening #6: with Icon-Options timeout=0 goloop waits its default and
// answers -31006 itself; the edge must not give up after its 2 s margin.
func TestWaitTimeoutZeroMeansTheDefault(t *testing.T) {
	s := newTestServer(t, Config{DefaultWaitTimeout: 7 * time.Second})
	if got := s.live.Load().waitTimeout([]byte("timeout=0")); got != 7*time.Second {
		t.Fatalf("timeout=0 waits %v, want the default 7s", got)
	}
	if got := s.live.Load().waitTimeout([]byte("timeout=1500")); got != 1500*time.Millisecond {
		t.Fatalf("timeout=1500 waits %v", got)
	}
}

// Hardening #1: waits are bounded per client and per node, and what is over
// a bound is refused at once with a clear error instead of crowding out reads.
func TestWaitBudgets(t *testing.T) {
	n := newNode(t, 100)
	release := make(chan struct{})
	n.on("icx_waitTransactionResult", func(b []byte) (int, string) {
		<-release
		return 200, `{"jsonrpc":"2.0","result":{},"id":` + idOf(b) + `}`
	})
	defer close(release)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := upstream.New(upstream.Config{Upstreams: []string{n.url}, MaxWaitsPerNode: 4,
		Health: upstream.HealthConfig{ProbeInterval: time.Hour}}, log)
	if err != nil {
		t.Fatal(err)
	}
	pool.Start(t.Context())
	t.Cleanup(pool.Close)
	waitUntil(t, pool.Ready)
	s, err := New(Options{Pool: pool, Log: log, Config: Config{MaxWaitsPerClient: 3}})
	if err != nil {
		t.Fatal(err)
	}
	wait := func(ip string, out chan<- string) {
		ctx := &fasthttp.RequestCtx{}
		ctx.SetRemoteAddr(&net.TCPAddr{IP: net.ParseIP(ip), Port: 1})
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/api/v3")
		ctx.Request.SetBodyString(`{"jsonrpc":"2.0","id":1,"method":"icx_waitTransactionResult","params":{"txHash":"0x00"}}`)
		s.Handler(ctx)
		out <- strconv.Itoa(ctx.Response.StatusCode()) + " " + string(ctx.Response.Body())
	}
	out := make(chan string, 20)
	for range 10 {
		go wait("192.0.2.1", out)
	}
	for range 7 {
		if got := <-out; !strings.HasPrefix(got, "429 ") || !strings.Contains(got, "at most 3 at once") {
			t.Fatalf("over the client's wait budget: %s", got)
		}
	}
	waitUntil(t, func() bool { return n.count("icx_waitTransactionResult") >= 3 })
	// Another client gets the node's last free wait slot; past it, 503.
	go wait("192.0.2.2", out)
	waitUntil(t, func() bool { return n.count("icx_waitTransactionResult") >= 4 })
	go wait("192.0.2.3", out)
	if got := <-out; !strings.HasPrefix(got, "503 ") || !strings.Contains(got, "maximum of waiting calls") {
		t.Fatalf("over the node's wait budget: %s", got)
	}
	// Quick reads still go through while the waits hold their share.
	if ctx := postWith(s, "/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_getBalance","params":{}}`); ctx.Response.StatusCode() != 200 {
		t.Fatalf("a read while waits are at their bounds: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}

// waitUntil polls cond with a deadline, so a broken test fails instead of hanging.
func waitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
