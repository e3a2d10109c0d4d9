package e2e

import (
	"math"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/edge"
	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/internal/promtest"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

// latencies sends n reads to url one after another and returns their
// durations, sorted; every answer must be a 200 with a result.
func latencies(t *testing.T, url string, n int) []time.Duration {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"icx_getBalance","params":{"address":"` + iconsim.DevAddress + `"}}`
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		r := post(t, url, body)
		out = append(out, time.Since(start))
		if r.status != http.StatusOK || decode(t, r.body).Result == nil {
			t.Fatalf("%s: %d %s", url, r.status, r.body)
		}
	}
	slices.Sort(out)
	return out
}

// anySlow reports whether any of 160 reads (8 at a time) took at least d.
func anySlow(t *testing.T, url string, d time.Duration) bool {
	t.Helper()
	var slow atomic.Bool
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if slow.Load() {
					return
				}
				start := time.Now()
				resp, err := client.Post(url, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`))
				if err != nil {
					continue
				}
				_ = resp.Body.Close()
				if time.Since(start) >= d {
					slow.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return slow.Load()
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[int(math.Ceil(q*float64(len(sorted))))-1]
}

// One node of three is slow on 10 % of requests (300 ms): the edge's p99
// with hedged reads stays near a healthy node's.
func TestHedgedReadsKeepP99NearTheHealthyNodes(t *testing.T) {
	sim := startSim(t, 3)
	cfg := edgeConfig(sim)                    // cache off: every read reaches a node
	cfg.Health.ProbeTimeout = 2 * time.Second // slow moments are not outages
	cfg.Hedge = edge.HedgeDefaults()
	cfg.Hedge.Enabled = true
	cfg.Hedge.MaxShare = 0.15 // the p95 delay alone sends ~5 % over it; the slow node adds its share
	e := startEdge(t, cfg)
	allInSync(t, e, 3)
	slowMS, rate := int64(300), 0.1
	sim.Node(0).SetFaults(iconsim.Faults{SlowMS: &slowMS, SlowRate: &rate})

	const n = 400
	if !anySlow(t, sim.Node(0).URL()+"/api/v3", 300*time.Millisecond) {
		t.Fatal("160 reads from the slow node, none slow: the fault did not apply")
	}
	healthy := latencies(t, sim.Node(1).URL()+"/api/v3", n)
	latencies(t, e.URL()+"/api/v3", 100) // the method's latency record fills up
	got := latencies(t, e.URL()+"/api/v3", n)
	t.Logf("p50/p99: healthy node %v/%v, edge %v/%v (max %v)", quantile(healthy, 0.5), quantile(healthy, 0.99),
		quantile(got, 0.5), quantile(got, 0.99), got[n-1])
	if p99 := quantile(got, 0.99); p99 > quantile(healthy, 0.99)+50*time.Millisecond {
		t.Fatalf("edge p99 %v, healthy node p99 %v", p99, quantile(healthy, 0.99))
	}
}

// Every node has slow moments (3 % of requests, 300 ms), so routing cannot
// steer around them: without hedging they are the edge's p99; with hedged
// reads (after the p90 of recent latency) the p99 stays fast.
func TestHedgingCutsTheTailRoutingCannotAvoid(t *testing.T) {
	sim := startSim(t, 3)
	cfg := edgeConfig(sim)
	cfg.Health.ProbeTimeout = 2 * time.Second
	plain := startEdge(t, cfg)
	cfg.Hedge = edge.Hedge{Enabled: true, Quantile: 0.9, MaxShare: 0.2}
	hedged := startEdge(t, cfg)
	allInSync(t, plain, 3)
	allInSync(t, hedged, 3)
	slowMS, rate := int64(300), 0.03
	for i := range 3 {
		sim.Node(i).SetFaults(iconsim.Faults{SlowMS: &slowMS, SlowRate: &rate})
	}
	// 500 reads: ~15 slow ones without hedging (p99 is the 5th slowest);
	// with it, a read is slow only when both of its nodes are (~0.1 %).
	const n = 500
	latencies(t, hedged.URL()+"/api/v3", 100)
	with := latencies(t, hedged.URL()+"/api/v3", n)
	without := latencies(t, plain.URL()+"/api/v3", n)
	t.Logf("p50/p99: with hedging %v/%v, without %v/%v", quantile(with, 0.5), quantile(with, 0.99),
		quantile(without, 0.5), quantile(without, 0.99))
	if quantile(without, 0.99) < 300*time.Millisecond {
		t.Fatalf("without hedging p99 = %v: the slow moments did not show", quantile(without, 0.99))
	}
	// Counted, not timed: a read that met a slow moment takes ≥ 300 ms
	// whatever the machine's load; hedging must spare most of them.
	slow := func(ls []time.Duration) (n int) {
		for _, l := range ls {
			if l >= 250*time.Millisecond {
				n++
			}
		}
		return n
	}
	if sw, so := slow(with), slow(without); sw*2 > so {
		t.Fatalf("reads of 250 ms or more: %d with hedging, %d without", sw, so)
	}
	if won := promtest.Value(t, hedged.Registry(), "icon_edge_hedges_total", map[string]string{"result": "won"}); won < 5 {
		t.Fatalf("hedges won = %v", won)
	}
}

// Writes are never hedged, however slow the node: each transaction reaches
// the nodes exactly once (counted in /_sim/stats).
func TestWritesAreNeverHedged(t *testing.T) {
	sim := startSim(t, 2)
	cfg := edgeConfig(sim)
	cfg.Hedge = edge.Hedge{Enabled: true, Delay: time.Millisecond, MaxShare: 1} // would hedge any read slower than 1 ms
	e := startEdge(t, cfg)
	allInSync(t, e, 2)
	slowMS, rate := int64(30), 1.0
	for i := range 2 {
		sim.Node(i).SetFaults(iconsim.Faults{SlowMS: &slowMS, SlowRate: &rate})
	}
	w, err := icon.NewWallet(iconsim.DevPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	const writes = 10
	for i := range writes {
		params, _, err := w.SignTransfer(iconsim.Dev2Address, big.NewInt(int64(1000+i)), 3, 1000000, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r := post(t, e.URL()+"/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_sendTransaction","params":`+string(params)+`}`)
		if r.status != http.StatusOK {
			t.Fatalf("write %d: %d %s", i, r.status, r.body)
		}
	}
	if sent := nodeCalls(sim, 2, "icx_sendTransaction"); sent != writes {
		t.Fatalf("%d writes reached the nodes %d times", writes, sent)
	}
	// The same slowness does hedge reads, so the check above is not idle.
	for range 5 {
		post(t, e.URL()+"/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_getTotalSupply"}`)
	}
	if got := nodeCalls(sim, 2, "icx_getTotalSupply"); got <= 5 {
		t.Fatalf("5 slow reads reached the nodes %d times: reads were not hedged either", got)
	}
}
