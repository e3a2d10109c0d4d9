package loadtest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

const stubAnswer = `{"jsonrpc":"2.0","result":{"block_hash":"e8d89fcfa2f8ec8647faeafa335b12205800e133164aef5f20516a2690ffbda5","confirmed_transaction_list":[],"height":660,"version":"2.0"},"id":1}`

func stubServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(stubAnswer)
	}}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// burstSource makes n requests all due at once: the engine then runs as
// fast as it can, which measures its cost per request.
type burstSource struct{ n, i int }

var benchBody = []byte(`{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`)

func (s *burstSource) Next(r *Request) bool {
	if s.i >= s.n {
		return false
	}
	s.i++
	r.At, r.Path, r.Method, r.Body = 0, "/api/v3", "icx_getLastBlock", benchBody
	return true
}

// BenchmarkEngine compares the engine (scheduling, workers, classification,
// histograms) with a bare fasthttp loop of the same concurrency against the
// same loopback server: the ratio of ns/op is the engine's overhead.
func BenchmarkEngine(b *testing.B) {
	url := stubServer(b)
	const conc = 32
	b.Run("bare-fasthttp", func(b *testing.B) {
		tg, _ := newTargetCfg(url, Config{MaxInflight: conc, Timeout: 10 * time.Second})
		work := make(chan struct{}, conc)
		var wg sync.WaitGroup
		for i := 0; i < conc; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				req.Header.SetMethod("POST")
				req.SetRequestURI(url + "/api/v3")
				for range work {
					req.SetBodyRaw(benchBody)
					if err := tg.client.DoDeadline(req, resp, time.Now().Add(10*time.Second)); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			work <- struct{}{}
		}
		close(work)
		wg.Wait()
	})
	b.Run("engine", func(b *testing.B) {
		b.ReportAllocs()
		rep, err := Run(context.Background(), Config{Target: url, MaxInflight: conc}, &burstSource{n: b.N})
		if err != nil || rep.Completed != int64(b.N) || rep.Failed != 0 {
			b.Fatalf("%v %v", rep, err)
		}
	})
}
