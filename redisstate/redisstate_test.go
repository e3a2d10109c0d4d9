package redisstate

import (
	"bytes"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/internal/promtest"
	"github.com/icon-edge/icon-edge/redisstate/redistest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// open connects a client ("a replica") to srv and waits until it is up.
func open(t *testing.T, srv *redistest.Server, cfg Config) *Client {
	t.Helper()
	cfg.URL = srv.URL()
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "test:"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 500 * time.Millisecond // a busy CI machine, under -race
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = 20 * time.Millisecond
	}
	c, err := Open(cfg, prometheus.NewRegistry(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	eventually(t, "redis client up", c.Available)
	return c
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "http://127.0.0.1:6379", "redis://127.0.0.1:6379/x"} {
		if _, err := Open(Config{URL: u}, nil, quiet); err == nil {
			t.Errorf("Open(%q) accepted it", u)
		}
	}
	for _, u := range []string{"redis://127.0.0.1:6379/0", "rediss://user:pw@redis.internal:6380/1", "unix:///run/redis.sock"} {
		if err := ParseURL(u); err != nil {
			t.Errorf("ParseURL(%q): %v", u, err)
		}
	}
}

func TestGCRAIsOneBudgetForEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv, Config{}), open(t, srv, Config{})
	b.noBatch = true // one replica batches its checks, the other sends each alone: one budget all the same
	const burst = 5
	interval := time.Hour // nothing refills during the test
	admitted := 0
	for i := range 2 * burst {
		c := a
		if i%2 == 1 {
			c = b
		}
		v, err := c.Take("rl:{ip:192.0.2.1}:r", 1, 1, interval, burst)
		if err != nil {
			t.Fatal(err)
		}
		if v.OK {
			admitted++
		} else if v.RetryAfter <= 0 || v.RetryAfter > interval {
			t.Fatalf("refused with retry-after %v", v.RetryAfter)
		}
	}
	if admitted != burst {
		t.Fatalf("two replicas admitted %d calls from one budget of %d", admitted, burst)
	}
	// A call dearer than what is left is refused without using any of it.
	v, err := a.Take("rl:{ip:192.0.2.2}:r", 3, 3, interval, burst)
	if err != nil || !v.OK {
		t.Fatalf("first call of 3: %+v %v", v, err)
	}
	if v.Ahead < 3*interval-time.Second || v.Ahead > 3*interval {
		t.Fatalf("ahead after 3 tokens = %v, want 3 intervals", v.Ahead)
	}
	if v, _ := b.Take("rl:{ip:192.0.2.2}:r", 3, 3, interval, burst); v.OK {
		t.Fatal("3 more tokens admitted from 2 left")
	}
	if v, _ := b.Take("rl:{ip:192.0.2.2}:r", 2, 2, interval, burst); !v.OK {
		t.Fatal("the refused call used up tokens")
	}
	// The key is the prefix's, and expires once the bucket is full again.
	ttl, err := srv.Do("PTTL", "test:rl:{ip:192.0.2.2}:r")
	if err != nil {
		t.Fatal(err)
	}
	if ms, _ := strconv.ParseInt(strings.TrimPrefix(ttl, ":"), 10, 64); ms < int64((5*interval-time.Minute)/time.Millisecond) {
		t.Fatalf("PTTL %s: want about 5 intervals", ttl)
	}
}

func TestGCRARefills(t *testing.T) {
	srv := redistest.Start(t)
	a := open(t, srv, Config{})
	interval := 50 * time.Millisecond
	for range 2 {
		if v, err := a.Take("rl:{key:k1}:w", 1, 1, interval, 2); err != nil || !v.OK {
			t.Fatalf("%+v %v", v, err)
		}
	}
	refused := time.Now()
	v, _ := a.Take("rl:{key:k1}:w", 1, 1, interval, 2)
	if v.OK {
		t.Fatal("third call admitted with a burst of 2")
	}
	// Refused calls change nothing, so polling is fair: the next token comes
	// one interval after the burst, never before the retry-after.
	eventually(t, "a token refilled", func() bool {
		v, _ := a.Take("rl:{key:k1}:w", 1, 1, interval, 2)
		return v.OK
	})
	if waited := time.Since(refused); waited < v.RetryAfter-2*time.Millisecond {
		t.Fatalf("admitted after %v, before the retry-after %v", waited, v.RetryAfter)
	}
}

func TestRedisDownFailsFastThenRecovers(t *testing.T) {
	srv := redistest.Start(t)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	reg := prometheus.NewRegistry()
	c, err := Open(Config{URL: srv.URL(), KeyPrefix: "t:", Timeout: 500 * time.Millisecond,
		HealthInterval: 20 * time.Millisecond, LogInterval: 50 * time.Millisecond}, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually(t, "up", c.Available)
	if _, err := c.Take("rl:{ip:1}:r", 1, 1, time.Second, 10); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	start := time.Now()
	for i := 0; i < 200; i++ {
		if _, err := c.Take("rl:{ip:1}:r", 1, 1, time.Second, 10); err == nil {
			t.Fatal("Take succeeded with Redis killed")
		}
		c.GetAnswers([][]byte{[]byte("k")})
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("200 operations on a dead Redis took %v: they must fail fast", took)
	}
	if c.Available() {
		t.Fatal("still Available after failures")
	}
	failures := testutil.ToFloat64(c.errs[opIndex(OpRateLimit)])
	if failures < 1 || failures > failuresToTrip {
		t.Fatalf("%v rate-limit errors counted: after %d in a row Redis is skipped, not asked", failures, failuresToTrip)
	}
	eventually(t, "errors logged", func() bool { return strings.Contains(logs.String(), "redis operations failed") })

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "up again", c.Available)
	// The restarted Redis has no script cache: Exec loads it again.
	if v, err := c.Take("rl:{ip:1}:r", 1, 1, time.Second, 10); err != nil || !v.OK {
		t.Fatalf("after restart: %+v %v", v, err)
	}
	out := logs.String()
	if n := strings.Count(out, "redis unreachable"); n != 1 {
		t.Fatalf("%d 'unreachable' lines for one outage:\n%s", n, out)
	}
	if n := strings.Count(out, "redis operations failed"); n > 20 {
		t.Fatalf("%d error lines: errors must be logged once per interval, not per operation", n)
	}
	if !strings.Contains(out, "redis reachable") {
		t.Fatalf("recovery not logged:\n%s", out)
	}
	if got := promtest.Value(t, reg, "icon_edge_redis_up", nil); got != 1 {
		t.Fatalf("icon_edge_redis_up = %v", got)
	}
}

