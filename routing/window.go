package routing

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Window records request outcomes for the last minute: rate, error rate
// and latency percentiles for /region.json. Observe is on the request path,
// so it is a handful of atomic adds: per-second slots, each with a
// log-linear latency histogram (8 buckets per power of two, so a reported
// percentile is within about 6% of the true one). A slot is reset, under a
// mutex, only by the first request of a new second.
type Window struct {
	slots [slotCount]slot
	mu    sync.Mutex // taken only to reset a slot for a new second
	now   func() time.Time
	start time.Time
}

const (
	slotCount  = 64 // seconds kept; a power of two so the slot is sec&63
	windowSecs = 60
	subBits    = 3 // 8 sub-buckets per power of two
	sub        = 1 << subBits
	maxExp     = 27 // 2^27 µs ≈ 134 s: slower is counted in the top bucket
	buckets    = (maxExp-subBits+1)*sub + sub
)

type slot struct {
	sec    atomic.Int64
	count  atomic.Uint64
	errors atomic.Uint64
	hist   [buckets]atomic.Uint32
}

// NewWindow returns an empty window.
func NewWindow() *Window { return newWindowClock(time.Now) }

func newWindowClock(now func() time.Time) *Window {
	w := &Window{now: now, start: now()}
	for i := range w.slots {
		w.slots[i].sec.Store(-1)
	}
	return w
}

// bucket maps microseconds to a histogram bucket: exact below 8 µs, then
// 8 linear steps per power of two.
func bucket(us uint64) int {
	if us < sub {
		return int(us)
	}
	exp := bits.Len64(us) - 1
	if exp > maxExp {
		return buckets - 1
	}
	mant := (us >> (exp - subBits)) & (sub - 1)
	return (exp-subBits+1)*sub + int(mant)
}

// bucketValue is the middle of a bucket, in microseconds.
func bucketValue(i int) float64 {
	if i < sub {
		return float64(i)
	}
	exp := i/sub + subBits - 1
	mant := uint64(i % sub)
	width := uint64(1) << (exp - subBits)
	return float64((sub+mant)*width) + float64(width)/2
}

// Observe records one request. Negative latencies count as zero.
func (w *Window) Observe(latency time.Duration, isError bool) {
	sec := w.now().Unix()
	s := &w.slots[sec&(slotCount-1)]
	if s.sec.Load() != sec && !w.rotate(s, sec) {
		return
	}
	s.count.Add(1)
	if isError {
		s.errors.Add(1)
	}
	s.hist[bucket(uint64(max(latency, 0)/time.Microsecond))].Add(1)
}

// rotate claims a slot for a new second; false when the slot already holds
// a newer second (a caller stalled for over a minute: its sample is stale).
func (w *Window) rotate(s *slot, sec int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	cur := s.sec.Load()
	if cur == sec {
		return true
	}
	if cur > sec {
		return false
	}
	s.count.Store(0)
	s.errors.Store(0)
	for i := range s.hist {
		s.hist[i].Store(0)
	}
	s.sec.Store(sec)
	return true
}

// WindowStats is the last minute at a glance.
type WindowStats struct {
	Requests  uint64
	Errors    uint64
	Span      time.Duration // time the figures cover: a minute, less while the window is young
	Rate      float64       // requests per second
	ErrorRate float64       // errors / requests; 0 without requests
	P50, P99  time.Duration // 0 without requests
}

// Stats sums the last 60 seconds (the current one included, so far).
func (w *Window) Stats() WindowStats {
	now := w.now()
	nowSec := now.Unix()
	var st WindowStats
	var hist [buckets]uint64
	for i := range w.slots {
		s := &w.slots[i]
		sec := s.sec.Load()
		if sec <= nowSec-windowSecs || sec > nowSec {
			continue
		}
		st.Requests += s.count.Load()
		st.Errors += s.errors.Load()
		for b := range hist {
			hist[b] += uint64(s.hist[b].Load())
		}
	}
	from := time.Unix(nowSec-windowSecs+1, 0)
	if w.start.After(from) {
		from = w.start
	}
	st.Span = max(now.Sub(from), time.Second)
	if st.Requests == 0 {
		return st
	}
	st.Rate = float64(st.Requests) / st.Span.Seconds()
	st.ErrorRate = float64(st.Errors) / float64(st.Requests)
	st.P50 = percentile(&hist, 0.50)
	st.P99 = percentile(&hist, 0.99)
	return st
}

func percentile(hist *[buckets]uint64, q float64) time.Duration {
	var total uint64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return 0
	}
	// The smallest value with at least q of the samples at or below it.
	rank := max(uint64(math.Ceil(q*float64(total))), 1)
	var seen uint64
	for i, n := range hist {
		seen += n
		if seen >= rank {
			return time.Duration(bucketValue(i) * float64(time.Microsecond))
		}
	}
	return time.Duration(bucketValue(buckets-1) * float64(time.Microsecond))
}
