package e2e

import (
	"math/big"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

func TestLaggingNodeGetsNoLatestStateReads(t *testing.T) {
	sim := startSim(t, 3)
	sim.Node(2).SetFaults(iconsim.Faults{LagBlocks: int64p(6)})
	e := startEdge(t, edgeConfig(sim))
	eventually(t, "lagging node known out of sync", func() bool {
		for _, n := range e.Pool().Nodes() {
			if n.URL() == sim.Node(2).URL() {
				return n.Height() >= 0 && !e.Pool().InSync(n)
			}
		}
		return false
	})
	before := stats(sim.Node(2)).Methods
	api := e.URL() + "/api/v3"
	for i := 0; i < 60; i++ {
		for _, m := range []string{"icx_getLastBlock", "icx_getTotalSupply"} {
			if a := call(t, api, m, nil); a.Error != nil {
				t.Fatalf("%s failed: %+v", m, a.Error)
			}
		}
		if a := call(t, api, "icx_getBalance", map[string]string{"address": iconsim.DevAddress}); a.Error != nil {
			t.Fatalf("getBalance failed: %+v", a.Error)
		}
	}
	after := stats(sim.Node(2)).Methods
	for _, m := range []string{"icx_getTotalSupply", "icx_getBalance"} {
		if after[m] != before[m] {
			t.Errorf("lagging node served %d latest-state %s reads", after[m]-before[m], m)
		}
	}
	// Probes are icx_getLastBlock too: the edge's probes are the only ones allowed.
	served := stats(sim.Node(0)).Methods["icx_getTotalSupply"] + stats(sim.Node(1)).Methods["icx_getTotalSupply"]
	if served < 60 {
		t.Errorf("in-sync nodes served %d getTotalSupply, want 60", served)
	}
}

func TestPinnedReadNeverReachesLowerNode(t *testing.T) {
	sim := startSim(t, 2)
	sim.Node(1).SetFaults(iconsim.Faults{Stall: boolp(true)})
	e := startEdge(t, edgeConfig(sim))
	stalled := sim.Node(1).Height()
	if err := sim.WaitHeight(ctxT(t), stalled+4); err != nil {
		t.Fatal(err)
	}
	eventually(t, "edge sees node 0 ahead", func() bool { return e.Pool().Tip() >= stalled+4 })
	before := stats(sim.Node(1)).Methods["icx_getBlockByHeight"]
	for i := 0; i < 40; i++ {
		h := stalled + 1 + int64(i%3)
		a := call(t, e.URL()+"/api/v3/icon_dex", "icx_getBlockByHeight", map[string]string{"height": hex(h)})
		if a.Error != nil {
			t.Fatalf("block %d: %+v", h, a.Error)
		}
	}
	if got := stats(sim.Node(1)).Methods["icx_getBlockByHeight"] - before; got != 0 {
		t.Fatalf("node stalled at %d served %d reads pinned above its height", stalled, got)
	}
	// Old blocks may still be read anywhere; make sure the stalled node is not simply excluded.
	if a := call(t, e.URL()+"/api/v3", "icx_getBlockByHeight", map[string]string{"height": hex(stalled)}); a.Error != nil {
		t.Fatalf("block at the stalled height: %+v", a.Error)
	}
}

func TestKilledNodeCostsNoFailedReads(t *testing.T) {
	sim := startSim(t, 3)
	e := startEdge(t, edgeConfig(sim))
	allInSync(t, e, 3)
	api := e.URL() + "/api/v3"
	var failed, done atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			for i := 0; i < 400; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := post(t, api, `{"jsonrpc":"2.0","id":7,"method":"icx_getLastBlock"}`)
				done.Add(1)
				if r.status != http.StatusOK {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, string(r.body))
				}
			}
		})
	}
	time.Sleep(150 * time.Millisecond)
	sim.Node(0).SetFaults(iconsim.Faults{Down: boolp(true)})
	time.Sleep(300 * time.Millisecond)
	sim.Node(1).SetFaults(iconsim.Faults{Down: boolp(true)})
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d reads failed while nodes died; first: %v", failed.Load(), done.Load(), firstErr.Load())
	}
	if done.Load() < 50 {
		t.Fatalf("only %d reads ran", done.Load())
	}
}

