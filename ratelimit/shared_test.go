package ratelimit_test

import (
	"io"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/redisstate"
	"github.com/icon-edge/icon-edge/redisstate/redistest"
	"github.com/prometheus/client_golang/prometheus"
)

// countingStore passes calls to the real Redis store and counts them.
type countingStore struct {
	*redisstate.Client
	takes atomic.Int64
}

func (s *countingStore) Take(key string, need, want int, interval time.Duration, burst int) (ratelimit.SharedVerdict, error) {
	s.takes.Add(1)
	return s.Client.Take(key, need, want, interval, burst)
}

// replica is one edge's limiter with its own connection to the shared Redis.
func replica(t *testing.T, srv *redistest.Server, cfg ratelimit.Config, onErrorLocal bool) (*ratelimit.Limiter, *countingStore) {
	t.Helper()
	rc, err := redisstate.Open(redisstate.Config{URL: srv.URL(), KeyPrefix: "rl-test:", Timeout: 500 * time.Millisecond,
		HealthInterval: 20 * time.Millisecond}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	deadline := time.Now().Add(10 * time.Second)
	for !rc.Available() {
		if time.Now().After(deadline) {
			t.Fatal("redis not available")
		}
		time.Sleep(5 * time.Millisecond)
	}
	l, err := ratelimit.New(cfg, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	store := &countingStore{Client: rc}
	l.SetShared(store, onErrorLocal)
	return l, store
}

var client = netip.MustParseAddr("198.51.100.7")

func TestReplicasShareOneBudget(t *testing.T) {
	srv := redistest.Start(t)
	cfg := ratelimit.Config{Enabled: true, RequestsPerSecond: 1, Burst: 20, WriteRequestsPerSecond: 1, WriteBurst: 4}
	var reps []*ratelimit.Limiter
	for range 3 {
		l, _ := replica(t, srv, cfg, true)
		reps = append(reps, l)
	}
	admitted, writes := 0, 0
	start := time.Now()
	for i := range 60 { // three budgets' worth, spread over the replicas
		l := reps[i%3]
		if l.Admit(l.Identify(client, nil), "icx_getLastBlock", false).OK {
			admitted++
		}
		if l.Admit(l.Identify(client, nil), "icx_sendTransaction", true).OK {
			writes++
		}
	}
	refill := int(time.Since(start).Seconds()) + 1 // at 1/s, at most this many more
	if admitted < 20 || admitted > 20+refill {
		t.Fatalf("three replicas admitted %d reads from one budget of 20", admitted)
	}
	if writes < 4 || writes > 4+refill {
		t.Fatalf("three replicas admitted %d writes from one write budget of 4", writes)
	}
	other := reps[1].Identify(netip.MustParseAddr("198.51.100.8"), nil)
	if !reps[1].Admit(other, "icx_getLastBlock", false).OK {
		t.Fatal("another client was refused: budgets are per client")
	}
}

func TestClientFarOverItsBudgetCostsNoRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	l, store := replica(t, srv, ratelimit.Config{Enabled: true, RequestsPerSecond: 0.5, Burst: 3}, true)
	c := l.Identify(client, nil)
	for range 3 {
		if !l.Admit(c, "icx_getLastBlock", false).OK {
			t.Fatal("refused within the burst")
		}
	}
	before := store.takes.Load()
	for range 100 {
		d := l.Admit(c, "icx_getLastBlock", false)
		if d.OK || d.HTTPStatus() != 429 || d.RetryAfter <= 0 {
			t.Fatalf("over the budget: %+v", d)
		}
	}
	if n := store.takes.Load() - before; n > 0 {
		t.Fatalf("%d of 100 refusals asked Redis; the local pre-check must answer them", n)
	}
}

func TestOnErrorLocalKeepsServingFromThisReplica(t *testing.T) {
	srv := redistest.Start(t)
	l, _ := replica(t, srv, ratelimit.Config{Enabled: true, RequestsPerSecond: 1, Burst: 5}, true)
	c := l.Identify(client, nil)
	if !l.Admit(c, "icx_getLastBlock", false).OK {
		t.Fatal("refused with Redis up")
	}
	srv.Kill()
	admitted := 0
	for range 20 {
		d := l.Admit(c, "icx_getLastBlock", false)
		if d.OK {
			admitted++
		} else if d.HTTPStatus() != 429 {
			t.Fatalf("on_error local answered %+v", d)
		}
	}
	// This replica's own bucket: its full burst, whatever Redis had counted.
	if admitted < 5 || admitted > 6 {
		t.Fatalf("admitted %d with Redis down; want this replica's burst of 5", admitted)
	}
}

func TestOnErrorDenyRefusesWith503(t *testing.T) {
	srv := redistest.Start(t)
	l, _ := replica(t, srv, ratelimit.Config{Enabled: true, RequestsPerSecond: 0.1, Burst: 2}, false)
	over, fresh := l.Identify(client, nil), l.Identify(netip.MustParseAddr("198.51.100.9"), nil)
	for range 2 {
		l.Admit(over, "icx_getLastBlock", false)
	}
	srv.Kill()
	for range 10 {
		d := l.Admit(fresh, "icx_getLastBlock", false)
		if d.OK || d.Reason != ratelimit.ReasonUnavailable || d.HTTPStatus() != 503 || d.RetryAfterSeconds() != 1 {
			t.Fatalf("on_error deny with Redis down: %+v", d)
		}
	}
	// A client this replica knows to be over its budget still gets the 429 it earned.
	if d := l.Admit(over, "icx_getLastBlock", false); d.HTTPStatus() != 429 {
		t.Fatalf("known over-budget client with Redis down: %+v", d)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !l.Admit(fresh, "icx_getLastBlock", false).OK {
		if time.Now().After(deadline) {
			t.Fatal("still refused after Redis came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client with a large budget leases tokens: far fewer round trips than
// calls, and the region still never admits more than one budget.
func TestLeasesCutRoundTripsButNotTheBudget(t *testing.T) {
	srv := redistest.Start(t)
	cfg := ratelimit.Config{Enabled: true, RequestsPerSecond: 1000, Burst: 100} // leases of 10 tokens
	var reps []*ratelimit.Limiter
	var stores []*countingStore
	for range 3 {
		l, s := replica(t, srv, cfg, true)
		reps, stores = append(reps, l), append(stores, s)
	}
	admitted := 0
	start := time.Now()
	for i := range 900 {
		l := reps[i%3]
		if l.Admit(l.Identify(client, nil), "icx_getLastBlock", false).OK {
			admitted++
		}
	}
	elapsed := time.Since(start)
	budget := 100 + 1000*elapsed.Seconds()
	takes := stores[0].takes.Load() + stores[1].takes.Load() + stores[2].takes.Load()
	t.Logf("admitted %d of 900 in %v (one budget: %.0f) with %d round trips", admitted, elapsed, budget, takes)
	if float64(admitted) > budget+1 {
		t.Fatalf("admitted %d, over one budget of %.0f", admitted, budget)
	}
	// Unused leases are what may go missing; how many expire depends on how
	// fast this machine runs the loop, so only a gross loss fails here.
	if float64(admitted) < min(900, budget)/2 {
		t.Fatalf("admitted %d, want about %.0f", admitted, min(900, budget))
	}
	// Without leases every admitted call is a round trip (and refusals learned
	// from the store add some); leases of 10 must at least halve them.
	if takes*2 > int64(admitted) {
		t.Fatalf("%d round trips for %d admitted calls: leases did not cut them", takes, admitted)
	}
}
