package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/test/iconsim"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// simServer is the request path in front of one in-process iconsim node.
func simServer(t testing.TB, cfg Config) (*Server, *iconsim.Cluster) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sim, err := iconsim.Start(iconsim.Config{Listen: "127.0.0.1:0", Nodes: 1, BlockInterval: time.Hour, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	pool, err := upstream.New(upstream.Config{Upstreams: sim.URLs(), PipelineConns: 2,
		Health: upstream.HealthConfig{ProbeInterval: 20 * time.Millisecond}}, log)
	if err != nil {
		t.Fatal(err)
	}
	pool.Start(context.Background())
	t.Cleanup(pool.Close)
	for deadline := time.Now().Add(5 * time.Second); !pool.Ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("node never ready")
		}
	}
	reg := prometheus.NewRegistry()
	s, err := New(Options{Config: cfg, Pool: pool, Metrics: reg, Gatherer: reg, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return s, sim
}

// Concurrent single reads share node batches, and every client gets what
// the node answers that call alone: same status, same bytes.
func TestMicroBatchAnswersAsTheNodeAlone(t *testing.T) {
	s, sim := simServer(t, Config{MicroBatch: MicroBatchConfig{MaxWait: 2 * time.Millisecond, MaxItems: 10}})
	calls := []string{
		`{"jsonrpc":"2.0","id":%d,"method":"icx_getBalance","params":{"address":"` + iconsim.DevAddress + `"}}`,
		`{"jsonrpc":"2.0","id":"s%d","method":"icx_getTotalSupply"}`,
		`{"jsonrpc":"2.0","id":%d,"method":"icx_getBalance","params":{"address":"not-an-address"}}`, // a node error: 400
		`{"jsonrpc":"2.0","id":%d,"method":"icx_getScoreApi","params":{"address":"` + iconsim.TokenAddress + `"}}`,
	}
	// What the node answers each alone (the edge without micro-batching).
	plain, _ := simServer(t, Config{})
	want := map[string]string{}
	for i, c := range calls {
		st, body := do(plain, "POST", "/api/v3", fmt.Sprintf(c, i))
		want[fmt.Sprintf(c, i)] = fmt.Sprint(st, " ", body)
	}
	before := sim.Node(0).Stats()
	const clients, each = 32, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for g := 0; g < clients; g++ {
		wg.Go(func() {
			for i := 0; i < each; i++ {
				k := (g + i) % len(calls)
				body := fmt.Sprintf(calls[k], k)
				st, got := do(s, "POST", "/api/v3", body)
				if w := want[body]; fmt.Sprint(st, " ", got) != w {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("%s: got %d %s, want %s", body, st, got, w))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d answers differ from the node's own, e.g. %s", len(bad), bad[0])
	}
	after := sim.Node(0).Stats()
	probes := after.Methods["icx_getLastBlock"] - before.Methods["icx_getLastBlock"] // one request each
	served := after.Total - before.Total - probes
	posts := after.HTTPRequests - before.HTTPRequests - probes
	if served != clients*each {
		t.Fatalf("node served %d calls, want %d", served, clients*each)
	}
	if posts >= served {
		t.Fatalf("node got %d HTTP requests for %d calls: nothing was batched", posts, served)
	}
	t.Logf("%d calls in %d node requests", served, posts)
}

// A read with nothing else in flight is sent at once, as a single call; so
// are methods outside micro-batching (writes, waits, not-found retries).
func TestMicroBatchLeavesOthersAlone(t *testing.T) {
	s, sim := simServer(t, Config{MicroBatch: MicroBatchConfig{MaxWait: time.Second, MaxItems: 10}})
	start := time.Now()
	st, body := do(s, "POST", "/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_getTotalSupply"}`)
	if st != 200 || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("lone read: %d %s after %v (it waited for company)", st, body, time.Since(start))
	}
	var c call
	for _, name := range []string{"icx_sendTransaction", "icx_getTransactionResult", "icx_waitTransactionResult"} {
		c.method = s.live.Load().methods[name]
		if s.micro.eligible(&c) {
			t.Errorf("%s would be micro-batched", name)
		}
	}
	c.method = s.live.Load().methods["icx_getBalance"]
	if !s.micro.eligible(&c) {
		t.Error("icx_getBalance is not micro-batched")
	}
	_ = sim
}

// BenchmarkEdgeMicroBatchedRead: 32 concurrent reads through the request
// path with micro-batching, against an in-process node; node-req/op is the
// node's HTTP requests per call.
func BenchmarkEdgeMicroBatchedRead(b *testing.B) {
	benchParallelReads(b, Config{MicroBatch: MicroBatchConfig{MaxWait: 200 * time.Microsecond, MaxItems: 10}})
}

// BenchmarkEdgeParallelRead is the same without micro-batching.
func BenchmarkEdgeParallelRead(b *testing.B) { benchParallelReads(b, Config{}) }

func benchParallelReads(b *testing.B, cfg Config) {
	s, sim := simServer(b, cfg)
	before := sim.Node(0).Stats().HTTPRequests
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		for pb.Next() {
			serveBody(s, &ctx, `{"jsonrpc":"2.0","id":1,"method":"icx_getTotalSupply"}`)
			if ctx.Response.StatusCode() != 200 {
				b.Errorf("status %d", ctx.Response.StatusCode())
				return
			}
		}
	})
	b.ReportMetric(float64(sim.Node(0).Stats().HTTPRequests-before)/float64(b.N), "node-req/op")
}
