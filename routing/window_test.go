package routing

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable time source safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func near(got, want, tol float64) bool   { return math.Abs(got-want) <= tol*want }
func ms(d time.Duration) float64         { return float64(d) / float64(time.Millisecond) }
func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if !near(got, want, tol) {
		t.Errorf("%s = %v, want %v ±%.0f%%", what, got, want, tol*100)
	}
}

func TestBucketsCoverEveryLatencyWithinSixPercent(t *testing.T) {
	prev := -1
	for us := uint64(0); us < 200_000_000; us = us*21/20 + 1 {
		b := bucket(us)
		if b < prev || b >= buckets {
			t.Fatalf("bucket(%d) = %d after %d", us, b, prev)
		}
		prev = b
		if v := bucketValue(b); us < 1<<maxExp && us >= sub && !near(v, float64(us), 1.0/16) {
			t.Fatalf("bucket(%d) reports %v", us, v)
		}
	}
}

func TestWindowPercentilesRatesAndErrors(t *testing.T) {
	clk := newFakeClock()
	w := newWindowClock(clk.Now)
	clk.Add(2 * time.Minute) // an old window: the span is a full minute
	for i := 1; i <= 600; i++ {
		// 600 requests over the last minute, latencies 1..100 ms, 1 in 10 an error.
		if i%10 == 1 && i > 1 {
			clk.Add(time.Second)
		}
		w.Observe(time.Duration(i%100+1)*time.Millisecond, i%10 == 0)
	}
	clk.Add(500 * time.Millisecond) // mid-second: the window spans 59.5 s
	st := w.Stats()
	if st.Requests != 600 || st.Errors != 60 {
		t.Fatalf("counted %d requests, %d errors", st.Requests, st.Errors)
	}
	within(t, "rate", st.Rate, 10, 0.02)
	within(t, "error rate", st.ErrorRate, 0.1, 0)
	within(t, "p50 ms", ms(st.P50), 50, 0.07)
	within(t, "p99 ms", ms(st.P99), 99, 0.07)

	clk.Add(61 * time.Second)
	if st := w.Stats(); st.Requests != 0 || st.Rate != 0 || st.P99 != 0 {
		t.Fatalf("a minute later the window still holds %+v", st)
	}
	w.Observe(3*time.Millisecond, false)
	if st := w.Stats(); st.Requests != 1 || !near(ms(st.P50), 3, 0.07) {
		t.Fatalf("after reuse of old slots: %+v", st)
	}
}

func TestAYoungWindowRatesOverItsAge(t *testing.T) {
	clk := newFakeClock()
	w := newWindowClock(clk.Now)
	for range 100 {
		w.Observe(time.Millisecond, false)
	}
	clk.Add(10 * time.Second)
	within(t, "rate of a 10 s old window with 100 requests", w.Stats().Rate, 10, 0.001)
}

func TestAStalledObserverDoesNotWipeNewerSeconds(t *testing.T) {
	clk := newFakeClock()
	w := newWindowClock(clk.Now)
	old := clk.Now()
	clk.Add(slotCount * time.Second) // same slot, 64 s later
	w.Observe(time.Millisecond, false)
	w.now = func() time.Time { return old }
	w.Observe(time.Millisecond, true)
	w.now = clk.Now
	if st := w.Stats(); st.Requests != 1 || st.Errors != 0 {
		t.Fatalf("stale sample counted or wiped the slot: %+v", st)
	}
}

func TestWindowUnderConcurrentObserversAndRotation(t *testing.T) {
	clk := newFakeClock()
	w := newWindowClock(clk.Now)
	const workers, each = 8, 5000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() { // seconds tick while the workers record: slots rotate under load
		for i := 0; i < 30; i++ {
			select {
			case <-stop:
				return
			default:
			}
			clk.Add(time.Second)
			time.Sleep(time.Millisecond)
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				w.Observe(time.Duration(i%50)*time.Millisecond, i%7 == 0)
			}
		}()
	}
	wg.Wait()
	close(stop)
	st := w.Stats()
	if st.Requests != workers*each {
		t.Fatalf("counted %d of %d", st.Requests, workers*each)
	}
}

// BenchmarkWindowObserve is the hot-path cost; compare it with
// BenchmarkTimeNow, the clock read it cannot avoid, as a ratio.
func BenchmarkWindowObserve(b *testing.B) {
	w := NewWindow()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.Observe(time.Duration(i&1023)*time.Microsecond, i&63 == 0)
	}
}

func BenchmarkWindowObserveParallel(b *testing.B) {
	w := NewWindow()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			w.Observe(time.Duration(i&1023)*time.Microsecond, i&63 == 0)
			i++
		}
	})
}

func BenchmarkTimeNow(b *testing.B) {
	var sink int64
	for b.Loop() {
		sink += time.Now().Unix()
	}
	_ = sink
}

func BenchmarkWindowStats(b *testing.B) {
	w := NewWindow()
	for i := range 100000 {
		w.Observe(time.Duration(i&1023)*time.Microsecond, false)
	}
	for b.Loop() {
		_ = w.Stats()
	}
}
