package proxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/cache"
	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

var lastBlockAnswer = []byte(`{"jsonrpc":"2.0","result":{"block_hash":"e8d89fcfa2f8ec8647faeafa335b12205800e133164aef5f20516a2690ffbda5","confirmed_transaction_list":[],"height":660,"merkle_tree_root_hash":"","peer_id":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7","prev_block_hash":"55d335b8120e19bd139f4866ad95d2969f4bab0abc167d5391aa5f95a1521672","signature":"","time_stamp":1795571445773854,"version":"2.0"},"id":1}` + "\n")

// benchNode is a fasthttp node that answers every call with a fixed last
// block: the cheapest possible upstream, so the edge's own cost shows.
func benchNode(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json; charset=UTF-8")
		ctx.SetBody(lastBlockAnswer)
	}}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

func benchServer(b *testing.B, node string, with ...func(*Options)) *Server {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := upstream.New(upstream.Config{Upstreams: []string{node}, Health: upstream.HealthConfig{ProbeInterval: 50 * time.Millisecond}}, log)
	if err != nil {
		b.Fatal(err)
	}
	pool.Start(context.Background())
	b.Cleanup(pool.Close)
	for !pool.Ready() {
		time.Sleep(5 * time.Millisecond)
	}
	reg := prometheus.NewRegistry()
	o := Options{Pool: pool, Metrics: reg, Gatherer: reg, Log: log}
	for _, f := range with {
		f(&o)
	}
	s, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

const lastBlockCall = `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`

// serveBody runs one POST /api/v3 through the handler, reusing ctx.
func serveBody(s *Server, ctx *fasthttp.RequestCtx, body string) {
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI("/api/v3")
	ctx.Request.SetBodyString(body)
	s.Handler(ctx)
}

// benchHandler measures the handler on one body, failing on any non-200.
func benchHandler(b *testing.B, s *Server, body string, want int) {
	var ctx fasthttp.RequestCtx
	serveBody(s, &ctx, body) // warm pools and caches
	b.ReportAllocs()
	for b.Loop() {
		serveBody(s, &ctx, body)
		if want != 0 && ctx.Response.StatusCode() != want {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}

// BenchmarkNodeDirect is the baseline: one loopback round trip to the node.
func BenchmarkNodeDirect(b *testing.B) {
	node := benchNode(b)
	hc := &fasthttp.HostClient{Addr: node[len("http://"):]}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.Header.SetMethod("POST")
	req.SetRequestURI(node + "/api/v3")
	req.SetBodyString(lastBlockCall)
	b.ReportAllocs()
	for b.Loop() {
		if err := hc.Do(req, resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEdgeSingleRead is the edge's request path for one read: parse,
// validate, pick a node, forward, answer — plus the same loopback round trip.
func BenchmarkEdgeSingleRead(b *testing.B) {
	benchHandler(b, benchServer(b, benchNode(b)), lastBlockCall, 200)
}

// BenchmarkEdgeSingleReadLimited is the same with per-client limits on
// (budgets never reached): the limiter's share of the hot path.
func BenchmarkEdgeSingleReadLimited(b *testing.B) {
	lim, err := ratelimit.New(ratelimit.Config{Enabled: true, RequestsPerSecond: 1e9, Burst: 1e9}, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	s := benchServer(b, benchNode(b), func(o *Options) { o.Limiter = lim })
	benchHandler(b, s, lastBlockCall, 200)
}

// BenchmarkEdgeCacheHit answers a final block from the cache: no node involved.
func BenchmarkEdgeCacheHit(b *testing.B) {
	c, err := cache.New(cache.Config{MaxBytes: 64 << 20}, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	s := benchServer(b, benchNode(b), func(o *Options) { o.Cache = c })
	// The first call fills the cache: the bench node is at height 660, so 0x1 is final.
	benchHandler(b, s, `{"jsonrpc":"2.0","id":1,"method":"icx_getBlockByHeight","params":{"height":"0x1"}}`, 200)
}

// BenchmarkEdgeRejectInvalid is what a malformed call costs: no node involved.
func BenchmarkEdgeRejectInvalid(b *testing.B) {
	benchHandler(b, newTestServer(b, Config{}), `{"jsonrpc":"2.0","id":1,"method":"icx_noSuchMethod"}`, 400)
}

// BenchmarkEdgeSingleReadHedged is the same read with hedging on (the node
// answers long before the hedge delay): the cost of being ready to hedge.
func BenchmarkEdgeSingleReadHedged(b *testing.B) {
	s := benchServer(b, benchNode(b), func(o *Options) {
		o.Config.Hedge = upstream.HedgePolicy{Delay: time.Second, MaxShare: 0.05}
	})
	benchHandler(b, s, lastBlockCall, 200)
}

// BenchmarkEdgeSingleReadStringID is a plain read whose id is a string (as
// many web3 clients send): the id is re-encoded for the edge's own answers
// without allocating.
func BenchmarkEdgeSingleReadStringID(b *testing.B) {
	benchHandler(b, benchServer(b, benchNode(b)), `{"jsonrpc":"2.0","id":"a1b2c3d4","method":"icx_getLastBlock"}`, 200)
}
