package wsbridge

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

// subscribeAll sends each first message on its own connection and sorts the
// answers: every client must hear {"code":0} or goloop's -31005, never
// nothing.
func subscribeAll(t *testing.T, url string, firsts []string) (accepted []*websocket.Conn, refused int) {
	t.Helper()
	for _, first := range firsts {
		c := dial(t, url, first)
		m := readJSON(t, c)
		switch {
		case m["code"] == 0.0 && len(m) == 1:
			accepted = append(accepted, c)
		case m["code"] == -31005.0 && m["message"] == "too many monitor":
			refused++
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseAbnormalClosure) {
				t.Fatalf("after -31005: want a drop without close frame as goloop does, got %v", err)
			}
		default:
			t.Fatalf("%s: answered %v", first, m)
		}
	}
	return accepted, refused
}

func allInSync(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := 0
		for _, nd := range e.pool.Nodes() {
			if e.pool.InSync(nd) {
				n++
			}
		}
		if n == e.sim.Nodes() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d nodes in sync", n, e.sim.Nodes())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func maxNodeSessions(sim *iconsim.Cluster) int64 {
	var m int64
	for i := 0; i < sim.Nodes(); i++ {
		m = max(m, sim.Node(i).Stats().WSSessions)
	}
	return m
}

// blockStillServed checks a new /block subscriber gets blocks.
func blockStillServed(t *testing.T, e *env) {
	t.Helper()
	tip := e.sim.Height()
	c := dial(t, e.url+"/api/v3/icon_dex/block", fmt.Sprintf(`{"height":"0x%x"}`, tip))
	expectCode0(t, c)
	readHeights(t, c, tip, tip+2, nil)
}

// Attack 4: one address subscribing /event with 30 distinct filters made the
// bridge open 30 node sessions, exhausting goloop's 10 on every node; a new
// /block subscriber then got {"code":0} and nothing. Filters the bridge can
// match share one session; past the per-address limit the client is told
// -31005; /block keeps working.
func TestDistinctEventFiltersShareOneSession(t *testing.T) {
	e := startEnv(t, 3, 50*time.Millisecond, Config{})
	allInSync(t, e)
	var firsts []string
	for i := 1; i <= 30; i++ { // Transfer events of value i
		firsts = append(firsts, fmt.Sprintf(`{"height":"0x%x","event":"Transfer(Address,Address,int)","indexed":[null,null,"0x%x"]}`,
			e.sim.Height(), i))
	}
	accepted, refused := subscribeAll(t, e.url+"/api/v3/icon_dex/event", firsts)
	if len(accepted) != 8 || refused != 22 {
		t.Fatalf("accepted %d, refused %d; want 8 (max_filter_sets_per_ip) and 22", len(accepted), refused)
	}
	blockStillServed(t, e)
	if s := wsSessions(e.sim); s > 2 {
		t.Fatalf("%d node sessions for 8 filter sets and /block, want one shared event session and the block hub", s)
	}
	if got := counter(e.bridge.metrics.refused.WithLabelValues(refusedPerIP)); got != 22 {
		t.Fatalf("refusals counted %v", got)
	}
}

// Filters the bridge cannot match itself take a session each: they are
// admitted only while the nodes have sessions for them (below goloop's
// limit, with a slot per node kept for /block), the rest are told -31005.
func TestDedicatedSessionsCappedPerNode(t *testing.T) {
	e := startEnv(t, 3, 50*time.Millisecond, Config{MaxFilterSetsPerIP: 100})
	allInSync(t, e)
	var firsts []string
	for i := 1; i <= 30; i++ { // a leading zero: a node normalizes it, so the bridge does not share it
		firsts = append(firsts, fmt.Sprintf(`{"height":"0x%x","event":"Transfer(Address,Address,int)","indexed":[null,null,"0x0%x"]}`,
			e.sim.Height(), i))
	}
	accepted, refused := subscribeAll(t, e.url+"/api/v3/icon_dex/event", firsts)
	capacity := 3*(8-1) - 4 // nodes × (sessions − /block slot) − backlog catch-ups
	if len(accepted) != capacity || refused != 30-capacity {
		t.Fatalf("accepted %d, refused %d; want %d and %d", len(accepted), refused, capacity, 30-capacity)
	}
	deadline := time.Now().Add(5 * time.Second)
	for wsSessions(e.sim) < int64(capacity) { // every accepted subscription gets its session
		if time.Now().After(deadline) {
			t.Fatalf("%d node sessions for %d accepted subscriptions", wsSessions(e.sim), capacity)
		}
		time.Sleep(10 * time.Millisecond)
	}
	blockStillServed(t, e)
	if m := maxNodeSessions(e.sim); m > 8 {
		t.Fatalf("a node holds %d sessions of the bridge, want at most 8 (goloop allows 10)", m)
	}
}

