package ratelimit

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

func benchLimiter(b *testing.B, enabled bool) *Limiter {
	l, err := New(Config{Enabled: enabled, RequestsPerSecond: 1e9, Burst: 1 << 30, MaxClients: 100_000}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// Baseline: the same call with limiting off (access checks only).
func BenchmarkAdmitBaselineOff(b *testing.B) {
	l := benchLimiter(b, false)
	c := l.Identify(ip("198.51.100.1"), nil)
	b.ReportAllocs()
	for b.Loop() {
		if !l.Admit(c, "icx_getLastBlock", false).OK {
			b.Fatal("refused")
		}
	}
}

func BenchmarkAdmitHotClient(b *testing.B) {
	l := benchLimiter(b, true)
	c := l.Identify(ip("198.51.100.1"), nil)
	b.ReportAllocs()
	for b.Loop() {
		if !l.Admit(c, "icx_getLastBlock", false).OK {
			b.Fatal("refused")
		}
	}
}

func BenchmarkAdmitHotClientParallel(b *testing.B) {
	l := benchLimiter(b, true)
	c := l.Identify(ip("198.51.100.1"), nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Admit(c, "icx_getLastBlock", false)
		}
	})
}

// 50k clients cycling: every lookup hits a tracked bucket in a cold cache line.
func BenchmarkAdmitManyClients(b *testing.B) {
	l := benchLimiter(b, true)
	const n = 50_000
	clients := make([]Client, n)
	for i := range clients {
		clients[i] = l.Identify(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), nil)
		l.Admit(clients[i], "icx_getLastBlock", false)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.Admit(clients[i%n], "icx_getLastBlock", false)
		i++
	}
}

// Every request from a new address: the flood case (allocates a bucket and evicts one).
func BenchmarkAdmitNewClients(b *testing.B) {
	l := benchLimiter(b, true)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.Admit(l.Identify(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), nil), "icx_getLastBlock", false)
		i++
	}
}

func BenchmarkClientIPTrustedXFF(b *testing.B) {
	l, err := New(Config{TrustedProxies: []string{"173.245.48.0/20", "10.0.0.0/8"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	peer := ip("173.245.48.10")
	xff := []byte("198.51.100.9, 10.1.2.3")
	hdr := func(n string) []byte {
		if n == "X-Forwarded-For" {
			return xff
		}
		return nil
	}
	b.ReportAllocs()
	for b.Loop() {
		l.ClientIP(peer, hdr)
	}
}

// The hot path at HTTP level: a fasthttp server on loopback parsing the
// JSON-RPC body and answering a canned result, with and without the
// limiter. The ratio of the two is the limiter's throughput cost.
func benchHTTP(b *testing.B, l *Limiter) {
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"icx_getBalance","params":{"address":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"}}`)
	answer := []byte(`{"jsonrpc":"2.0","result":"0x2961fff8ca4a62327800000","id":1}`)
	var parsers fastjson.ParserPool
	var refused atomic.Int64
	handler := func(ctx *fasthttp.RequestCtx) {
		p := parsers.Get()
		v, err := p.ParseBytes(ctx.PostBody())
		if err != nil {
			ctx.SetStatusCode(400)
			parsers.Put(p)
			return
		}
		method := string(v.GetStringBytes("method"))
		if l != nil {
			peer, _ := netip.AddrFromSlice(ctx.RemoteIP())
			cip := l.ClientIP(peer, ctx.Request.Header.Peek)
			c := l.Identify(cip, ctx.Request.Header.Peek(l.APIKeyHeader()))
			if d := l.Admit(c, method, false); !d.OK {
				refused.Add(1)
				ctx.SetStatusCode(d.HTTPStatus())
				ctx.Response.Header.Set("Retry-After", strconv.Itoa(d.RetryAfterSeconds()))
				parsers.Put(p)
				return
			}
		}
		parsers.Put(p)
		ctx.SetContentType("application/json")
		ctx.SetBody(answer)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: handler}
	go srv.Serve(ln)
	defer srv.Shutdown()
	hc := &fasthttp.HostClient{Addr: ln.Addr().String(), MaxConns: 64, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	url := "http://" + ln.Addr().String() + "/api/v3"
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(url)
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		req.SetBody(body)
		for pb.Next() {
			if err := hc.Do(req, resp); err != nil {
				b.Error(err)
				return
			}
			if resp.StatusCode() != 200 || !bytes.Equal(resp.Body(), answer) {
				b.Errorf("status %d body %q", resp.StatusCode(), resp.Body())
				return
			}
		}
	})
	b.StopTimer()
	if refused.Load() > 0 {
		b.Fatalf("%d refused", refused.Load())
	}
}

func BenchmarkHTTPBaselineNoLimiter(b *testing.B) { benchHTTP(b, nil) }
func BenchmarkHTTPWithLimiter(b *testing.B)       { benchHTTP(b, benchLimiter(b, true)) }
