package wsbridge

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/valyala/fasthttp"
)

// The benchmarks put the subscribers in a child process (this test binary
// again, in client mode), so that the figures are the bridge's own: its
// memory per subscriber, and its relay latency next to the floor — one
// pre-framed message written to every socket in a tight loop, one writer
// per core — measured against the same subscribers in the same run.

const clientModeEnv = "WSBRIDGE_BENCH_CLIENTS" // "URL N FIRST-MESSAGE"

func TestMain(m *testing.M) {
	if spec := os.Getenv(clientModeEnv); spec != "" {
		runClients(spec)
		return
	}
	os.Exit(m.Run())
}

// benchSubs is the subscriber count (WSBRIDGE_BENCH_SUBS, default 10000).
func benchSubs() int {
	if n, err := strconv.Atoi(os.Getenv("WSBRIDGE_BENCH_SUBS")); err == nil && n > 0 {
		return n
	}
	return 10000
}

// raiseNoFile lifts the soft file-descriptor limit to the hard limit and
// returns how many subscribers fit: each process holds one socket per
// subscriber plus a margin.
func raiseNoFile(want int) (fit int, limit uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return min(want, int(rl.Cur)-256), rl.Cur
}

// runClients is the child: it dials N websockets, sends the first message
// (if any) and reads its answer, says "ready", then reads everything until
// its stdin closes.
func runClients(spec string) {
	parts := strings.SplitN(spec, " ", 3)
	n, _ := strconv.Atoi(parts[1])
	raiseNoFile(n)
	first := ""
	if len(parts) == 3 {
		first = parts[2]
	}
	d := websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 1024, HandshakeTimeout: 30 * time.Second}
	var conns []*websocket.Conn
	for i := 0; i < n; i++ {
		c, _, err := d.Dial(parts[0], nil)
		if err != nil {
			fmt.Printf("error dial %d: %v\n", i, err)
			os.Exit(1)
		}
		if first != "" {
			_ = c.WriteMessage(websocket.TextMessage, []byte(first))
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, _, err := c.ReadMessage(); err != nil { // {"code":0}
				fmt.Printf("error handshake %d: %v\n", i, err)
				os.Exit(1)
			}
			_ = c.SetReadDeadline(time.Time{})
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		go func() {
			for {
				if _, _, err := c.NextReader(); err != nil {
					return
				}
			}
		}()
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// clients starts the child with n subscribers of url and waits until all
// are connected; the returned stop ends it.
func clients(b *testing.B, url string, n int, first string) (stop func()) {
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %s", clientModeEnv, url, n, first))
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		_ = cmd.Process.Kill()
		b.Fatalf("subscribers: %s", line)
	}
	return func() {
		in.Close()
		_ = cmd.Wait()
	}
}

func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

func heapAndStacks() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// fastServer serves the bridge as the edge does: fasthttp, hijacked sockets.
func fastServer(b *testing.B, br *Bridge) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if br.IsWebSocket(ctx) {
			br.HandleFastHTTP(ctx)
			return
		}
		ctx.Error("Not Found", 404)
	}, KeepHijackedConns: true}
	go srv.Serve(ln)
	b.Cleanup(func() { _ = br.Close(); _ = srv.Shutdown() })
	return "ws://" + ln.Addr().String()
}