// Hubs no client uses linger (so reconnecting clients find them), but never
// keep new subscriptions out: the limits count live clients.
func TestIdleHubsDoNotHoldCapacity(t *testing.T) {
	e := startEnv(t, 1, 50*time.Millisecond, Config{MaxFilterSetsPerIP: 100, HubLinger: time.Minute})
	capacity := 8 - 1 - 4
	sub := func(i int) string {
		return fmt.Sprintf(`{"height":"0x%x","event":"Transfer(Address,Address,int)","indexed":[null,null,"0x0%x"]}`, e.sim.Height(), i)
	}
	var firsts []string
	for i := 1; i <= capacity; i++ {
		firsts = append(firsts, sub(i))
	}
	accepted, _ := subscribeAll(t, e.url+"/api/v3/icon_dex/event", firsts)
	if len(accepted) != capacity {
		t.Fatalf("accepted %d of %d", len(accepted), capacity)
	}
	for _, c := range accepted {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.bridge.mu.Lock()
		left := len(e.bridge.keyRefs)
		e.bridge.mu.Unlock()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions still counted after their clients left", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
	firsts = firsts[:0]
	for i := capacity + 1; i <= 2*capacity; i++ {
		firsts = append(firsts, sub(i))
	}
	if again, refused := subscribeAll(t, e.url+"/api/v3/icon_dex/event", firsts); len(again) != capacity || refused != 0 {
		t.Fatalf("after the first clients left: accepted %d, refused %d", len(again), refused)
	}
}

// Clients with different filters and logs choices on one shared session each
// get exactly the stream a node sends them for their own request.
func TestSharedFeedStreamsMatchNode(t *testing.T) {
	e := startEnv(t, 2, 50*time.Millisecond, Config{SyncCheckInterval: 50 * time.Millisecond})
	start := e.sim.Height()
	reqs := []string{
		fmt.Sprintf(`{"height":"0x%x","eventFilters":[{"addr":%q,"event":"Transfer(Address,Address,int)","indexed":[null,%q]}],"logs":"0x1","progressInterval":"0x1"}`,
			start, iconsim.TokenAddress, iconsim.Dev2Address),
		fmt.Sprintf(`{"height":"0x%x","event":"Transfer(Address,Address,int)","progressInterval":"0x2"}`, start),
		fmt.Sprintf(`{"height":"0x%x","eventFilters":[{"event":"Transfer(Address,Address,int)","indexed":[null,%q]},{"event":"ICXTransfer(Address,Address,int)"}],"logs":"0x1","progressInterval":"0x3"}`,
			start, iconsim.TreasuryAddress),
	}
	conns := make([]*websocket.Conn, len(reqs))
	for i, r := range reqs {
		conns[i] = dial(t, e.url+"/api/v3/icon_dex/event", r)
		expectCode0(t, conns[i])
	}
	for i := 0; i < 6; i++ {
		to := iconsim.TreasuryAddress
		if i%2 == 0 {
			to = iconsim.Dev2Address
		}
		sendTokenTransfer(t, e.sim, to, fmt.Sprintf("0x%x", i+1))
		if i == 3 { // fail over mid-way: the shared session moves, nobody loses an event
			for n := 0; n < e.sim.Nodes(); n++ {
				if e.sim.Node(n).Stats().WSSessions > 0 {
					e.sim.Node(n).SetFaults(iconsim.Faults{Down: ptr(true)})
					break
				}
			}
		}
		waitHeight(t, e, e.sim.Height()+1)
	}
	deadline := time.Now().Add(5 * time.Second)
	for wsSessions(e.sim) != 1 { // a node frees a session just after the bridge leaves it
		if time.Now().After(deadline) {
			t.Fatalf("%d node sessions for three event subscriptions, want one shared", wsSessions(e.sim))
		}
		time.Sleep(10 * time.Millisecond)
	}
	end := e.sim.Height() + 6
	end -= (end - start) % 6 // a progress message of every client's interval
	var alive string
	for n := 0; n < e.sim.Nodes(); n++ {
		if !e.sim.Node(n).Stats().Faults.Down {
			alive = e.sim.URLs()[n]
		}
	}
	events := 0
	for i, r := range reqs {
		got := readUntil(t, conns[i], end)
		direct := dial(t, "ws"+strings.TrimPrefix(alive, "http")+"/api/v3/icon_dex/event", r)
		expectCode0(t, direct)
		want := readUntil(t, direct, end)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("client %d: bridge stream differs from node's:\n%s\n--- want\n%s", i, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, m := range want {
			if strings.Contains(m, `"events"`) {
				events++
			}
		}
	}
	if events < 6 {
		t.Fatalf("only %d event notifications in all streams: the test did not exercise filtering", events)
	}
}

func waitHeight(t *testing.T, e *env, h int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.sim.Height() < h {
		if time.Now().After(deadline) {
			t.Fatalf("chain stuck below %d", h)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
