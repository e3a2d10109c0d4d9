package wsbridge

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// benchSubs is the subscriber count (WSBRIDGE_BENCH_SUBS, default 10000).
func benchSubs() int {
	if n, err := strconv.Atoi(os.Getenv("WSBRIDGE_BENCH_SUBS")); err == nil && n > 0 {
		return n
	}
	return 10000
}

func heapAndStacks() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// connectIdle opens n client websockets to url, sending first when non-empty,
// and returns the process memory they added (both ends live in this process).
func connectIdle(b *testing.B, url, first string, n int) (perConn float64, conns []*websocket.Conn) {
	before := heapAndStacks()
	d := websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 1024}
	for i := 0; i < n; i++ {
		c, _, err := d.Dial(url, nil)
		if err != nil {
			b.Fatalf("dial %d: %v", i, err)
		}
		if first != "" {
			_ = c.WriteMessage(websocket.TextMessage, []byte(first))
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, _, err := c.ReadMessage(); err != nil { // {"code":0}
				b.Fatalf("handshake %d: %v", i, err)
			}
		}
		conns = append(conns, c)
	}
	time.Sleep(200 * time.Millisecond)
	return float64(heapAndStacks()-before) / float64(n), conns
}

// BenchmarkIdleSubscribers reports memory per idle subscriber on the bridge
// against a baseline of the same clients on a bare gorilla server that only
// upgrades and blocks reading (the least any websocket server can hold).
// Client-side memory is in both figures, so the difference is the bridge's.
func BenchmarkIdleSubscribers(b *testing.B) {
	n := benchSubs()
	var keep sync.WaitGroup
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{ReadBufferSize: 1024, WriteBufferPool: &sync.Pool{}}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		keep.Add(1)
		defer keep.Done()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	defer bare.Close()
	basePer, baseConns := connectIdle(b, "ws"+strings.TrimPrefix(bare.URL, "http"), "", n)
	for _, c := range baseConns {
		c.Close()
	}
	e := startEnv(b, 1, time.Second, Config{MaxConnsPerIP: n + 10, PingInterval: time.Hour})
	first := fmt.Sprintf(`{"height":"0x%x","eventFilters":[{"event":"Never(int)"}]}`, e.sim.Height()+1000000)
	var samples []time.Duration
	var mu sync.Mutex
	e.bridge.relayObserver = func(d time.Duration) {
		mu.Lock()
		if len(samples) < 1<<20 {
			samples = append(samples, d)
		}
		mu.Unlock()
	}
	b.ResetTimer()
	per, conns := connectIdle(b, e.url+"/api/v3/icon_dex/block", first, n)
	b.StopTimer()
	b.ReportMetric(per/1024, "KiB/idle-sub")
	b.ReportMetric(basePer/1024, "KiB/bare-conn")
	b.ReportMetric(per/basePer, "x-bare")
	b.ReportMetric(float64(wsSessions(e.sim)), "node-sessions")
	for _, c := range conns {
		c.Close()
	}
	_ = samples
}

// BenchmarkRelayLatency: n subscribers following the head; the time from a
// node notification's arrival at the bridge to its write to each client.
func BenchmarkRelayLatency(b *testing.B) {
	n := benchSubs()
	e := startEnv(b, 1, 100*time.Millisecond, Config{MaxConnsPerIP: n + 10, SendQueue: 64})
	var mu sync.Mutex
	var samples []time.Duration
	e.bridge.relayObserver = func(d time.Duration) {
		mu.Lock()
		if len(samples) < 1<<21 {
			samples = append(samples, d)
		}
		mu.Unlock()
	}
	first := fmt.Sprintf(`{"height":"0x%x"}`, e.sim.Height())
	d := websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 1024}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < n; i++ {
		c, _, err := d.Dial(e.url+"/api/v3/icon_dex/block", nil)
		if err != nil {
			b.Fatalf("dial %d: %v", i, err)
		}
		defer c.Close()
		_ = c.WriteMessage(websocket.TextMessage, []byte(first))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
	mu.Lock()
	samples = samples[:0]
	mu.Unlock()
	b.ResetTimer()
	time.Sleep(time.Duration(max(b.N, 10)) * 100 * time.Millisecond) // b.N blocks, at least 10
	b.StopTimer()
	close(stop)
	mu.Lock()
	s := slices.Clone(samples)
	mu.Unlock()
	if len(s) == 0 {
		b.Fatal("no notifications relayed")
	}
	slices.Sort(s)
	q := func(p float64) float64 { return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(len(s)), "relayed")
	b.ReportMetric(counter(e.bridge.metrics.slow), "slow-cut")
}
