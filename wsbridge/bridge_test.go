package wsbridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

// readHeights reads block notifications until height `until`, failing on a
// gap, a duplicate or disorder.
func readHeights(t *testing.T, c *websocket.Conn, from, until int64, during func(h int64)) {
	t.Helper()
	for want := from; want <= until; want++ {
		m := readJSON(t, c)
		if h := hexHeight(t, m, "height"); h != want {
			t.Fatalf("got height %d, want %d (%v)", h, want, m)
		}
		if during != nil {
			during(want)
		}
	}
}

func TestBlocksFromRecentAndOldHeights(t *testing.T) {
	e := startEnv(t, 2, 50*time.Millisecond, Config{})
	tip := e.sim.Height()
	live := dial(t, e.url+"/api/v3/icon_dex/block", fmt.Sprintf(`{"height":"0x%x"}`, tip))
	expectCode0(t, live)
	readHeights(t, live, tip, tip+3, nil)
	// Far behind the hub: served from its own session, then joins the hub.
	old := dial(t, e.url+"/api/v3//block", `{"height":1}`)
	expectCode0(t, old)
	readHeights(t, old, 1, e.sim.Height()+5, nil)
}

func TestFailoverKillNodeMidStream(t *testing.T) {
	e := startEnv(t, 3, 50*time.Millisecond, Config{SyncCheckInterval: 50 * time.Millisecond})
	start := e.sim.Height()
	c := dial(t, e.url+"/api/v3/icon_dex/block", fmt.Sprintf(`{"height":"0x%x"}`, start))
	expectCode0(t, c)
	killed := 0
	readHeights(t, c, start, start+40, func(h int64) {
		if (h-start)%12 != 5 || killed == 2 {
			return
		}
		for i := 0; i < e.sim.Nodes(); i++ { // kill whichever node carries the hub
			if e.sim.Node(i).Stats().WSSessions > 0 {
				e.sim.Node(i).SetFaults(iconsim.Faults{Down: ptr(true)})
				killed++
				return
			}
		}
	})
	if killed != 2 {
		t.Fatalf("killed %d upstream nodes, want 2", killed)
	}
	if n := counter(e.bridge.metrics.resubscriptions); n < 2 {
		t.Fatalf("resubscriptions %v, want >= 2", n)
	}
}

func TestBadFirstMessagesGetGoloopAnswers(t *testing.T) {
	e := startEnv(t, 1, 50*time.Millisecond, Config{})
	cases := []struct{ path, msg, want string }{
		{"/api/v3/icon_dex/block", `{"height":"0x1",`, `{"code":-32700,"message":"bad event request"}`},
		{"/api/v3/icon_dex/block", `{"height":"0x1","foo":1}`, `{"code":-32700,"message":"bad event request"}`},
		{"/api/v3/icon_dex/block", `{"height":"-0x1"}`, `{"code":-32602,"message":"given height(-1) is lower than genesis height(0)"}`},
		{"/api/v3/icon_dex/event", `{"height":"0x13b"}`, `{"code":-32602,"message":"bad event request parameter"}`},
		{"/api/v3/icon_dex/block", `{"height":"0x01"}`, `{"code":-32602,"message":"bad event request parameter"}`},
		{"/api/v3/icon_dex/block", `{"height":"0x1","event":"Transfer(Address,Address,int)"}`, `{"code":-32700,"message":"bad event request"}`},
		{"/api/v3/icon_dex/event", `{"height":"0x1","eventFilters":[{"addr":"cxZZ","event":"E()"}]}`, `{"code":-32602,"message":"bad event request parameter"}`},
	}
	for _, tc := range cases {
		// The node's own answer is the reference, then the bridge's must equal it.
		for _, url := range []string{"ws" + strings.TrimPrefix(e.sim.URLs()[0], "http"), e.url} {
			c := dial(t, url+tc.path, tc.msg)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, b, err := c.ReadMessage()
			if err != nil || strings.TrimSpace(string(b)) != tc.want {
				t.Fatalf("%s %s at %s: got %s %v, want %s", tc.path, tc.msg, url, b, err, tc.want)
			}
			_, _, err = c.ReadMessage() // then the socket drops, without a close frame
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.CloseAbnormalClosure {
				t.Fatalf("%s after error answer: %v, want abnormal closure", url, err)
			}
		}
	}
	if n := e.bridge.hubCount(); n != 0 {
		t.Fatalf("%d hubs for rejected requests", n)
	}
}

func TestUnknownPathsAre404(t *testing.T) {
	e := startEnv(t, 1, 50*time.Millisecond, Config{Channels: []string{"icon_dex"}})
	for _, p := range []string{"/api/v3/block", "/api/v3/nosuch/block", "/api/v3/icon_dex/btp"} {
		_, res, err := websocket.DefaultDialer.Dial(e.url+p, nil)
		if err == nil || res == nil || res.StatusCode != 404 {
			t.Fatalf("%s: %v %v, want 404", p, err, res)
		}
	}
}

