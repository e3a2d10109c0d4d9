package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// echoNode is a fasthttp server answering each request with its own body;
// it counts the connections it accepted.
func echoNode(t testing.TB, delay func(body []byte) time.Duration) (addr string, conns *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int64)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if delay != nil {
			time.Sleep(delay(ctx.PostBody()))
		}
		ctx.SetContentType("application/json")
		if bytes.Contains(ctx.PostBody(), []byte("icx_getLastBlock")) { // probes
			ctx.SetBodyString(`{"jsonrpc":"2.0","result":{"height":5},"id":1}`)
			return
		}
		ctx.SetBody(ctx.PostBody())
	}, ConnState: func(_ net.Conn, s fasthttp.ConnState) {
		if s == fasthttp.StateNew {
			conns.Add(1)
		}
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String(), conns
}

// pipeDo is p.do for tests: a call the pipeline hands back unsent (another
// caller is dialing, as at start) is tried again, as Pool.Do would send it
// on an ordinary connection instead.
func pipeDo(p *pipeline, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	for {
		if err, ok := p.do(req, resp, deadline); ok {
			return err
		}
		if time.Now().After(deadline) {
			return fasthttp.ErrTimeout
		}
		time.Sleep(time.Millisecond)
	}
}

func postReq(addr, body string) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI("/api/v3")
	req.SetHost(addr)
	req.SetBodyString(body)
	return req
}

func TestPipelineAnswersEachCallItsOwn(t *testing.T) {
	addr, conns := echoNode(t, nil)
	p := newPipeline(addr, 2, 64, 1<<20, time.Minute)
	defer p.close()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for g := 0; g < 32; g++ {
		wg.Go(func() {
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseResponse(resp)
			for i := 0; i < 50; i++ {
				body := fmt.Sprintf(`{"id":"%d-%d"}`, g, i)
				req := postReq(addr, body)
				err := pipeDo(p, req, resp, time.Now().Add(5*time.Second))
				fasthttp.ReleaseRequest(req)
				if err != nil || string(resp.Body()) != body {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of 1600 calls got no answer or another call's", bad.Load())
	}
	// 32 callers at once, 64 allowed in flight per connection: they share
	// the two connections instead of opening one each.
	if n := conns.Load(); n > 2 {
		t.Fatalf("node saw %d connections, want at most 2 (pipelined)", n)
	}
}

// A connection the node drops with calls in flight fails those calls at
// once (as connection errors, so reads go elsewhere); later calls dial anew.
func TestPipelineBrokenConnectionFailsItsCalls(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var first atomic.Bool
	first.Store(true)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				var req fasthttp.Request
				for n := 0; ; n++ {
					if err := req.Read(br); err != nil {
						return
					}
					if first.Load() && n == 2 { // the first connection dies on its third request
						first.Store(false)
						return
					}
					resp := "HTTP/1.1 200 OK\r\nContent-Length: " + fmt.Sprint(len(req.Body())) + "\r\n\r\n" + string(req.Body())
					if _, err := c.Write([]byte(resp)); err != nil {
						return
					}
				}
			}()
		}
	}()
	addr := ln.Addr().String()
	p := newPipeline(addr, 1, 64, 1<<20, time.Minute)
	defer p.close()
	warm := postReq(addr, "warm")
	defer fasthttp.ReleaseRequest(warm)
	if err := pipeDo(p, warm, fasthttp.AcquireResponse(), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var failed, ok atomic.Int64
	start := time.Now()
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseResponse(resp)
			req := postReq(addr, fmt.Sprintf("%d", g))
			defer fasthttp.ReleaseRequest(req)
			err := pipeDo(p, req, resp, time.Now().Add(10*time.Second))
			switch {
			case err == nil && string(resp.Body()) == fmt.Sprint(g):
				ok.Add(1)
			case err != nil && classify(err, resp) == OutcomeConn:
				failed.Add(1)
			default:
				t.Errorf("call %d: err %v, body %q", g, err, resp.Body())
			}
		})
	}
	wg.Wait()
	if failed.Load() == 0 {
		t.Fatalf("no call saw the connection break (ok %d)", ok.Load())
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("calls on the broken connection took %v: they waited for their deadline", took)
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req := postReq(addr, "after")
	defer fasthttp.ReleaseRequest(req)
	if err := pipeDo(p, req, resp, time.Now().Add(5*time.Second)); err != nil || string(resp.Body()) != "after" {
		t.Fatalf("a call after the break: err %v, body %q", err, resp.Body())
	}
}

// A call whose answer does not come by its deadline returns a timeout then,
// not later, and the calls behind it on the connection are not stuck.
func TestPipelineDeadline(t *testing.T) {
	addr, _ := echoNode(t, func(body []byte) time.Duration {
		if string(body) == "slow" {
			return 3 * time.Second
		}
		return 0
	})
	p := newPipeline(addr, 1, 64, 1<<20, time.Minute)
	defer p.close()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req := postReq(addr, "slow")
	defer fasthttp.ReleaseRequest(req)
	start := time.Now()
	err := pipeDo(p, req, resp, start.Add(200*time.Millisecond))
	if !errors.Is(err, fasthttp.ErrTimeout) {
		t.Fatalf("slow call: %v, want a timeout", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("slow call returned after %v, its deadline was 200ms", took)
	}
	// The connection is closed once the head of the line is overdue; the
	// next call gets a fresh one and its answer.
	req2 := postReq(addr, "quick")
	defer fasthttp.ReleaseRequest(req2)
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := pipeDo(p, req2, resp, time.Now().Add(time.Second))
		if err == nil && string(resp.Body()) == "quick" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a call after the timeout never got its answer: %v", err)
		}
	}
}

