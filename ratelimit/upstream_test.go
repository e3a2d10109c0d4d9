package ratelimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestUpstreamGuardShedsBeyondMaxWait(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewGuardMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// 50/s is one slot every 20 ms; waiting at most 100 ms lets about 5
	// queued requests through (plus the limiter's idle slack).
	const maxWait = 100 * time.Millisecond
	g := NewUpstreamGuard("node-a", 50, maxWait, m)
	const n = 60
	var ok, shed atomic.Int32
	var longest atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			got := g.Acquire(time.Time{})
			if d := time.Since(t0); int64(d) > longest.Load() {
				longest.Store(int64(d))
			}
			if got {
				ok.Add(1)
			} else {
				shed.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok.Load() == 0 || shed.Load() == 0 {
		t.Fatalf("admitted %d, shed %d of %d simultaneous requests", ok.Load(), shed.Load(), n)
	}
	// Slack of 10 plus about maxWait/20ms queued, with room for scheduling.
	if ok.Load() > 10+int32(maxWait/(20*time.Millisecond))+5 {
		t.Errorf("%d admitted: the guard did not bound the queue", ok.Load())
	}
	if uint64(shed.Load()) != g.Shed() || testutil.ToFloat64(m.shed.WithLabelValues("node-a")) != float64(shed.Load()) {
		t.Errorf("shed count %d, guard %d, metric %v", shed.Load(), g.Shed(), testutil.ToFloat64(m.shed.WithLabelValues("node-a")))
	}
	// Nobody was kept waiting unboundedly (generous: a loaded CI machine).
	if time.Duration(longest.Load()) > maxWait+2*time.Second {
		t.Errorf("a request waited %v", time.Duration(longest.Load()))
	}
	if g.Waiting() != 0 {
		t.Errorf("%d still waiting", g.Waiting())
	}
}

func TestUpstreamGuardPacesRequests(t *testing.T) {
	// Sequential callers are never shed, only paced: 30 requests at 100/s
	// with slack 10 take at least ~190 ms.
	g := NewUpstreamGuard("node-b", 100, time.Second, nil)
	t0 := time.Now()
	for i := 0; i < 30; i++ {
		if !g.Acquire(time.Now().Add(time.Second)) {
			t.Fatalf("request %d shed while alone", i)
		}
	}
	if d := time.Since(t0); d < 150*time.Millisecond {
		t.Errorf("30 requests at 100/s passed in %v: not paced", d)
	}
}

func TestUpstreamGuardDeadline(t *testing.T) {
	g := NewUpstreamGuard("node-c", 10, time.Second, nil)
	if g.Acquire(time.Now().Add(-time.Millisecond)) {
		t.Fatal("admitted past its deadline")
	}
	if g.Shed() != 1 {
		t.Fatal("not counted")
	}
	u := NewUpstreamGuard("node-d", 0, 0, nil)
	for i := 0; i < 1000; i++ {
		if !u.Acquire(time.Time{}) {
			t.Fatal("unlimited guard shed")
		}
	}
}
