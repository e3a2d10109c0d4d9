package cache

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/icon-edge/icon-edge/internal/promtest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fastjson"
)

func newTestCache(t testing.TB, cfg Config) *Cache {
	t.Helper()
	c, err := New(cfg, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sampleResult returns the raw "result" of a recorded goloop answer.
func sampleResult(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "test", "compat", "testdata", "samples", name))
	if err != nil {
		t.Fatalf("recorded sample %s: %v", name, err)
	}
	var s struct {
		Response struct {
			Body string `json:"body"`
		} `json:"response"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal([]byte(s.Response.Body), &body); err != nil || body.Result == nil {
		t.Fatalf("%s has no result: %v", name, err)
	}
	return body.Result
}

func blockJSON(h int64) []byte {
	return fmt.Appendf(nil, `{"block_hash":"%064x","confirmed_transaction_list":[],"height":%d,"version":"2.0"}`, h, h)
}

func TestFinalEntryRoundTrip(t *testing.T) {
	c := newTestCache(t, Config{})
	key := AppendKey(nil, "icx_getBlockByHeight", fastjson.MustParse(`{"height":"0x1"}`))
	res := sampleResult(t, "icx_getBlockByHeight_1.json")
	kind := c.Classify("icx_getBlockByHeight", fastjson.MustParse(`{"height":"0x1"}`), 10)
	if _, ok := c.Get(key, 10); ok {
		t.Fatal("hit on an empty cache")
	}
	buf := append([]byte(nil), res...)
	if !c.Put(key, "icx_getBlockByHeight", kind, 10, buf) {
		t.Fatal("final block not stored")
	}
	// The caller's buffer is reused for the next request; the entry must not change.
	for i := range buf {
		buf[i] = 'x'
	}
	for _, tip := range []int64{10, 11, 5000} {
		got, ok := c.Get(key, tip)
		if !ok || !bytes.Equal(got, res) {
			t.Fatalf("at tip %d: got %q, %v", tip, got, ok)
		}
	}
	if h := testutil.ToFloat64(c.hitFinal); h != 3 {
		t.Errorf("final hits = %v, want 3", h)
	}
	if m := testutil.ToFloat64(c.misses); m != 1 {
		t.Errorf("misses = %v, want 1", m)
	}
}

// A client must never get a latest-state answer older than the newest block
// the edge knows, whatever order tips and lookups come in.
func TestHeadNeverOutlivesNewBlock(t *testing.T) {
	c := newTestCache(t, Config{})
	key := AppendKey(nil, "icx_getLastBlock", nil)
	bal := AppendKey(nil, "icx_getBalance", fastjson.MustParse(`{"address":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"}`))
	for tip := int64(1); tip <= 50; tip++ {
		if got, ok := c.Get(key, tip); ok {
			t.Fatalf("tip %d: served %s filled at an older tip", tip, got)
		}
		if _, ok := c.Get(bal, tip); ok {
			t.Fatalf("tip %d: served a balance filled at an older tip", tip)
		}
		if k := c.Classify("icx_getLastBlock", nil, tip); k != Head {
			t.Fatalf("kind %v", k)
		}
		if !c.Put(key, "icx_getLastBlock", Head, tip, blockJSON(tip)) {
			t.Fatalf("tip %d: head block not stored", tip)
		}
		c.Put(bal, "icx_getBalance", Head, tip, fmt.Appendf(nil, `"0x%x"`, tip))
		for i := 0; i < 3; i++ {
			got, ok := c.Get(key, tip)
			if !ok || !bytes.Equal(got, blockJSON(tip)) {
				t.Fatalf("tip %d: head not served from cache: %q %v", tip, got, ok)
			}
		}
		// Asking again with the previous tip (a lookup racing the tip update)
		// drops the entry rather than handing it out later.
		if tip%10 == 0 {
			if _, ok := c.Get(key, tip-1); ok {
				t.Fatalf("tip %d entry served for tip %d", tip, tip-1)
			}
			if _, ok := c.Get(key, tip); ok {
				t.Fatal("entry survived a lookup with another tip")
			}
		}
	}
	if c.Len() > 2 {
		t.Errorf("stale head entries linger: %d entries", c.Len())
	}
}

func TestLaggingNodeCannotPlantStaleHead(t *testing.T) {
	c := newTestCache(t, Config{})
	key := AppendKey(nil, "icx_getLastBlock", nil)
	if c.Put(key, "icx_getLastBlock", Head, 100, blockJSON(99)) {
		t.Fatal("block 99 stored as head at tip 100")
	}
	if !c.Put(key, "icx_getLastBlock", Head, 100, blockJSON(101)) {
		t.Fatal("a newer block than the tip is fine to serve at that tip")
	}
	ni := AppendKey(nil, "icx_getNetworkInfo", nil)
	if c.Put(ni, "icx_getNetworkInfo", Head, 0x295, sampleResult(t, "icx_getNetworkInfo.json")) {
		t.Fatal("network info with latest 0x294 stored at tip 0x295")
	}
	if !c.Put(ni, "icx_getNetworkInfo", Head, 0x294, sampleResult(t, "icx_getNetworkInfo.json")) {
		t.Fatal("current network info not stored")
	}
}

func TestAfterResultOnlyWhenFinal(t *testing.T) {
	c := newTestCache(t, Config{})
	cases := []struct {
		method, sample string
		height         int64
	}{
		{"icx_getTransactionResult", "icx_getTransactionResult.json", 0x296},
		{"icx_getTransactionByHash", "icx_getTransactionByHash.json", 0x296},
		{"icx_getBlockByHash", "icx_getBlockByHash.json", 660},
	}
	for _, tc := range cases {
		res := sampleResult(t, tc.sample)
		key := AppendKey(nil, tc.method, fastjson.MustParse(`{"x":"`+tc.sample+`"}`))
		// In the tip block: could still be the edge's view of a block that is
		// not final.
		if c.Put(key, tc.method, AfterResult, tc.height, res) {
			t.Errorf("%s in the tip block was stored", tc.method)
		}
		if _, ok := c.Get(key, tc.height); ok {
			t.Fatalf("%s served", tc.method)
		}
		if !c.Put(key, tc.method, AfterResult, tc.height+1, res) {
			t.Errorf("%s in a final block was not stored", tc.method)
		}
		// Stored as final: still served after many more blocks.
		if got, ok := c.Get(key, tc.height+1000); !ok || !bytes.Equal(got, res) {
			t.Errorf("%s not served later", tc.method)
		}
	}
	// A pending transaction has no block height.
	key := AppendKey(nil, "icx_getTransactionByHash", fastjson.MustParse(`{"txHash":"0x1"}`))
	if c.Put(key, "icx_getTransactionByHash", AfterResult, 100, []byte(`{"txHash":"0x1","blockHeight":null}`)) {
		t.Error("pending transaction stored")
	}
	if c.Put(key, "icx_getTransactionByHash", AfterResult, 100, []byte(`null`)) {
		t.Error("null result stored")
	}
	if c.Put(key, "icx_getTransactionByHash", AfterResult, 100, []byte(`{"blockHeight":"0x1`)) {
		t.Error("truncated result stored")
	}
}

func TestNoCacheIsNeverStored(t *testing.T) {
	c := newTestCache(t, Config{})
	key := AppendKey(nil, "icx_sendTransaction", fastjson.MustParse(`{"version":"0x3"}`))
	if c.Put(key, "icx_sendTransaction", NoCache, 10, []byte(`"0xa753a5457cb0f6fe3dbd4fff17b5d836c642896fe6223dd064e31599e13b9533"`)) {
		t.Fatal("NoCache answer stored")
	}
	if c.Len() != 0 {
		t.Fatal("entry present")
	}
}

func TestOversizedAnswerNotStored(t *testing.T) {
	c := newTestCache(t, Config{MaxBytes: 1 << 20, Shards: 1})
	big := []byte(`"` + strings.Repeat("a", 300<<10) + `"`)
	if c.Put([]byte("k"), "icx_call", Final, 10, big) {
		t.Fatal("an answer bigger than a quarter of the shard was stored")
	}
	if c.Bytes() != 0 {
		t.Fatal("bytes charged")
	}
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	c := newTestCache(t, Config{MaxBytes: 64 << 10, Shards: 1})
	val := bytes.Repeat([]byte("v"), 1000)
	key := func(i int) []byte { return fmt.Appendf(nil, "key-%d", i) }
	c.Put(key(0), "icx_call", Final, 10, val)
	for i := 1; i < 500; i++ {
		c.Put(key(i), "icx_call", Final, 10, val)
		if _, ok := c.Get(key(0), 10); !ok { // keep 0 hot
			t.Fatalf("hot entry evicted after %d puts", i)
		}
		if c.Bytes() > 64<<10 {
			t.Fatalf("bytes %d over the bound", c.Bytes())
		}
	}
	if _, ok := c.Get(key(1), 10); ok {
		t.Error("cold entry survived")
	}
	if ev := testutil.ToFloat64(c.evictions); ev < 400 {
		t.Errorf("evictions = %v", ev)
	}
}

// 1M distinct keys: the charged bytes stay under MaxBytes and the heap the
// entries really use stays in line with the charge.
func TestMemoryBoundedByBytes(t *testing.T) {
	const maxBytes = 16 << 20
	c := newTestCache(t, Config{MaxBytes: maxBytes})
	n := 1_000_000
	if testing.Short() {
		n = 200_000
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// Keys as AppendKey writes them for a balance pinned at height i.
	base := AppendKey(nil, "icx_getBalance", fastjson.MustParse(`{"address":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7","height":"0x0"}`))
	base = base[:bytes.LastIndex(base, []byte(`"0x0"`))+3]
	keyBuf := make([]byte, 0, 128)
	if k := append(strconv.AppendInt(append(keyBuf[:0], base...), 0x1f, 16), `"}`...); !bytes.Equal(k, AppendKey(nil, "icx_getBalance",
		fastjson.MustParse(`{"height":"0x1f","address":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"}`))) {
		t.Fatalf("synthetic key %s is not what AppendKey writes", k)
	}
	val := []byte(`"0x2961fff8ca4a62327800000"`)
	for i := 0; i < n; i++ {
		keyBuf = append(strconv.AppendInt(append(keyBuf[:0], base...), int64(i), 16), `"}`...)
		if !c.Put(keyBuf, "icx_getBalance", Final, int64(n)+10, val) {
			t.Fatal("not stored")
		}
		if i%100_000 == 0 && c.Bytes() > maxBytes {
			t.Fatalf("after %d keys: %d bytes charged, bound %d", i, c.Bytes(), maxBytes)
		}
	}
	if c.Bytes() > maxBytes {
		t.Fatalf("%d bytes charged, bound %d", c.Bytes(), maxBytes)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d entries, %d bytes charged, heap grew %d bytes (%.2f of charge)", c.Len(), c.Bytes(), grown, float64(grown)/float64(c.Bytes()))
	if grown > maxBytes*5/4 {
		t.Errorf("heap grew %d bytes for a %d byte bound: entryOverhead is too low", grown, maxBytes)
	}
	if c.Len() < 10_000 {
		t.Errorf("only %d entries kept", c.Len())
	}
	runtime.KeepAlive(c)
}

func TestConcurrentUse(t *testing.T) {
	c := newTestCache(t, Config{MaxBytes: 1 << 20})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				tip := int64(100 + i/100)
				k := fmt.Appendf(nil, "k%d", i%300)
				if r, ok := c.Get(k, tip); ok && !bytes.HasPrefix(r, []byte(`"k`)) {
					t.Errorf("corrupt entry %q", r)
					return
				}
				kind := Final
				if i%2 == 0 {
					kind = Head
				}
				c.Put(k, "icx_getBalance", kind, tip, fmt.Appendf(nil, `"k%d-%d"`, i%300, g))
			}
		}(g)
	}
	wg.Wait()
	if c.Bytes() > 1<<20 {
		t.Fatal("over bound")
	}
}

func TestMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := New(Config{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	c.Put([]byte("k"), "icx_getLastBlock", Head, 5, blockJSON(5))
	c.Get([]byte("k"), 5)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, name := range []string{"icon_edge_cache_hits_total", "icon_edge_cache_misses_total", "icon_edge_cache_evictions_total",
		"icon_edge_cache_bytes", "icon_edge_cache_entries", "icon_edge_coalesced_total"} {
		if !got[name] {
			t.Errorf("metric %s not registered", name)
		}
	}
	if _, err := New(Config{}, reg); err == nil {
		t.Error("registering twice on one registry should fail")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{MaxBytes: 100}, {FinalityDepth: ptr[int64](-1)}, {Shards: 3}} {
		if _, err := New(cfg, nil); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// A cache rebuilt on reload keeps counting into the same series; its gauges
// report the newest cache, and nothing once it is closed.
func TestNewWithMetricsContinuesSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	old, err := New(Config{MaxBytes: 1 << 20}, reg)
	if err != nil {
		t.Fatal(err)
	}
	old.Get([]byte("k"), 10)
	next, err := NewWithMetrics(Config{MaxBytes: 2 << 20}, old.m)
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	next.Get([]byte("k"), 10)
	if m := testutil.ToFloat64(next.misses); m != 2 {
		t.Errorf("misses = %v, want 2 across the reload", m)
	}
	if !next.Put([]byte("k"), "icx_getBlockByHeight", Final, 10, []byte(`{"height":1}`)) {
		t.Fatal("final answer not stored")
	}
	if got := promtest.Value(t, reg, "icon_edge_cache_entries", nil); got != 1 {
		t.Errorf("entries gauge = %v, want the new cache's 1", got)
	}
	next.Close()
	if got := promtest.Value(t, reg, "icon_edge_cache_entries", nil); got != 0 {
		t.Errorf("entries gauge after Close = %v", got)
	}
}
