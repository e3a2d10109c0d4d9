package wsbridge

import (
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A client asking for a far-future height must not park the shared hub there:
// everyone else following the head keeps getting blocks.
func TestFutureHeightDoesNotStarveTheHub(t *testing.T) {
	e := startEnv(t, 1, 50*time.Millisecond, Config{})
	parked := dial(t, e.url+"/api/v3/icon_dex/block", fmt.Sprintf(`{"height":"0x%x"}`, e.sim.Height()+100000))
	expectCode0(t, parked)
	for i := 0; i < 6; i++ {
		c := dial(t, e.url+"/api/v3/icon_dex/block", fmt.Sprintf(`{"height":"0x%x"}`, e.sim.Height()))
		expectCode0(t, c)
		readJSON(t, c) // a block arrives within readJSON's deadline
	}
}

// An unknown channel is refused at the handshake, as goloop does, and costs
// the nodes nothing.
func TestUnknownChannelRefused(t *testing.T) {
	e := startEnv(t, 1, 50*time.Millisecond, Config{DefaultChannel: "icon_dex", Channels: []string{"icon_dex"}})
	before := wsSessions(e.sim)
	_, resp, err := websocket.DefaultDialer.Dial(e.url+"/api/v3/nochannel/block", nil)
	if err == nil || resp == nil || resp.StatusCode != 404 {
		t.Fatalf("unknown channel: err %v, response %v", err, resp)
	}
	time.Sleep(100 * time.Millisecond)
	if got := wsSessions(e.sim); got != before {
		t.Fatalf("node sessions went from %d to %d for a refused channel", before, got)
	}
}