func TestAnswersAreSharedWithTTLAndSizeCap(t *testing.T) {
	srv := redistest.Start(t)
	a := open(t, srv, Config{CacheTTL: time.Hour, CacheMaxEntryBytes: 100})
	b := open(t, srv, Config{CacheTTL: time.Hour, CacheMaxEntryBytes: 100})
	key := []byte("/api/v3\x00icx_getBlockByHeight{\"height\":\"0x1\"}")
	a.PutAnswer(key, []byte(`{"height":1}`))
	a.PutAnswer([]byte("big"), bytes.Repeat([]byte("x"), 101))
	eventually(t, "answer shared", func() bool {
		got := b.GetAnswers([][]byte{key})
		return len(got) == 1 && string(got[0]) == `{"height":1}`
	})
	got := b.GetAnswers([][]byte{[]byte("absent"), key, []byte("big")})
	if got[0] != nil || string(got[1]) != `{"height":1}` || got[2] != nil {
		t.Fatalf("GetAnswers = %q", got)
	}
	ttl, _ := srv.Do("PTTL", "test:c1:"+string(key))
	if ms, _ := strconv.ParseInt(strings.TrimPrefix(ttl, ":"), 10, 64); ms < 3500_000 || ms > 3600_000 {
		t.Fatalf("PTTL %s, want about an hour", ttl)
	}
}

func TestVerdictsReachTheOtherReplicas(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv, Config{}), open(t, srv, Config{})
	type ej struct {
		node    string
		backoff time.Duration
		probe   bool
	}
	var mu sync.Mutex
	var got []ej
	var tips []int64
	var self int
	b.Subscribe(func(n string, d time.Duration, p bool) {
		mu.Lock()
		got = append(got, ej{n, d, p})
		mu.Unlock()
	}, func(h int64) {
		mu.Lock()
		tips = append(tips, h)
		mu.Unlock()
	})
	a.Subscribe(func(string, time.Duration, bool) { mu.Lock(); self++; mu.Unlock() }, nil)
	// Pub/sub keeps nothing: publish until the subscription is in place.
	eventually(t, "verdict received", func() bool {
		a.PublishEjection("http://10.0.0.5:9000", 1500*time.Millisecond, true)
		a.PublishTip(42)
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0 && len(tips) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	if got[0] != (ej{"http://10.0.0.5:9000", 1500 * time.Millisecond, true}) || tips[0] != 42 {
		t.Fatalf("received %+v, tips %v", got[0], tips)
	}
	if self != 0 {
		t.Fatalf("a replica applied its own verdict %d times", self)
	}
	// Garbage on the channel is ignored.
	for _, m := range []string{"", "x", "other eject nope probe u", "other eject 5 maybe u", "other tip -3", "other tip x"} {
		b.dispatch(m)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTakeLeasesWhatTheBudgetHas(t *testing.T) {
	srv := redistest.Start(t)
	a := open(t, srv, Config{})
	iv := time.Hour
	if v, err := a.Take("rl:{ip:l}:r", 1, 6, iv, 10); err != nil || !v.OK || v.Taken != 6 {
		t.Fatalf("first lease: %+v %v", v, err)
	}
	if v, _ := a.Take("rl:{ip:l}:r", 2, 10, iv, 10); !v.OK || v.Taken != 4 {
		t.Fatalf("second lease took %+v, want the 4 left", v)
	}
	if v, _ := a.Take("rl:{ip:l}:r", 1, 1, iv, 10); v.OK || v.Taken != 0 {
		t.Fatalf("empty budget: %+v", v)
	}
}

// A connection that died while idle (Redis restarted between two calls) is
// dialled again within the same call, not reported as a failure.
func TestRestartBetweenCallsIsNotAFailure(t *testing.T) {
	srv := redistest.Start(t)
	a := open(t, srv, Config{})
	a.PutAnswer([]byte("k"), []byte(`"v"`))
	eventually(t, "answer stored", func() bool { return a.GetAnswers([][]byte{[]byte("k")})[0] != nil })
	srv.Kill()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if v, err := a.Take("rl:{ip:r}:r", 1, 1, time.Second, 5); err != nil || !v.OK {
		t.Fatalf("Take after a restart: %+v %v", v, err)
	}
	if got := a.GetAnswers([][]byte{[]byte("k")}); got[0] != nil {
		t.Fatalf("a restarted Redis (no persistence) still had %q", got[0])
	}
	if n := testutil.ToFloat64(a.errs[opIndex(OpRateLimit)]) + testutil.ToFloat64(a.errs[opIndex(OpCacheGet)]); n != 0 {
		t.Fatalf("%v errors counted for calls that succeeded on a new connection", n)
	}
}