// bareServer upgrades and hands each socket to keep; nothing else.
func bareServer(b *testing.B, keep func(*websocket.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	up := websocket.Upgrader{ReadBufferSize: 512, WriteBufferPool: &sync.Pool{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := up.Upgrade(w, r, nil); err == nil {
			keep(c)
		}
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { _ = srv.Close() })
	return "ws://" + ln.Addr().String()
}

// BenchmarkIdleSubscribers reports the bridge's memory (heap and stacks)
// per idle subscriber, against the least a websocket server can hold: a
// bare gorilla server whose handler blocks reading each connection.
func BenchmarkIdleSubscribers(b *testing.B) {
	n, limit := raiseNoFile(benchSubs())
	var mu sync.Mutex
	var bareConns []*websocket.Conn
	bare := bareServer(b, func(c *websocket.Conn) {
		mu.Lock()
		bareConns = append(bareConns, c)
		mu.Unlock()
		defer c.Close()
		for {
			if _, _, err := c.NextReader(); err != nil {
				return
			}
		}
	})
	before := heapAndStacks()
	stop := clients(b, bare, n, "")
	basePer := float64(heapAndStacks()-before) / float64(n)
	stop()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if openFDs() < 1000 { // the bare server's sockets are closed
			break
		}
	}
	e := startEnv(b, 1, time.Second, Config{MaxConnsPerIP: n + 10, MaxConnections: n + 10, PingInterval: time.Hour})
	url := fastServer(b, e.bridge) + "/api/v3/icon_dex/block"
	first := fmt.Sprintf(`{"height":"0x%x","eventFilters":[{"event":"Never(int)"}]}`, e.sim.Height()+1000000)
	b.ResetTimer()
	before = heapAndStacks()
	stop = clients(b, url, n, first)
	per := float64(heapAndStacks()-before) / float64(n)
	if path := os.Getenv("WSBRIDGE_BENCH_HEAP"); path != "" {
		if f, err := os.Create(path); err == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	b.StopTimer()
	stop()
	b.ReportMetric(per/1024, "KiB/idle-sub")
	b.ReportMetric(basePer/1024, "KiB/bare-conn")
	b.ReportMetric(float64(n), "subs")
	b.ReportMetric(float64(limit), "fd-limit")
	b.ReportMetric(float64(wsSessions(e.sim)), "node-sessions")
}

// relayInterval spaces notifications (blocks, floor rounds) so that each
// fan-out is measured on its own, not queued behind the previous one: on
// two shared cores one round to 10,000 sockets takes ~100 ms.
const relayInterval = 400 * time.Millisecond

// BenchmarkRelayLatency: n subscribers following the head; the time from a
// node notification's arrival at the bridge to its write to each client,
// next to the floor in the same run: the same subscribers' sockets written
// one pre-framed message each, GOMAXPROCS writers in a tight loop, timed
// from the start of the round to each socket's write. Both get a message
// every relayInterval.
func BenchmarkRelayLatency(b *testing.B) {
	n, limit := raiseNoFile(benchSubs())
	rounds := max(b.N, 10)
	floor := floorLatency(b, n, rounds)

	e := startEnv(b, 1, relayInterval, Config{MaxConnsPerIP: n + 10, MaxConnections: n + 10, SendQueue: 64})
	var mu sync.Mutex
	var samples []time.Duration
	url := fastServer(b, e.bridge) + "/api/v3/icon_dex/block"
	stop := clients(b, url, n, fmt.Sprintf(`{"height":"0x%x"}`, e.sim.Height()))
	defer stop()
	e.bridge.relayObserver = func(d time.Duration) {
		mu.Lock()
		samples = append(samples, d)
		mu.Unlock()
	}
	b.ResetTimer()
	deadline := time.Now().Add(time.Duration(rounds)*relayInterval + 30*time.Second)
	for {
		mu.Lock()
		got := len(samples)
		mu.Unlock()
		if got >= rounds*n || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.StopTimer()
	e.bridge.relayObserver = nil
	mu.Lock()
	s := slices.Clone(samples)
	mu.Unlock()
	if len(s) == 0 {
		b.Fatal("no notifications relayed")
	}
	p50, p99 := quantiles(s)
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(floor, "floor-p99-ms")
	b.ReportMetric(p99/floor, "x-floor")
	b.ReportMetric(float64(len(s)), "relayed")
	b.ReportMetric(float64(n), "subs")
	b.ReportMetric(float64(limit), "fd-limit")
	b.ReportMetric(counter(e.bridge.metrics.slow), "slow-cut")
}

func quantiles(s []time.Duration) (p50, p99 float64) {
	slices.Sort(s)
	q := func(p float64) float64 { return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1000 }
	return q(0.5), q(0.99)
}

// floorLatency is the p99 (ms) of writing one pre-framed block-sized
// message to n subscribers' sockets, rounds times, one every relayInterval.
func floorLatency(b *testing.B, n, rounds int) float64 {
	var mu sync.Mutex
	var socks []net.Conn
	url := bareServer(b, func(c *websocket.Conn) {
		mu.Lock()
		socks = append(socks, c.NetConn())
		mu.Unlock()
	})
	stop := clients(b, url, n, "")
	defer stop()
	defer func() {
		for _, s := range socks {
			s.Close()
		}
	}()
	frame := textFrame([]byte(`{"hash":"0x` + strings.Repeat("ab", 32) + `","height":"0x1a2b3c"}` + "\n"))
	workers := runtime.GOMAXPROCS(0)
	var samples []time.Duration
	tick := time.NewTicker(relayInterval)
	defer tick.Stop()
	for r := 0; r < rounds; r++ {
		<-tick.C
		parts := make([][]time.Duration, workers)
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < workers; w++ {
			wg.Go(func() {
				for i := w; i < len(socks); i += workers {
					if _, err := socks[i].Write(frame); err != nil {
						b.Error(err)
						return
					}
					parts[w] = append(parts[w], time.Since(start))
				}
			})
		}
		wg.Wait()
		for _, p := range parts {
			samples = append(samples, p...)
		}
	}
	_, p99 := quantiles(samples)
	return p99
}
