package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func cachedEdge(t *testing.T, nodes int) (*simEdge, func(m string) int64) {
	sim := startSim(t, nodes)
	cfg := edgeConfig(sim)
	cfg.Cache.Enabled = true
	e := startEdge(t, cfg)
	allInSync(t, e, nodes)
	if err := sim.WaitHeight(ctxT(t), 5); err != nil {
		t.Fatal(err)
	}
	eventually(t, "edge tip past 4", func() bool { return e.Pool().Tip() >= 5 })
	served := func(m string) int64 {
		var n int64
		for i := 0; i < nodes; i++ {
			n += sim.Node(i).Stats().Methods[m]
		}
		return n
	}
	return &simEdge{url: e.URL()}, served
}

type simEdge struct{ url string }

func TestCachedAnswerIsTheNodesAnswerWithTheClientsID(t *testing.T) {
	e, served := cachedEdge(t, 1)
	first := post(t, e.url+"/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_getBlockByHeight","params":{"height":"0x2"}}`)
	second := post(t, e.url+"/api/v3", `{"id":"second","params":{"height":"0x2"},"method":"icx_getBlockByHeight","jsonrpc":"2.0"}`)
	if first.status != 200 || second.status != 200 {
		t.Fatalf("statuses %d %d", first.status, second.status)
	}
	if got := served("icx_getBlockByHeight"); got != 1 {
		t.Fatalf("node served %d getBlockByHeight for two identical reads, want 1", got)
	}
	want := bytes.Replace(first.body, []byte(`"id":1}`), []byte(`"id":"second"}`), 1)
	if !bytes.Equal(second.body, want) {
		t.Fatalf("cached answer differs from the node's beyond the id:\n%s\n%s", first.body, second.body)
	}
}

func TestErrorsAreNotCached(t *testing.T) {
	e, served := cachedEdge(t, 1)
	for i := 0; i < 3; i++ {
		r := post(t, e.url+"/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_getTransactionResult","params":{"txHash":"0xcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"}}`)
		if a := decode(t, r.body); a.Error == nil || a.Error.Code != -31004 {
			t.Fatalf("unknown tx: %s", r.body)
		}
	}
	// Each call reached a node (with not-found retries possibly more than once).
	if got := served("icx_getTransactionResult"); got < 3 {
		t.Fatalf("node saw %d of 3 not-found reads: an error was cached", got)
	}
}

func TestLatestStateNeverOutlivesANewBlock(t *testing.T) {
	e, _ := cachedEdge(t, 1)
	last := int64(-1)
	for i := 0; i < 40; i++ {
		var blk struct {
			Height int64 `json:"height"`
		}
		a := call(t, e.url+"/api/v3", "icx_getLastBlock", nil)
		if a.Error != nil {
			t.Fatal(a.Error.Message)
		}
		if err := jsonUnmarshal(a.Result, &blk); err != nil {
			t.Fatal(err)
		}
		if blk.Height < last {
			t.Fatalf("last block went back from %d to %d", last, blk.Height)
		}
		last = blk.Height
		sleepMS(25)
	}
	if last < 6 {
		t.Fatalf("last block stuck at %d while the chain advanced", last)
	}
}

func TestIdenticalConcurrentReadsShareOneUpstreamCall(t *testing.T) {
	e, served := cachedEdge(t, 2)
	var wg sync.WaitGroup
	bodies := make([]string, 100)
	for i := range 100 {
		wg.Go(func() {
			r := post(t, e.url+"/api/v3", fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"icx_getBlockByHeight","params":{"height":"0x3"}}`, i))
			bodies[i] = string(r.body)
		})
	}
	wg.Wait()
	if got := served("icx_getBlockByHeight"); got != 1 {
		t.Fatalf("100 identical concurrent reads cost %d upstream calls, want 1", got)
	}
	for i, b := range bodies {
		if !strings.HasSuffix(strings.TrimSpace(b), fmt.Sprintf(`"id":%d}`, i)) {
			t.Fatalf("waiter %d got %s", i, b)
		}
	}
}

func TestBatchSendsOnlyMissesUpstream(t *testing.T) {
	e, served := cachedEdge(t, 1)
	item := func(id, h int) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"icx_getBlockByHeight","params":{"height":"0x%x"}}`, id, h)
	}
	// Warm 4 distinct final blocks; then a batch of 50: 40 of those, 10 new ones.
	for h := 1; h <= 4; h++ {
		post(t, e.url+"/api/v3", item(0, h))
	}
	before := served("icx_getBlockByHeight")
	var items []string
	for i := 0; i < 40; i++ {
		items = append(items, item(i, 1+i%4))
	}
	for i := 40; i < 50; i++ {
		items = append(items, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"icx_getBalance","params":{"address":"hx%040x","height":"0x2"}}`, i, i))
	}
	r := post(t, e.url+"/api/v3", "["+strings.Join(items, ",")+"]")
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	if got := served("icx_getBlockByHeight") - before; got != 0 {
		t.Fatalf("cached blocks went upstream %d times", got)
	}
	if got := served("icx_getBalance"); got != 10 {
		t.Fatalf("the 10 misses cost %d upstream reads, want 10", got)
	}
}