// Writes and waits never ride a pipelined connection; short reads do. A
// node that refuses connections is a dial failure (nothing was sent).
func TestPoolPipelinesOnlyShortReads(t *testing.T) {
	addr, _ := echoNode(t, nil)
	p, err := New(Config{Upstreams: []string{"http://" + addr}, PipelineConns: 2,
		Health: HealthConfig{ProbeInterval: 20 * time.Millisecond}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Start(context.Background())
	defer p.Close()
	n := p.Nodes()[0]
	pipeConns := func() int {
		n.pipe.mu.Lock()
		defer n.pipe.mu.Unlock()
		return len(n.pipe.conns)
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	for _, pol := range []Policy{{SentOnce: true}, {Long: true}, {SentOnce: true, Long: true}} {
		req := postReq(addr, `{"method":"icx_sendTransaction"}`)
		if out, err := p.Do(n, req, resp, Attempt{Deadline: time.Now().Add(time.Second), Long: pol.Long,
			Pipelined: !pol.Long && !pol.SentOnce}); out != OutcomeOK {
			t.Fatalf("policy %+v: %v %v", pol, out, err)
		}
		fasthttp.ReleaseRequest(req)
	}
	if c := pipeConns(); c != 0 {
		t.Fatalf("writes and waits opened %d pipelined connections", c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !p.Ready() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	req := postReq(addr, `{"method":"icx_getBalance"}`)
	defer fasthttp.ReleaseRequest(req)
	if r := p.Send(Need{}, req, resp, time.Now().Add(time.Second), Policy{Retries: 1}); !r.Answered() {
		t.Fatalf("read: %+v", r)
	}
	if c := pipeConns(); c != 1 {
		t.Fatalf("a read opened %d pipelined connections, want 1", c)
	}

	// A node that is gone: the dial fails and says so.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	gone := ln.Addr().String()
	ln.Close()
	dead := newPipeline(gone, 1, 8, 1<<20, time.Minute)
	req2 := postReq(gone, "x")
	defer fasthttp.ReleaseRequest(req2)
	err2, _ := dead.do(req2, resp, time.Now().Add(time.Second))
	if out := classify(err2, resp); out != OutcomeDial {
		t.Fatalf("dead node: %v classified %v, want dial", err2, out)
	}
	if !strings.Contains(fmt.Sprint(err2), "refused") {
		t.Logf("dial error: %v", err2)
	}
}

// benchReads runs parallel reads of a fixed body against a fasthttp node,
// through do; it reports node connections used.
func benchReads(b *testing.B, do func(req *fasthttp.Request, resp *fasthttp.Response) error) {
	b.ReportAllocs()
	b.SetParallelism(16) // 32 callers on 2 cores: the edge's situation under load
	b.RunParallel(func(pb *testing.PB) {
		req := postReq(benchAddr, `{"jsonrpc":"2.0","id":1,"method":"icx_getBalance"}`)
		resp := fasthttp.AcquireResponse()
		for pb.Next() {
			if err := do(req, resp); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

var benchAddr string

// BenchmarkPipelinedRead: short reads on two pipelined connections, as the
// edge sends them by default.
func BenchmarkPipelinedRead(b *testing.B) {
	addr, conns := echoNode(b, nil)
	benchAddr = addr
	p := newPipeline(addr, 2, 64, 1<<20, time.Minute)
	defer p.close()
	hc := &fasthttp.HostClient{Addr: addr, MaxConns: 512}
	benchReads(b, func(req *fasthttp.Request, resp *fasthttp.Response) error {
		err, ok := p.do(req, resp, time.Now().Add(5*time.Second))
		if !ok {
			return hc.Do(req, resp)
		}
		return err
	})
	_ = conns
}

// BenchmarkHostClientRead is the baseline: a connection per call in flight.
func BenchmarkHostClientRead(b *testing.B) {
	addr, conns := echoNode(b, nil)
	benchAddr = addr
	hc := &fasthttp.HostClient{Addr: addr, MaxConns: 512}
	benchReads(b, func(req *fasthttp.Request, resp *fasthttp.Response) error { return hc.Do(req, resp) })
	b.ReportMetric(float64(conns.Load()), "node-conns")
}

// An answer that takes longer than a tick of the idle check must not make
// the connection look idle afterwards: it is retired only after a whole
// period without a call. maxIdle 1 s: a tick every 500 ms; the answer takes
// 950 ms, so a tick comes while it is awaited and the next right after it.
func TestSlowAnswerDoesNotRetireTheConnection(t *testing.T) {
	addr, conns := echoNode(t, func([]byte) time.Duration { return 950 * time.Millisecond })
	p := newPipeline(addr, 1, 64, 1<<20, time.Second)
	defer p.close()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req := postReq(addr, `{"id":1}`)
	if err := pipeDo(p, req, resp, time.Now().Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // briefly idle: far less than the 500 ms period
	if err := pipeDo(p, req, resp, time.Now().Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("the node saw %d connections: the first was retired after 150 ms idle", n)
	}
}
