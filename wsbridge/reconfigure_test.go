package wsbridge

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A reload lowers the per-address limit: the next connection over it is
// closed with the reason, while an open one keeps its own limits (its
// message size stays what it was accepted with).
func TestReconfigureLimitsNewConnections(t *testing.T) {
	e := startEnv(t, 1, 50*time.Millisecond, Config{MaxConnsPerIP: 5, MaxMessageSize: 64})
	first := fmt.Sprintf(`{"height":"0x%x"}`, e.sim.Height())
	a := dial(t, e.url+"/api/v3/icon_dex/block", first)
	expectCode0(t, a)

	if err := e.bridge.Reconfigure(Config{MaxConnsPerIP: 1, MaxMessageSize: 1 << 10}); err != nil {
		t.Fatal(err)
	}
	second := dial(t, e.url+"/api/v3/icon_dex/block", "")
	expectClose(t, second, websocket.CloseTryAgainLater, "too many connections from this address")

	// a was accepted with max_message_size 64: a larger message still closes it.
	_ = a.WriteMessage(websocket.TextMessage, []byte(`{"x":"`+strings.Repeat("a", 100)+`"}`))
	expectClose(t, a, websocket.CloseMessageTooBig, "message too big")

	if err := e.bridge.Reconfigure(Config{PingInterval: time.Second, IdleTimeout: time.Second}); err == nil {
		t.Fatal("idle_timeout not above ping_interval accepted")
	}
	if got := e.bridge.conns.Load().MaxConnsPerIP; got != 1 {
		t.Fatalf("a rejected reload changed the limits: max_conns_per_ip %d", got)
	}
}
