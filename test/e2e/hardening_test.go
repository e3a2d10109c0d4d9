package e2e

// Regression tests for the attacks of issue 10 that the edge's listener and
// body handling answer: slow and large request bodies, idle connections and
// connections per address. Each sends raw HTTP over loopback, as an attacker
// would.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/icon-edge/icon-edge/edge"
	"github.com/icon-edge/icon-edge/internal/promtest"
	"github.com/icon-edge/icon-edge/ratelimit"
)

const lastBlock = `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`

// answered checks that a normal client is served while an attack goes on.
func answered(t *testing.T, e *edge.Edge) {
	t.Helper()
	if r := post(t, e.URL()+"/api/v3", lastBlock); r.status != 200 {
		t.Fatalf("a normal client got %d %s", r.status, r.body)
	}
}

func dialEdge(t *testing.T, e *edge.Edge) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func bodyHead(contentLength int) string {
	return "POST /api/v3 HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(contentLength) + "\r\n\r\n"
}

// unreadByEdge reports how many of the edge's connections exist and how many
// bytes clients sent that the edge has not read yet, from the kernel's socket
// table: the only way to know the edge has processed what a stalled client
// sent without waiting an arbitrary time.
func unreadByEdge(t *testing.T, addr string) (conns, unread int) {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	local := fmt.Sprintf(":%04X", p)
	raw, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		// sl local_address rem_address st tx_queue:rx_queue ...
		if len(f) < 5 || !strings.HasSuffix(f[1], local) || f[3] != "01" {
			continue
		}
		conns++
		_, rx, _ := strings.Cut(f[4], ":")
		n, _ := strconv.ParseInt(rx, 16, 64)
		unread += int(n)
	}
	return conns, unread
}

func waitEdgeRead(t *testing.T, e *edge.Edge, conns int) {
	t.Helper()
	eventually(t, fmt.Sprintf("the edge has read everything %d connections sent", conns), func() bool {
		n, unread := unreadByEdge(t, e.Addr())
		return n >= conns && unread == 0
	})
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Attack 3: many connections declaring 1 MiB bodies and trickling bytes made
// the edge allocate every declared body up front (~1 MiB per connection).
// Memory must follow what arrived, and normal clients must be served.
func TestSlowBodiesDoNotReserveDeclaredMemory(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("SKIPPED: needs Linux /proc/net/tcp to see what the edge has read from each connection")
	}
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.Limits.MaxConnsPerIP = 0 // every attacker is 127.0.0.1 here: measure bodies, not the cap
	cfg.Limits.ReadTimeout = time.Minute
	cfg.Limits.BodyTimeout = time.Minute // the senders must stay connected while memory is measured
	e := startEdge(t, cfg)
	answered(t, e)
	const n, declared = 100, 1 << 20
	before := liveHeap()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dialEdge(t, e)
		if _, err := io.WriteString(conns[i], bodyHead(declared)+`[`); err != nil {
			t.Fatal(err)
		}
	}
	waitEdgeRead(t, e, n)
	answered(t, e)
	for round := 0; round < 3; round++ { // trickle: one byte per connection per round
		for _, c := range conns {
			if _, err := io.WriteString(c, " "); err != nil {
				t.Fatalf("round %d: the edge dropped a slow sender early: %v", round, err)
			}
		}
		waitEdgeRead(t, e, n)
		answered(t, e)
	}
	grown := int64(liveHeap()) - int64(before)
	t.Logf("%d connections declaring %d MiB each: live heap grew %.1f MiB (%.3f of the declared total)",
		n, declared>>20, float64(grown)/(1<<20), float64(grown)/float64(n*declared))
	if grown > 16<<20 {
		t.Fatalf("live heap grew %d MiB for %d slow senders: bodies are allocated as declared", grown>>20, n)
	}
}