func TestThousandSubscribersShareUpstream(t *testing.T) {
	e := startEnv(t, 2, 50*time.Millisecond, Config{MaxConnsPerIP: 2000})
	const n = 1000
	conns := make([]*websocket.Conn, n)
	tip := e.sim.Height()
	first := fmt.Sprintf(`{"height":"0x%x"}`, tip)
	for i := range conns {
		conns[i] = dial(t, e.url+"/api/v3/icon_dex/block", first)
	}
	target := tip + 3
	for _, c := range conns {
		expectCode0(t, c)
	}
	for _, c := range conns { // everyone gets every height, in order
		for want := tip; want <= target; want++ {
			if h := hexHeight(t, readJSON(t, c), "height"); h != want {
				t.Fatalf("height %d, want %d", h, want)
			}
		}
	}
	// Counted at the nodes, which update it as sessions come and go: on a
	// busy machine a hub may be between sessions for a moment.
	deadline := time.Now().Add(10 * time.Second)
	for s := wsSessions(e.sim); s < 1 || s > 2; s = wsSessions(e.sim) {
		if time.Now().After(deadline) {
			t.Fatalf("%d upstream sessions at the nodes for %d subscribers, want 1..2", s, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if g := counter(e.bridge.metrics.conns); g != n {
		t.Fatalf("connections gauge %v", g)
	}
}

func TestSlowReaderCutOffFastOneKeepsUp(t *testing.T) {
	// Blocks every 25ms and a queue of 4: a reader that reads keeps up even
	// on a busy machine; one that never reads fills it within seconds.
	e := startEnv(t, 1, 25*time.Millisecond, Config{SendQueue: 4, SocketSendBuffer: 4096})
	tip := e.sim.Height()
	first := fmt.Sprintf(`{"height":"0x%x","eventFilters":[{"event":"Transfer(Address,Address,int)"}]}`, tip)
	d := websocket.Dialer{NetDial: nil, ReadBufferSize: 512}
	slow, _, err := d.Dial(e.url+"/api/v3/icon_dex/block", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if tc, ok := slow.NetConn().(interface{ SetReadBuffer(int) error }); ok {
		_ = tc.SetReadBuffer(4096)
	}
	_ = slow.WriteMessage(websocket.TextMessage, []byte(first))
	fast := dial(t, e.url+"/api/v3/icon_dex/block", first)
	expectCode0(t, fast)
	want := tip
	deadline := time.Now().Add(20 * time.Second)
	for counter(e.bridge.metrics.slow) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("slow reader was never cut off")
		}
		if h := hexHeight(t, readJSON(t, fast), "height"); h != want {
			t.Fatalf("fast reader: height %d, want %d", h, want)
		}
		want++
	}
	// The slow one drains what was buffered from now on (its writer has a
	// second to finish the write it is stuck in), and then finds a close
	// frame with a reason.
	slowEnd := make(chan error, 1)
	go func() {
		_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, _, err := slow.ReadMessage(); err != nil {
				slowEnd <- err
				return
			}
		}
	}()
	readHeights(t, fast, want, want+20, nil) // the fast one goes on
	err = <-slowEnd
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, "slow") {
		t.Fatalf("slow reader ended with %v, want 1008 with a reason", err)
	}
}

func TestLimitsCloseWithReasons(t *testing.T) {
	e := startEnv(t, 1, 50*time.Millisecond, Config{MaxConnsPerIP: 2, MaxMessageSize: 64, MaxSubscriptionsPerConn: 2})
	first := fmt.Sprintf(`{"height":"0x%x"}`, e.sim.Height())
	a := dial(t, e.url+"/api/v3/icon_dex/block", first)
	expectCode0(t, a)
	b := dial(t, e.url+"/api/v3/icon_dex/block", first)
	expectCode0(t, b)
	third := dial(t, e.url+"/api/v3/icon_dex/block", "")
	expectClose(t, third, websocket.CloseTryAgainLater, "too many connections")

	// A later message is ignored as goloop does; past the limit it closes.
	_ = b.WriteMessage(websocket.TextMessage, []byte(first))
	_ = b.WriteMessage(websocket.TextMessage, []byte(first))
	expectClose(t, b, websocket.ClosePolicyViolation, "too many subscription")

	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(5 * time.Millisecond) { // b's slot is freed
		e.bridge.mu.Lock()
		n := e.bridge.perIP["127.0.0.1"]
		e.bridge.mu.Unlock()
		if n < 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("per-IP count stuck at %d", n)
		}
	}
	big := dial(t, e.url+"/api/v3/icon_dex/block", `{"height":"0x1","eventFilters":[{"event":"`+strings.Repeat("x", 100)+`"}]}`)
	expectClose(t, big, websocket.CloseMessageTooBig, "too big")
	readJSON(t, a) // unaffected
}

func TestIdleClientClosed(t *testing.T) {
	e := startEnv(t, 1, 50*time.Millisecond, Config{PingInterval: 50 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})
	first := fmt.Sprintf(`{"height":"0x%x"}`, e.sim.Height())
	alive := dial(t, e.url+"/api/v3/icon_dex/block", first) // answers pings while it reads
	expectCode0(t, alive)
	res := make(chan error, 1)
	go func() { // reading lets gorilla answer the pings
		var last int64 = -1
		for end := time.Now().Add(800 * time.Millisecond); time.Now().Before(end); {
			_ = alive.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, b, err := alive.ReadMessage()
			if err != nil {
				res <- err
				return
			}
			var m struct{ Height string }
			_ = json.Unmarshal(b, &m)
			h, _ := icon.ParseHexInt(m.Height)
			if last >= 0 && h != last+1 {
				res <- fmt.Errorf("height %d after %d", h, last)
				return
			}
			last = h
		}
		res <- nil
	}()
	mute := dial(t, e.url+"/api/v3/icon_dex/block", first)
	mute.SetPingHandler(func(string) error { return nil }) // never pongs
	expectClose(t, mute, websocket.CloseGoingAway, "idle")
	if err := <-res; err != nil {
		t.Fatalf("client answering pings: %v", err)
	}
}

func expectClose(t *testing.T, c *websocket.Conn, code int, reason string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code || !strings.Contains(ce.Text, reason) {
			t.Fatalf("got %v, want close %d %q", err, code, reason)
		}
		return
	}
}
