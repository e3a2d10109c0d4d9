package e2e

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/icon-edge/icon-edge/ratelimit"
)

// Behind a trusted proxy (here: the loopback peer), clients are told apart by
// X-Forwarded-For; one client over its budget gets 429 at once while another
// is served.
func TestClientOverLimitGets429OthersUnaffected(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.RateLimit = limits(func(l *ratelimit.Config) {
		l.Enabled, l.RequestsPerSecond, l.Burst, l.TrustedProxies = true, 1, 5, []string{"127.0.0.1/32"}
	})
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

// A node's request-rate cap protects it: excess calls wait briefly, then are
// shed with 503 instead of piling onto the node.
func TestNodeRateCapShedsExcess(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.Limits.NodeMaxRPS = 50
	cfg.Limits.NodeMaxWait = 20 * time.Millisecond
	e := startEdge(t, cfg)
	var ok, shed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for i := 0; i < 25; i++ {
				r := post(t, e.URL()+"/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_getTotalSupply"}`)
				switch r.status {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusServiceUnavailable:
					shed.Add(1)
				default:
					t.Errorf("unexpected %d %s", r.status, r.body)
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if shed.Load() == 0 {
		t.Fatalf("200 calls in %v against a 50/s cap: none shed", took)
	}
	served := sim.Node(0).Stats().Methods["icx_getTotalSupply"]
	if limit := int64(50*took.Seconds()) + 10; served > limit {
		t.Fatalf("node served %d calls in %v, over its cap (%d)", served, took, limit)
	}
	resp, err := client.Get(e.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "icon_edge_upstream_shed_total{upstream=") {
		t.Fatal("no icon_edge_upstream_shed_total on /metrics")
	}
}

// A proxy that appends its own X-Forwarded-For line must not let the client's
// forged first line decide who the client is.
func TestForgedForwardedForLineIsNotBelieved(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.RateLimit = limits(func(l *ratelimit.Config) {
		l.TrustedProxies, l.Deny = []string{"127.0.0.1/32"}, []string{"203.0.113.9/32"}
	})
	e := startEdge(t, cfg)
	req, _ := http.NewRequest(http.MethodPost, e.URL()+"/api/v3", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`))
	req.Header.Add("X-Forwarded-For", "198.51.100.1") // the client's forgery
	req.Header.Add("X-Forwarded-For", "203.0.113.9")  // what the proxy saw
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("denied client behind a forged header line got %d", resp.StatusCode)
	}
}

// Access control covers websocket handshakes too.
func TestDeniedClientCannotSubscribe(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.RateLimit = limits(func(l *ratelimit.Config) { l.Deny = []string{"127.0.0.0/8"} })
	e := startEdge(t, cfg)
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.URL(), "http")+"/api/v3/icon_dex/block", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("denied client's websocket: err %v, response %v", err, resp)
	}
}
