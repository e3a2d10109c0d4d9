package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

// A dApp following blocks through the edge sees every height once, in order,
// while the node serving its subscription dies.
func TestWebSocketBlocksSurviveNodeDeath(t *testing.T) {
	sim := startSim(t, 3)
	cfg := edgeConfig(sim)
	cfg.Channel = "icon_dex"
	e := startEdge(t, cfg)
	allInSync(t, e, 3)
	start := sim.Height()
	url := "ws" + strings.TrimPrefix(e.URL(), "http") + "/api/v3/icon_dex/block"
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"height":"0x%x"}`, start))); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, first, err := conn.ReadMessage()
	if err != nil || strings.TrimSpace(string(first)) != `{"code":0}` {
		t.Fatalf("handshake answer %q %v", first, err)
	}
	next := start
	killed := 0
	for next < start+25 {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("stream broke at height %d: %v", next, err)
		}
		var n struct {
			Height string `json:"height"`
			Hash   string `json:"hash"`
		}
		if err := json.Unmarshal(msg, &n); err != nil || !strings.HasPrefix(n.Hash, "0x") {
			t.Fatalf("notification %q: %v", msg, err)
		}
		h, _ := strconv.ParseInt(strings.TrimPrefix(n.Height, "0x"), 16, 64)
		if h != next {
			t.Fatalf("got height %d, want %d (gap or duplicate)", h, next)
		}
		next++
		// Kill whichever nodes carry sessions, twice, mid-stream.
		if (next == start+6 || next == start+14) && killed < 2 {
			for i := 0; i < 3; i++ {
				if sim.Node(i).Stats().WSSessions > 0 && !sim.Node(i).Faults().Down {
					sim.Node(i).SetFaults(iconsim.Faults{Down: boolp(true)})
					killed++
					break
				}
			}
		}
	}
	if killed != 2 {
		t.Fatalf("killed %d session-carrying nodes, want 2", killed)
	}
}
