package e2e

import (
	"net/http"
	"testing"

	"github.com/icon-edge/icon-edge/ratelimit"
)

// Behind a trusted proxy (here: the loopback peer), clients are told apart by
// X-Forwarded-For; one client over its budget gets 429 at once while another
// is served.
func TestClientOverLimitGets429OthersUnaffected(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.RateLimit = &ratelimit.Config{Enabled: true, RequestsPerSecond: 1, Burst: 5, TrustedProxies: []string{"127.0.0.1/32"}}
	e := startEdge(t, cfg)
	body := `{"jsonrpc":"2.0","id":"x","method":"icx_getLastBlock"}`
	var limited reply
	for i := 0; i < 20; i++ {
		r := post(t, e.URL()+"/api/v3", body, "X-Forwarded-For", "203.0.113.7")
		if r.status == http.StatusTooManyRequests {
			limited = r
			break
		}
	}
	if limited.status != http.StatusTooManyRequests {
		t.Fatal("a client sending 20 calls against a burst of 5 was never limited")
	}
	if limited.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	if a := decode(t, limited.body); a.Error == nil || string(a.ID) != `"x"` {
		t.Fatalf("429 body: %s", limited.body)
	}
	if r := post(t, e.URL()+"/api/v3", body, "X-Forwarded-For", "198.51.100.9"); r.status != 200 {
		t.Fatalf("another client got %d: %s", r.status, r.body)
	}
}
