package cache

import (
	"bytes"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fastjson"
)

// serve is what the request path does for one read: cache, then one shared
// upstream call, then the client's own id around the answer.
func serve(c *Cache, method string, params *fastjson.Value, tip int64, id []byte, upstream func() (Answer, error)) ([]byte, error) {
	kind := c.Classify(method, params, tip)
	key := AppendKey(nil, method, params)
	if kind != NoCache {
		if r, ok := c.Get(key, tip); ok {
			a := Answer{Result: r}
			return a.AppendTo(nil, id), nil
		}
	}
	a, _, err := c.Do(key, method, kind, tip, upstream)
	if err != nil {
		return nil, err
	}
	return a.AppendTo(nil, id), nil
}

func TestCoalesceHundredIdenticalReads(t *testing.T) {
	c := newTestCache(t, Config{})
	res := sampleResult(t, "icx_getBlockByHeight_1.json")
	const n = 100
	var calls, started atomic.Int32
	upstream := func() (Answer, error) {
		calls.Add(1)
		// Hold the call until every client has asked (bounded), so they
		// really are concurrent.
		deadline := time.Now().Add(2 * time.Second)
		for started.Load() < n && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(10 * time.Millisecond)
		return Answer{Result: res, Status: 200}, nil
	}
	var wg sync.WaitGroup
	out := make([][]byte, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Each client's request is parsed on its own (fastjson values
			// are not safe to share between goroutines).
			params := fastjson.MustParse(`{ "height": "0x1" }`)
			started.Add(1)
			b, err := serve(c, "icx_getBlockByHeight", params, 10, []byte(strconv.Itoa(1000+i)), upstream)
			if err != nil {
				t.Error(err)
			}
			out[i] = b
		}(i)
	}
	wg.Wait()
	if got := calls.Load(); got != 1 {
		t.Fatalf("%d upstream calls for %d identical reads, want 1", got, n)
	}
	for i, b := range out {
		v, err := fastjson.ParseBytes(b)
		if err != nil {
			t.Fatalf("client %d got invalid JSON %q: %v", i, b, err)
		}
		if id := v.GetInt("id"); id != 1000+i {
			t.Errorf("client %d got id %d", i, id)
		}
		if string(v.GetStringBytes("jsonrpc")) != "2.0" {
			t.Errorf("client %d: no jsonrpc", i)
		}
		if got := v.Get("result").MarshalTo(nil); !bytes.Equal(got, res) {
			t.Errorf("client %d got result %s", i, got)
		}
	}
	joined := testutil.ToFloat64(c.coalesced)
	hits := testutil.ToFloat64(c.hitFinal)
	if joined+hits != n-1 {
		t.Errorf("coalesced %v + hits %v, want %d", joined, hits, n-1)
	}
	if joined == 0 {
		t.Error("no read joined the in-flight call")
	}
}

func TestErrorsAreSharedButNotCached(t *testing.T) {
	c := newTestCache(t, Config{})
	params := fastjson.MustParse(`{"txHash":"0xa753a5457cb0f6fe3dbd4fff17b5d836c642896fe6223dd064e31599e13b9533"}`)
	var calls int
	answers := []Answer{
		{Error: []byte(`{"code":-31002,"message":"Pending: Pending"}`), Status: 400},
		{Error: []byte(`{"code":-31003,"message":"Executing"}`), Status: 400},
		{Error: []byte(`{"code":-31004,"message":"NotFound: E1005:not found tx=0xa753a5457cb0f6fe3dbd4fff17b5d836c642896fe6223dd064e31599e13b9533"}`), Status: 400},
		{Result: sampleResult(t, "icx_getTransactionResult.json"), Status: 200},
	}
	upstream := func() (Answer, error) { a := answers[calls]; calls++; return a, nil }
	for i := 0; i < 3; i++ {
		b, err := serve(c, "icx_getTransactionResult", params, 0x297, []byte(`"a"`), upstream)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"jsonrpc":"2.0","error":` + string(answers[i].Error) + `,"id":"a"}`
		if string(b) != want {
			t.Fatalf("got %s\nwant %s", b, want)
		}
	}
	if calls != 3 || c.Len() != 0 {
		t.Fatalf("errors were cached: %d upstream calls, %d entries", calls, c.Len())
	}
	// Once the transaction is in a final block its result is kept.
	serve(c, "icx_getTransactionResult", params, 0x297, []byte(`1`), upstream)
	b, _ := serve(c, "icx_getTransactionResult", params, 0x297, []byte(`2`), upstream)
	if calls != 4 {
		t.Fatalf("%d upstream calls, want 4", calls)
	}
	if !bytes.Contains(b, []byte(`"blockHeight":"0x296"`)) || !bytes.HasSuffix(b, []byte(`,"id":2}`)) {
		t.Fatalf("cached answer %s", b)
	}
}

func TestUpstreamFailureNotCached(t *testing.T) {
	c := newTestCache(t, Config{})
	key := []byte("k")
	boom := errors.New("upstream down")
	_, _, err := c.Do(key, "icx_getLastBlock", Head, 5, func() (Answer, error) { return Answer{}, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if c.Len() != 0 {
		t.Fatal("failure cached")
	}
}

func TestFlightsDoNotCrossTips(t *testing.T) {
	c := newTestCache(t, Config{})
	key := AppendKey(nil, "icx_getLastBlock", nil)
	release := make(chan struct{})
	var calls atomic.Int32
	var wg sync.WaitGroup
	results := make([][]byte, 2)
	for i, tip := range []int64{10, 11} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, _, _ := c.Do(key, "icx_getLastBlock", Head, tip, func() (Answer, error) {
				calls.Add(1)
				<-release
				return Answer{Result: blockJSON(tip)}, nil
			})
			results[i] = a.Result
		}()
	}
	deadline := time.Now().Add(2 * time.Second)
	for calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if calls.Load() != 2 {
		t.Fatalf("%d upstream calls; a read at tip 11 joined a flight for tip 10", calls.Load())
	}
	if !bytes.Equal(results[1], blockJSON(11)) {
		t.Fatalf("tip 11 reader got %s", results[1])
	}
}

func TestNoCacheIsNotCoalesced(t *testing.T) {
	c := newTestCache(t, Config{})
	release := make(chan struct{})
	var calls atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Do([]byte("same"), "icx_sendTransaction", NoCache, 10, func() (Answer, error) {
				calls.Add(1)
				<-release
				return Answer{Result: []byte(`"0x1"`)}, nil
			})
		}()
	}
	deadline := time.Now().Add(2 * time.Second)
	for calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if calls.Load() != 2 || c.Len() != 0 {
		t.Fatalf("writes coalesced or stored: %d calls, %d entries", calls.Load(), c.Len())
	}
}