// A body that does not arrive within body_timeout ends the connection
// without an answer, counted as a client timeout, not as a malformed call:
// a small body (within the 8 KiB fasthttp reads before the handler) and the
// rest of a large one alike.
func TestSlowBodyCutOffByBodyTimeout(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.Limits.BodyTimeout = 300 * time.Millisecond
	cfg.Limits.ReadTimeout = time.Minute // the body timeout, not the read timeout, cuts these
	e := startEdge(t, cfg)
	for _, c := range []struct {
		declared, sent int
		phase          string
	}{{len(lastBlock), 10, "request"}, {64 << 10, 20 << 10, "body"}} {
		conn := dialEdge(t, e)
		if _, err := io.WriteString(conn, bodyHead(c.declared)+strings.Repeat(" ", c.sent)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(conn)
		if err != nil || len(got) != 0 {
			t.Fatalf("%d of %d bytes, then nothing: the edge answered %q (%v), want a close", c.sent, c.declared, got, err)
		}
		if v := metricSum(t, e, "icon_edge_client_timeouts_total", map[string]string{"phase": c.phase}); v != 1 {
			t.Fatalf("%s timeouts counted %v, want 1", c.phase, v)
		}
	}
	if v := metricSum(t, e, "icon_edge_requests_total", map[string]string{"method": "invalid"}); v != 0 {
		t.Fatalf("timeouts were counted as %v invalid calls", v)
	}
	answered(t, e)
}

// Attack 6: a connection that sends nothing (or half its headers) until the
// read timeout got a JSON-RPC 400 ParseError and was counted as a call. It is
// closed without an answer, as goloop's server does, and counted as a timeout.
func TestIdleConnectionClosedQuietly(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.Limits.ReadTimeout = 300 * time.Millisecond
	e := startEdge(t, cfg)
	for _, sent := range []string{"", "POST /api/v3 HTTP/1.1\r\nHost: ed"} {
		c := dialEdge(t, e)
		if _, err := io.WriteString(c, sent); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil || len(got) != 0 {
			t.Fatalf("after %q: the edge answered %q (%v), want a quiet close", sent, got, err)
		}
	}
	if v := metricSum(t, e, "icon_edge_client_timeouts_total", map[string]string{"phase": "request"}); v != 2 {
		t.Fatalf("request timeouts counted %v, want 2", v)
	}
	if v := metricSum(t, e, "icon_edge_requests_total", map[string]string{"method": "invalid"}); v != 0 {
		t.Fatalf("idle connections were counted as %v invalid calls", v)
	}
	answered(t, e)
}

// Bodies that arrive fast but together exceed the in-flight budget are
// refused with 503; calls that fit in the free 8 KiB are never refused.
func TestBodyBudgetRefusesPastIt(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.Limits.MaxConnsPerIP = 0
	cfg.Limits.MaxBodyBytesInFlight = 1 << 20
	cfg.Limits.BodyTimeout = time.Minute
	e := startEdge(t, cfg)
	const senders, sent = 4, 400 << 10 // 4 × 400 KiB held at once > 1 MiB
	answers := make(chan string, senders)
	for i := 0; i < senders; i++ {
		c := dialEdge(t, e)
		go func() {
			// The edge closes a refused sender while it writes; that error is expected.
			_, _ = io.WriteString(c, bodyHead(512<<10)+strings.Repeat(" ", sent))
		}()
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return // closed by the test at the end
			}
			b, _ := io.ReadAll(resp.Body)
			answers <- fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}()
	}
	select {
	case a := <-answers:
		if !strings.HasPrefix(a, "503 1 ") || !strings.Contains(a, "too many request bodies in flight") {
			t.Fatalf("first answer to concurrent large bodies: %q", a)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no sender was refused although together they exceed the budget")
	}
	if v := metricSum(t, e, "icon_edge_request_body_bytes_in_flight", nil); v > 1<<20 {
		t.Fatalf("in-flight body bytes %v exceed the budget", v)
	}
	answered(t, e) // a small call never touches the budget
}

// max_conns_per_ip has a default; past it a connection gets 429 and is
// closed; trusted proxies, which carry many clients, are exempt.
func TestConnectionsPerAddressCapped(t *testing.T) {
	if edge.Defaults().Limits.MaxConnsPerIP <= 0 {
		t.Fatal("limits.max_conns_per_ip must have a default for a public endpoint")
	}
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.Limits.MaxConnsPerIP = 3
	e := startEdge(t, cfg)
	keepAlive := func() net.Conn { // a connection the edge has accepted and keeps open
		c := dialEdge(t, e)
		if _, err := io.WriteString(c, bodyHead(len(lastBlock))+lastBlock); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return c
	}
	open := []net.Conn{keepAlive(), keepAlive(), keepAlive()}
	over := dialEdge(t, e)
	_ = over.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(over)
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 429")) || !bytes.Contains(got, []byte("too many connections from this address")) {
		t.Fatalf("4th connection from one address: %q", got)
	}
	served := func() bool {
		c, err := net.Dial("tcp", e.Addr())
		if err != nil {
			return false
		}
		defer c.Close()
		_, _ = io.WriteString(c, bodyHead(len(lastBlock))+lastBlock)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		return err == nil && resp.StatusCode == 200
	}
	open[0].Close()
	eventually(t, "a slot freed by a closed connection", served)
	// A websocket holds its slot while it lives (the bridge owns the hijacked
	// connection) and gives it back when it ends.
	var ws *websocket.Conn
	eventually(t, "a websocket in the slot the last check used", func() bool { // that check's close is noticed asynchronously
		c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.URL(), "http")+"/api/v3/icon_dex/block", nil)
		ws = c
		return err == nil
	})
	if served() {
		t.Fatal("a 4th connection was served while a websocket and two connections were open")
	}
	ws.Close()
	eventually(t, "the websocket's slot freed", served)

	cfg.RateLimit = limits(func(l *ratelimit.Config) { l.TrustedProxies = []string{"127.0.0.1"} })
	proxied := startEdge(t, cfg)
	for i := 0; i < 5; i++ {
		c, err := net.Dial("tcp", proxied.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, bodyHead(len(lastBlock))+lastBlock)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d from a trusted proxy: %v %v", i+1, resp, err)
		}
	}
}

