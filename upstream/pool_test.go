package upstream

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// fakeNode answers icx_getLastBlock with a settable height, or fails.
type fakeNode struct {
	srv    *httptest.Server
	height atomic.Int64
	fail   atomic.Bool
	delay  atomic.Int64 // ns
	hits   atomic.Int64
}

func newFakeNode(t *testing.T, height int64) *fakeNode {
	f := &fakeNode{}
	f.height.Store(height)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		if d := f.delay.Load(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		if f.fail.Load() {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, `{"jsonrpc":"2.0","result":{"height":%d,"block_hash":"ab"},"id":1}`, f.height.Load())
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func testConfig(urls ...string) Config {
	return Config{
		Upstreams: urls,
		MaxLag:    2,
		Health: HealthConfig{ProbeInterval: 20 * time.Millisecond, ProbeTimeout: 200 * time.Millisecond,
			EjectAfter: 2, RecoverAfter: 2, BackoffMin: 30 * time.Millisecond, BackoffMax: 100 * time.Millisecond},
	}
}

func startPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	p, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p.Start(context.Background())
	t.Cleanup(p.Close)
	return p
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func nodeByURL(p *Pool, u string) *Node {
	for _, n := range p.Nodes() {
		if n.URL() == u {
			return n
		}
	}
	return nil
}

func TestLaggingNodeGetsNoLatestReads(t *testing.T) {
	a, b, lag := newFakeNode(t, 100), newFakeNode(t, 99), newFakeNode(t, 90)
	p := startPool(t, testConfig(a.srv.URL, b.srv.URL, lag.srv.URL))
	eventually(t, "three healthy nodes", func() bool {
		return len(p.Nodes()) == 3 && nodeByURL(p, lag.srv.URL) != nil && nodeByURL(p, lag.srv.URL).State() == StateHealthy &&
			nodeByURL(p, a.srv.URL).State() == StateHealthy && nodeByURL(p, b.srv.URL).State() == StateHealthy
	})
	if p.Tip() != 100 {
		t.Fatalf("tip = %d, want 100", p.Tip())
	}
	lagging := nodeByURL(p, lag.srv.URL)
	if p.InSync(lagging) {
		t.Fatal("node 10 blocks behind counts as in sync")
	}
	for range 200 {
		if n := p.Pick(Need{Latest: true}, nil); n == lagging || n == nil {
			t.Fatalf("latest read picked %v", n)
		}
	}
	// Pinned to a height only the leader has.
	for range 100 {
		if n := p.Pick(Need{MinHeight: 100}, nil); n == nil || n.URL() != a.srv.URL {
			t.Fatalf("read pinned at 100 went to %v", n)
		}
	}
	// Pinned above every node: only in-sync nodes may have made it since the last probe.
	for range 100 {
		if n := p.Pick(Need{MinHeight: 101}, nil); n == nil || n == lagging {
			t.Fatalf("read pinned above tip went to %v", n)
		}
	}
	// An old height may go to the lagging node too, e.g. as a retry.
	if n := p.Pick(Need{MinHeight: 50}, []*Node{nodeByURL(p, a.srv.URL), nodeByURL(p, b.srv.URL)}); n != lagging {
		t.Fatalf("old pinned read with the others tried went to %v, want the lagging node", n)
	}
	if n := p.Pick(Need{Latest: true}, []*Node{nodeByURL(p, a.srv.URL), nodeByURL(p, b.srv.URL)}); n != nil {
		t.Fatalf("latest read with every in-sync node tried went to %v", n.URL())
	}
}

func TestNodeFallingBehindLosesLatestReadsWithinAProbe(t *testing.T) {
	a, b := newFakeNode(t, 10), newFakeNode(t, 10)
	p := startPool(t, testConfig(a.srv.URL, b.srv.URL))
	eventually(t, "both in sync", func() bool {
		return p.Ready() && len(p.Nodes()) == 2 && p.InSync(p.Nodes()[0]) && p.InSync(p.Nodes()[1])
	})
	a.height.Store(20)
	nb := nodeByURL(p, b.srv.URL)
	eventually(t, "b out of sync", func() bool { return !p.InSync(nb) })
	for range 100 {
		if p.Pick(Need{Latest: true}, nil) == nb {
			t.Fatal("node that fell behind still gets latest reads")
		}
	}
}

func TestFailingNodeIsEjectedAndRecovers(t *testing.T) {
	a, b := newFakeNode(t, 10), newFakeNode(t, 10)
	p := startPool(t, testConfig(a.srv.URL, b.srv.URL))
	eventually(t, "ready", func() bool { return len(p.Nodes()) == 2 && p.InSync(nodeByURL(p, a.srv.URL)) })
	na := nodeByURL(p, a.srv.URL)
	a.fail.Store(true)
	eventually(t, "a ejected", func() bool { return na.State() == StateEjected })
	if p.Pick(Need{Latest: true}, nil) == na {
		t.Fatal("ejected node picked")
	}
	a.fail.Store(false)
	eventually(t, "a healthy again", func() bool { return na.State() == StateHealthy })
}

func TestReadyFollowsNodes(t *testing.T) {
	a := newFakeNode(t, 5)
	p := startPool(t, testConfig(a.srv.URL))
	eventually(t, "ready", p.Ready)
	a.fail.Store(true)
	eventually(t, "not ready", func() bool { return !p.Ready() })
	if n := p.Pick(Need{Latest: true}, nil); n != nil {
		t.Fatalf("picked %v with every node down", n.URL())
	}
	a.fail.Store(false)
	eventually(t, "ready again", p.Ready)
}

func TestPickPrefersFastIdleNode(t *testing.T) {
	fast, slow := newFakeNode(t, 10), newFakeNode(t, 10)
	slow.delay.Store(int64(30 * time.Millisecond))
	p := startPool(t, testConfig(fast.srv.URL, slow.srv.URL))
	nf, ns := (*Node)(nil), (*Node)(nil)
	eventually(t, "latencies known", func() bool {
		nf, ns = nodeByURL(p, fast.srv.URL), nodeByURL(p, slow.srv.URL)
		return nf != nil && ns != nil && p.InSync(nf) && p.InSync(ns) && ns.Latency() > 10*time.Millisecond
	})
	for range 100 {
		if p.Pick(Need{Latest: true}, nil) != nf {
			t.Fatal("slow node picked over an idle fast one")
		}
	}
	// Load moves traffic: a fast node with many requests open loses to an idle slow one.
	nf.inflight.Add(1000)
	defer nf.inflight.Add(-1000)
	if p.Pick(Need{Latest: true}, nil) != ns {
		t.Fatal("overloaded fast node still picked")
	}
	if got := p.Pick(Need{Latest: true}, []*Node{ns}); got != nf {
		t.Fatal("tried list ignored")
	}
}

type fakeResolver struct {
	mu    sync.Mutex
	addrs []net.IPAddr
	err   error
}

func (r *fakeResolver) set(err error, ips ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
	r.addrs = nil
	for _, ip := range ips {
		r.addrs = append(r.addrs, net.IPAddr{IP: net.ParseIP(ip)})
	}
}

func (r *fakeResolver) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addrs, r.err
}

func TestDNSSourceAddsAndDrainsNodes(t *testing.T) {
	// Two fake nodes on one port number cannot exist, so the DNS answer maps
	// to loopback aliases of one listener: 127.0.0.1 and 127.0.0.2 both reach it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString(`{"jsonrpc":"2.0","result":{"height":7},"id":1}`)
	}}
	ln, err := net.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		t.Skipf("cannot listen on all loopback addresses: %v", err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown()

	r := &fakeResolver{}
	r.set(nil, "127.0.0.1")
	cfg := testConfig(fmt.Sprintf("dns+http://nodes.internal:%d", port))
	cfg.Resolver = r
	cfg.ResolveInterval = 20 * time.Millisecond
	p := startPool(t, cfg)
	u1, u2 := fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("http://127.0.0.2:%d", port)
	eventually(t, "first node healthy", func() bool { n := nodeByURL(p, u1); return n != nil && n.State() == StateHealthy })
	r.set(nil, "127.0.0.1", "127.0.0.2")
	eventually(t, "second node joins", func() bool { n := nodeByURL(p, u2); return n != nil && n.State() == StateHealthy })
	// A failing lookup keeps the fleet.
	r.set(fmt.Errorf("SERVFAIL"))
	time.Sleep(60 * time.Millisecond)
	if len(p.Nodes()) != 2 {
		t.Fatalf("DNS failure changed membership: %d nodes", len(p.Nodes()))
	}
	r.set(nil, "127.0.0.2")
	eventually(t, "first node drained and removed", func() bool { return nodeByURL(p, u1) == nil })
	if n := nodeByURL(p, u2); n == nil || n.State() != StateHealthy {
		t.Fatal("remaining node lost")
	}
}

func TestParseSourceErrors(t *testing.T) {
	for _, bad := range []string{"", "127.0.0.1:9000", "ftp://x:1", "dns+http://name", "http://h:1/api/v3"} {
		if _, err := ParseSource(bad, nil); err == nil {
			t.Errorf("ParseSource(%q) accepted", bad)
		}
	}
	if _, err := ParseSource("http://127.0.0.1:9181", nil); err != nil {
		t.Fatal(err)
	}
}
