package e2e

import (
	"encoding/json"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

// Hardening #1: batches of icx_waitTransactionResult for a pending
// transaction used to fill every node's connection pool, starve the health
// probes and eject the whole fleet (/readyz 503, every read 503). Now waits
// are bounded per client and per node, probes have their own connections,
// and reads keep working while the waits hold.
func TestWaitStormCannotTakeTheRegionDown(t *testing.T) {
	sim := startSim(t, 3)
	cfg := edgeConfig(sim)
	cfg.Limits.MaxConnsPerNode = 8
	cfg.Limits.MaxWaitsPerNode = 4
	cfg.Limits.MaxWaitsPerClient = 4
	e := startEdge(t, cfg)
	allInSync(t, e, 3)
	// A transaction that stays pending: the nodes' view of the chain is frozen.
	for i := 0; i < 3; i++ {
		sim.Node(i).SetFaults(iconsim.Faults{Stall: boolp(true)})
	}
	w, err := icon.NewWallet(iconsim.DevPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	params, txHash, err := w.SignTransfer("hx6d012de5402f8d43a87a1406e24ef69db9972bb4", big.NewInt(1), sim.NID(), 1000000, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	send, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "icx_sendTransaction", "params": json.RawMessage(params)})
	if r := post(t, e.URL()+"/api/v3", string(send)); r.status != 200 {
		t.Fatalf("send: %d %s", r.status, r.body)
	}
	items := make([]string, 25)
	for i := range items {
		items[i] = `{"jsonrpc":"2.0","id":` + strconv.Itoa(i) + `,"method":"icx_waitTransactionResult","params":{"txHash":"` + txHash + `"}}`
	}
	batch := "[" + strings.Join(items, ",") + "]"
	var wg sync.WaitGroup
	refused := make(chan int, 8)
	for range 8 {
		wg.Go(func() {
			r := post(t, e.URL()+"/api/v3", batch, "Icon-Options", "timeout=2000")
			if testing.Verbose() {
				t.Logf("batch: %d %.300s", r.status, r.body)
			}
			refused <- strings.Count(string(r.body), "too many waiting calls from this client")
		})
	}
	// While the waits hold, the region stays up and reads are served.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if r := post(t, e.URL()+"/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_getTotalSupply"}`); r.status != http.StatusOK {
			t.Fatalf("a read during the wait storm: %d %s", r.status, r.body)
		}
		if s := get(t, e.URL()+"/readyz").status; s != http.StatusOK {
			t.Fatalf("/readyz %d during the wait storm", s)
		}
		for _, n := range e.Pool().Nodes() {
			if n.State().String() != "healthy" {
				t.Fatalf("node %s %s during the wait storm: %s", n.URL(), n.State(), n.LastError())
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	close(refused)
	total := 0
	for n := range refused {
		total += n
	}
	// 200 waits from one client, at most 4 open at a time.
	if total < 200-4*8 {
		t.Fatalf("only %d of 200 waits over the client's budget were refused", total)
	}
	for i := 0; i < 3; i++ {
		sim.Node(i).SetFaults(iconsim.Faults{Stall: boolp(false)})
	}
}