// Attack 6: a websocket upgrade on /api/v3/block (no channel segment) is 404
// on goloop (samples/ws_no_channel_segment.jsonl); the edge answered 400.
func TestWebSocketWithoutChannelSegmentIs404(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.Channel = "icon_dex"
	e := startEdge(t, cfg)
	base := "ws" + strings.TrimPrefix(e.URL(), "http")
	for _, p := range []string{"/api/v3/block", "/api/v3/event"} {
		_, res, err := websocket.DefaultDialer.Dial(base+p, nil)
		if err == nil || res == nil || res.StatusCode != 404 {
			t.Fatalf("%s: %v %v", p, res, err)
		}
		b, _ := io.ReadAll(res.Body)
		if string(b) != "Not Found <nil>" {
			t.Fatalf("%s: body %q", p, b)
		}
	}
	c, _, err := websocket.DefaultDialer.Dial(base+"/api/v3//block", nil) // the empty channel is goloop's default
	if err != nil {
		t.Fatalf("/api/v3//block: %v", err)
	}
	c.Close()
}

// Attack 4 through the edge: one address subscribing /event with 30 distinct
// filters took every node's websocket sessions, and a new /block subscriber
// got {"code":0} and then nothing. Every subscriber now hears {"code":0} or
// goloop's -31005, nodes keep sessions free, and /block is served.
func TestWebSocketFiltersCannotTakeNodeSessions(t *testing.T) {
	sim := startSim(t, 3) // goloop's default of 10 sessions per node
	cfg := edgeConfig(sim)
	cfg.Channel = "icon_dex"
	e := startEdge(t, cfg)
	allInSync(t, e, 3)
	base := "ws" + strings.TrimPrefix(e.URL(), "http") + "/api/v3/icon_dex/"
	read := func(c *websocket.Conn) map[string]any {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var m map[string]any
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("no answer: %v", err)
		}
		return m
	}
	accepted, refused := 0, 0
	for i := 1; i <= 30; i++ {
		c, _, err := websocket.DefaultDialer.Dial(base+"event", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		first := fmt.Sprintf(`{"height":"%s","event":"Transfer(Address,Address,int)","indexed":[null,null,"0x%x"]}`, hex(sim.Height()), i)
		if err := c.WriteMessage(websocket.TextMessage, []byte(first)); err != nil {
			t.Fatal(err)
		}
		switch m := read(c); {
		case m["code"] == 0.0:
			accepted++
		case m["code"] == -31005.0 && m["message"] == "too many monitor":
			refused++
		default:
			t.Fatalf("subscription %d answered %v", i, m)
		}
	}
	if accepted == 0 || refused == 0 || accepted+refused != 30 {
		t.Fatalf("accepted %d, refused %d", accepted, refused)
	}
	tip := sim.Height()
	b, _, err := websocket.DefaultDialer.Dial(base+"block", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"height":"%s"}`, hex(tip)))); err != nil {
		t.Fatal(err)
	}
	if m := read(b); m["code"] != 0.0 {
		t.Fatalf("/block subscriber: %v", m)
	}
	if m := read(b); m["height"] != hex(tip) {
		t.Fatalf("/block subscriber got %v, want height %s", m, hex(tip))
	}
	for i := 0; i < 3; i++ {
		if s := sim.Node(i).Stats().WSSessions; s > 8 {
			t.Fatalf("node %d holds %d sessions (goloop allows 10): the edge must leave some free", i, s)
		}
	}
}

// metricSum sums the samples of a metric whose labels include want (0 when none).
func metricSum(t *testing.T, e *edge.Edge, name string, want map[string]string) float64 {
	t.Helper()
	v, _ := promtest.Sum(t, e.Registry(), name, want)
	return v
}
