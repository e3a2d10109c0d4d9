package cache

import (
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/redisstate"
	"github.com/icon-edge/icon-edge/redisstate/redistest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fastjson"
)

// sharedReplica is one replica's cache with its own connection to the
// region's Redis.
func sharedReplica(t *testing.T, srv *redistest.Server) (*Cache, *redisstate.Client) {
	t.Helper()
	rc, err := redisstate.Open(redisstate.Config{URL: srv.URL(), KeyPrefix: "cache-test:", Timeout: 500 * time.Millisecond,
		HealthInterval: 20 * time.Millisecond}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	waitFor(t, "redis up", rc.Available)
	c, err := New(Config{MaxBytes: 1 << 20}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c.SetShared(rc)
	return c, rc
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// node is an upstream that counts its calls.
type node struct{ calls atomic.Int64 }

func (n *node) answer(result string) func() (Answer, error) {
	return func() (Answer, error) {
		n.calls.Add(1)
		return Answer{Result: []byte(result), Status: 200}, nil
	}
}

func TestFinalAnswerFetchedByOneReplicaServesAnother(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := sharedReplica(t, srv)
	b, rb := sharedReplica(t, srv)
	params := fastjson.MustParse(`{"height":"0x5"}`)
	const tip = 100
	key := AppendKey([]byte("/api/v3\x00"), "icx_getBlockByHeight", params)
	var nodeA, nodeB node
	block := string(blockJSON(5))
	if _, _, err := a.Do(key, "icx_getBlockByHeight", a.Classify("icx_getBlockByHeight", params, tip), tip, nodeA.answer(block)); err != nil {
		t.Fatal(err)
	}
	// The write is queued; b finds it once it has landed.
	waitFor(t, "answer in redis", func() bool { return rb.GetAnswers([][]byte{key})[0] != nil })
	ans, _, err := b.Do(key, "icx_getBlockByHeight", b.Classify("icx_getBlockByHeight", params, tip), tip, nodeB.answer(`"wrong"`))
	if err != nil {
		t.Fatal(err)
	}
	if string(ans.Result) != block || nodeB.calls.Load() != 0 {
		t.Fatalf("replica b: answer %q after %d node calls; want a's answer and none", ans.Result, nodeB.calls.Load())
	}
	if got := testutil.ToFloat64(b.hitShared); got != 1 {
		t.Fatalf("shared hits = %v", got)
	}
	// Kept locally too: the next lookup needs no Redis.
	if r, ok := b.Get(key, tip); !ok || string(r) != block {
		t.Fatal("a shared hit was not kept in the local cache")
	}
}

func TestHeadAnswersAreNeverShared(t *testing.T) {
	srv := redistest.Start(t)
	a, ra := sharedReplica(t, srv)
	b, _ := sharedReplica(t, srv)
	const tip = 100
	key := AppendKey([]byte("/api/v3\x00"), "icx_getLastBlock", nil)
	var nodeA, nodeB node
	kind := a.Classify("icx_getLastBlock", nil, tip)
	if kind != Head {
		t.Fatalf("kind %v", kind)
	}
	a.Do(key, "icx_getLastBlock", kind, tip, nodeA.answer(string(blockJSON(tip))))
	b.Do(key, "icx_getLastBlock", kind, tip, nodeB.answer(string(blockJSON(tip))))
	if nodeB.calls.Load() != 1 {
		t.Fatal("a head answer reached another replica")
	}
	// Nor is a transaction looked up before it is final.
	txParams := fastjson.MustParse(`{"txHash":"0x01"}`)
	txKey := AppendKey([]byte("/api/v3\x00"), "icx_getTransactionResult", txParams)
	a.Do(txKey, "icx_getTransactionResult", AfterResult, tip, nodeA.answer(`{"blockHeight":"0x64","status":"0x1"}`))
	// Writes land in order: once a final answer queued after them is there,
	// a wrongly queued head or tx answer would be too.
	marker := AppendKey([]byte("/api/v3\x00"), "icx_getBlockByHeight", fastjson.MustParse(`{"height":"0x9"}`))
	a.Put(marker, "icx_getBlockByHeight", Final, tip, blockJSON(9))
	waitFor(t, "marker in redis", func() bool { return ra.GetAnswers([][]byte{marker})[0] != nil })
	if got := ra.GetAnswers([][]byte{key, txKey}); got[0] != nil || got[1] != nil {
		t.Fatalf("non-final answers in redis: %q", got)
	}
}

func TestBatchItemsLookUpTheSecondLevelInOneTrip(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := sharedReplica(t, srv)
	b, rb := sharedReplica(t, srv)
	const tip = 100
	var keys [][]byte
	for h := range 3 {
		params := fastjson.MustParse(`{"height":"0x` + string(rune('1'+h)) + `"}`)
		k := AppendKey([]byte("/api/v3\x00"), "icx_getBlockByHeight", params)
		keys = append(keys, k)
		if h < 2 {
			a.Put(k, "icx_getBlockByHeight", Final, tip, blockJSON(int64(h+1)))
		}
	}
	waitFor(t, "answers in redis", func() bool { return rb.GetAnswers(keys[1:2])[0] != nil })
	methods := []string{"icx_getBlockByHeight", "icx_getBlockByHeight", "icx_getBlockByHeight"}
	got := b.GetShared(keys, methods, []Kind{Final, Head, Final}, tip)
	if string(got[0]) != string(blockJSON(1)) || got[1] != nil || got[2] != nil {
		t.Fatalf("GetShared = %q (the Head item must not be asked)", got)
	}
}

func TestSecondLevelDownIsAMiss(t *testing.T) {
	srv := redistest.Start(t)
	a, ra := sharedReplica(t, srv)
	srv.Kill()
	params := fastjson.MustParse(`{"height":"0x5"}`)
	key := AppendKey(nil, "icx_getBlockByHeight", params)
	var n node
	start := time.Now()
	for range 20 {
		a.Do(append(key, 'x'), "icx_getBlockByHeight", Final, 100, n.answer(string(blockJSON(5))))
		key = append(key, 'x')
	}
	if n.calls.Load() != 20 {
		t.Fatalf("%d node calls for 20 distinct misses with redis down", n.calls.Load())
	}
	if time.Since(start) > 5*time.Second || ra.Available() {
		t.Fatal("redis down must fail fast and be marked down")
	}
}
