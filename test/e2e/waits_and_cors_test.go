package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

const unknownTx = "0xcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"

// A client's absurd wait timeout is capped, not turned into an expired
// deadline that books failures against healthy nodes.
func TestHugeWaitTimeoutCannotEjectNodes(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.Limits.MaxWaitTimeout = 300 * time.Millisecond
	e := startEdge(t, cfg)
	for i := 0; i < 5; i++ {
		r := post(t, e.URL()+"/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_waitTransactionResult","params":{"txHash":"`+unknownTx+`"}}`,
			"Icon-Options", "timeout=10000000000000")
		if a := decode(t, r.body); a.Error == nil || a.Error.Code == -32000 {
			t.Fatalf("wait %d: the node's answer did not arrive: %d %s", i, r.status, r.body)
		}
	}
	if got := sim.Node(0).Stats().Methods["icx_waitTransactionResult"]; got != 5 {
		t.Fatalf("node saw %d of 5 waits", got)
	}
	if !e.Pool().InSync(e.Pool().Nodes()[0]) {
		t.Fatal("waits made the node look broken")
	}
	if a := call(t, e.URL()+"/api/v3", "icx_getTotalSupply", nil); a.Error != nil {
		t.Fatal(a.Error.Message)
	}
}

// A wait inside a batch gets its own deadline; the quick reads beside it are
// not held to (or failed by) it, and the node's wait does not count as slowness.
func TestBatchWithWaitAndQuickRead(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.Limits.AttemptTimeout = 200 * time.Millisecond
	e := startEdge(t, cfg)
	r := post(t, e.URL()+"/api/v3", `[{"jsonrpc":"2.0","id":"w","method":"icx_waitTransactionResult","params":{"txHash":"`+unknownTx+`"}},`+
		`{"jsonrpc":"2.0","id":"q","method":"icx_getTotalSupply"}]`, "Icon-Options", "timeout=600")
	var answers []rpcAnswer
	if err := json.Unmarshal(r.body, &answers); err != nil || len(answers) != 2 {
		t.Fatalf("batch answer %d %s", r.status, r.body)
	}
	if string(answers[0].ID) != `"w"` || answers[0].Error == nil || answers[0].Error.Code == -32000 {
		t.Fatalf("wait item: %s", r.body)
	}
	if string(answers[1].ID) != `"q"` || answers[1].Error != nil {
		t.Fatalf("quick read: %s", r.body)
	}
	if lat := e.Pool().Nodes()[0].Latency(); lat > 100*time.Millisecond {
		t.Fatalf("a 600ms wait pushed the node's latency estimate to %v", lat)
	}
}

// Browser dApps read every answer: cached, uncached, batch or edge-made.
func TestEveryAnswerAllowsBrowsers(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.Cache.Enabled = true
	e := startEdge(t, cfg)
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"icx_getTotalSupply"}`,
		`{"jsonrpc":"2.0","id":1,"method":"icx_getTotalSupply"}`, // now from the head cache
		`{"jsonrpc":"2.0","id":1,"method":"icx_getBlockByHeight","params":{"height":"0x0"}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}]`,
		`{"jsonrpc":"2.0","id":1,"method":"nope"}`,
		`not json`,
	} {
		r := post(t, e.URL()+"/api/v3", body, "Origin", "https://dapp.example")
		if r.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: answer %d without Access-Control-Allow-Origin", body, r.status)
		}
	}
	r := post(t, e.URL()+"/api/v3/nochannel", `{"jsonrpc":"2.0","id":1,"method":"icx_getTotalSupply"}`)
	if r.status != http.StatusNotFound || strings.TrimSpace(string(r.body)) != "No channel" {
		t.Fatalf("unknown channel through the cache path: %d %q", r.status, r.body)
	}
}
