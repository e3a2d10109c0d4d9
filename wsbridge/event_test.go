package wsbridge

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/icon-edge/icon-edge/test/iconsim"
	"github.com/valyala/fasthttp"
)

// readUntil collects raw messages until one whose progress/height reaches h.
func readUntil(t *testing.T, c *websocket.Conn, h int64) []string {
	t.Helper()
	var out []string
	for {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read after %d messages: %v", len(out), err)
		}
		out = append(out, string(b))
		if bytes.Contains(b, []byte(`"progress"`)) {
			var m = map[string]any{}
			m["progress"] = strings.Trim(strings.TrimPrefix(strings.TrimSpace(string(b)), `{"progress":`), `"}`)
			if hexHeight(t, m, "progress") >= h {
				return out
			}
		}
	}
}

// The bridge's event stream equals the node's own for the same request,
// with the client's progressInterval, across a failover.
func TestEventFiltersMatchNode(t *testing.T) {
	e := startEnv(t, 2, 50*time.Millisecond, Config{SyncCheckInterval: 50 * time.Millisecond})
	start := e.sim.Height()
	req := fmt.Sprintf(`{"height":"0x%x","eventFilters":[{"addr":%q,"event":"Transfer(Address,Address,int)","indexed":[null,%q]}],"logs":"0x1","progressInterval":"0x3"}`,
		start, iconsim.TokenAddress, iconsim.Dev2Address)
	viaBridge := dial(t, e.url+"/api/v3/icon_dex/event", req)
	expectCode0(t, viaBridge)
	for i := 0; i < 6; i++ {
		to := iconsim.TreasuryAddress // filtered out by the indexed filter
		if i%2 == 0 {
			to = iconsim.Dev2Address
		}
		sendTokenTransfer(t, e.sim, to, fmt.Sprintf("0x%x", i+1))
		if i == 3 { // fail over mid-way
			for n := 0; n < e.sim.Nodes(); n++ {
				if e.sim.Node(n).Stats().WSSessions > 0 {
					e.sim.Node(n).SetFaults(iconsim.Faults{Down: ptr(true)})
					break
				}
			}
		}
		time.Sleep(60 * time.Millisecond)
	}
	end := e.sim.Height() + 3
	end -= (end - start) % 3
	got := readUntil(t, viaBridge, end)
	var alive string
	for n := 0; n < e.sim.Nodes(); n++ {
		if !e.sim.Node(n).Stats().Faults.Down {
			alive = e.sim.URLs()[n]
		}
	}
	direct := dial(t, "ws"+strings.TrimPrefix(alive, "http")+"/api/v3/icon_dex/event", req)
	expectCode0(t, direct)
	want := readUntil(t, direct, end)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("bridge stream differs from node's:\n%s\n--- want\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	events := 0
	for _, m := range want {
		if strings.Contains(m, `"events"`) {
			events++
		}
	}
	if events != 3 {
		t.Fatalf("%d event notifications, want 3 (transfers to Dev2)", events)
	}
}

// The path the edge uses: fasthttp server, hijack, internal net/http.
func TestFastHTTPHijackPath(t *testing.T) {
	e := startEnv(t, 1, 50*time.Millisecond, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{KeepHijackedConns: true, Handler: func(ctx *fasthttp.RequestCtx) {
		if e.bridge.IsWebSocket(ctx) {
			e.bridge.HandleFastHTTP(ctx)
			return
		}
		ctx.SetStatusCode(418)
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	base := "ws://" + ln.Addr().String()
	tip := e.sim.Height()
	c := dial(t, base+"/api/v3/icon_dex/block", fmt.Sprintf(`{"height":"0x%x"}`, tip))
	expectCode0(t, c)
	readHeights(t, c, tip, tip+3, nil)
	bad := dial(t, base+"/api/v3//block", `{"height":"0x1","foo":1}`)
	if m := readJSON(t, bad); m["code"] != -32700.0 {
		t.Fatalf("bad first message via fasthttp: %v", m)
	}
	if _, res, err := websocket.DefaultDialer.Dial(base+"/api/v3/block", nil); err == nil || res.StatusCode != 418 {
		t.Fatalf("non-websocket path reached the bridge: %v %v", err, res)
	}
	c.Close()
	deadline := time.Now().Add(3 * time.Second)
	for counter(e.bridge.metrics.conns) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("connection gauge never returned to 0 after the client left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
