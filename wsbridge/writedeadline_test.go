package wsbridge

import (
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// write_timeout bounds one write to a subscriber; it must not become a
// deadline for the whole subscription. Blocks every 50 ms for well past a
// 200 ms write timeout: every one must arrive.
func TestWriteTimeoutIsPerWriteNotPerSubscription(t *testing.T) {
	e := startEnv(t, 1, 50*time.Millisecond, Config{WriteTimeout: 200 * time.Millisecond})
	tip := e.sim.Height()
	c := dial(t, e.url+"/api/v3/icon_dex/block", fmt.Sprintf(`{"height":"0x%x"}`, tip))
	expectCode0(t, c)
	readHeights(t, c, tip, tip+30, nil) // 1.5 s of blocks
}

// A subscriber that pauses long enough for its socket to fill is caught up
// with blocking writes (bounded by write_timeout); once it has caught up,
// the non-blocking writes that follow must not inherit that bound. Small
// socket buffers on both ends, a block every 5 ms (notifications of about
// 100 bytes), a one-second pause, then reading on for 5 s, well past the 2 s
// write timeout after the catch-up ends: every block arrives.
func TestCaughtUpSubscriberKeepsReceiving(t *testing.T) {
	e := startEnv(t, 1, 5*time.Millisecond, Config{WriteTimeout: 2 * time.Second, SocketSendBuffer: 4096})
	tip := e.sim.Height()
	d := websocket.Dialer{ReadBufferSize: 512}
	c, _, err := d.Dial(e.url+"/api/v3/icon_dex/block", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if tc, ok := c.NetConn().(interface{ SetReadBuffer(int) error }); ok {
		_ = tc.SetReadBuffer(4096)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"height":"0x%x"}`, tip))); err != nil {
		t.Fatal(err)
	}
	expectCode0(t, c)
	time.Sleep(time.Second) // about 200 notifications pile up: more than both socket buffers hold
	start := time.Now()
	want := tip
	for time.Since(start) < 5*time.Second {
		if h := hexHeight(t, readJSON(t, c), "height"); h != want {
			t.Fatalf("got height %d, want %d", h, want)
		}
		want++
	}
}