func TestTimedOutWriteIsDeliveredOnce(t *testing.T) {
	sim := startSim(t, 2)
	cfg := edgeConfig(sim)
	cfg.Limits.RequestTimeout = 400 * time.Millisecond
	e := startEdge(t, cfg)
	allInSync(t, e, 2)
	// Both nodes answer too late for the edge; whichever gets the write, it must get it once.
	for i := 0; i < 2; i++ {
		sim.Node(i).SetFaults(iconsim.Faults{LatencyMS: int64p(900)})
	}
	w, err := icon.NewWallet(iconsim.DevPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	params, txHash, err := w.SignTransfer("hx6d012de5402f8d43a87a1406e24ef69db9972bb4", big.NewInt(12345), 3, 1000000, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	body := `{"jsonrpc":"2.0","id":"w1","method":"icx_sendTransaction","params":` + string(params) + `}`
	r := post(t, e.URL()+"/api/v3", body)
	a := decode(t, r.body)
	switch {
	case a.Error != nil:
		if a.Error.Code != icon.CodeTimeout || string(a.Error.Data) != `"`+txHash+`"` {
			t.Fatalf("timed-out write answered %d %s, want -31006 with the tx hash", r.status, r.body)
		}
	case string(a.Result) != `"`+txHash+`"`:
		t.Fatalf("write answered %s, want result %s", r.body, txHash)
	}
	if string(a.ID) != `"w1"` {
		t.Fatalf("id not echoed: %s", r.body)
	}
	for i := 0; i < 2; i++ {
		sim.Node(i).SetFaults(iconsim.Faults{LatencyMS: int64p(0)})
	}
	sent := stats(sim.Node(0)).Methods["icx_sendTransaction"] + stats(sim.Node(1)).Methods["icx_sendTransaction"]
	if sent != 1 {
		t.Fatalf("write reached the nodes %d times, want exactly 1", sent)
	}
	// And it lands.
	eventually(t, "transfer lands", func() bool {
		res := call(t, e.URL()+"/api/v3", "icx_getTransactionResult", map[string]string{"txHash": txHash})
		return res.Error == nil
	})
}

func TestReadyzFollowsNodes(t *testing.T) {
	sim := startSim(t, 2)
	e := startEdge(t, edgeConfig(sim))
	get := func() int {
		resp, err := client.Get(e.URL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(); s != 200 {
		t.Fatalf("/readyz = %d with nodes up", s)
	}
	for i := 0; i < 2; i++ {
		sim.Node(i).SetFaults(iconsim.Faults{Down: boolp(true)})
	}
	eventually(t, "/readyz 503 with every node down", func() bool { return get() == http.StatusServiceUnavailable })
	r := post(t, e.URL()+"/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`)
	if a := decode(t, r.body); r.status != http.StatusServiceUnavailable || a.Error == nil || a.Error.Code != -32000 {
		t.Fatalf("read with no node: %d %s", r.status, r.body)
	}
	sim.Node(1).SetFaults(iconsim.Faults{Down: boolp(false)})
	eventually(t, "/readyz 200 after one node recovers", func() bool { return get() == http.StatusOK })
}

// A wait method may legitimately take longer than one read attempt: the edge
// must let the node wait as long as the client asked.
func TestWaitMethodOutlastsAttemptTimeout(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.Limits.AttemptTimeout = 200 * time.Millisecond
	e := startEdge(t, cfg)
	sim.Node(0).SetFaults(iconsim.Faults{LatencyMS: int64p(500)})
	r := post(t, e.URL()+"/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_waitTransactionResult","params":{"txHash":"0xcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"}}`, "Icon-Options", "timeout=1000")
	a := decode(t, r.body)
	// goloop answers an unknown hash after its wait; what matters is that the
	// node's answer arrived rather than the edge's own timeout.
	if a.Error != nil && a.Error.Code == -32000 {
		t.Fatalf("the edge cut a wait short: %d %s", r.status, r.body)
	}
}

// Looking up an unknown transaction costs one node request, not one per node:
// a node at the tip that says "not found" speaks for the chain.
func TestUnknownLookupsAreNotAmplified(t *testing.T) {
	sim := startSim(t, 3)
	sim.Node(0).SetFaults(iconsim.Faults{Stall: boolp(true)}) // keep the tip stable for the edge
	sim.Node(1).SetFaults(iconsim.Faults{Stall: boolp(true)})
	sim.Node(2).SetFaults(iconsim.Faults{Stall: boolp(true)})
	e := startEdge(t, edgeConfig(sim))
	allInSync(t, e, 3)
	eventually(t, "all nodes at the tip", func() bool {
		for _, n := range e.Pool().Nodes() {
			if n.Height() != e.Pool().Tip() {
				return false
			}
		}
		return true
	})
	for i := 0; i < 20; i++ {
		a := call(t, e.URL()+"/api/v3", "icx_getTransactionResult", map[string]string{"txHash": unknownTx})
		if a.Error == nil || a.Error.Code != -31004 {
			t.Fatalf("unknown tx: %+v", a)
		}
	}
	var total int64
	for i := 0; i < 3; i++ {
		total += sim.Node(i).Stats().Methods["icx_getTransactionResult"]
	}
	if total != 20 {
		t.Fatalf("20 unknown lookups cost %d node requests", total)
	}
}
