package ratelimit

import (
	"sync/atomic"
	"time"
)

// A region of several replicas must give a client one budget, not one per
// replica. With a Shared store (package redisstate: GCRA in a Lua script on
// Redis) each admitted call costs one round trip to the store; the local
// token buckets are then used only when the store fails and on_error is
// "local".
//
// GCRA (the generic cell rate algorithm) keeps one number per budget: the
// theoretical arrival time (TAT) of the next call at the budget's rate. A
// call of n tokens is admitted when TAT + n×interval − now ≤ burst×interval,
// and moves TAT by n×interval; a refused call changes nothing. TAT only ever
// moves forward, so the last TAT a replica heard from the store is a lower
// bound of the real one: a call this bound already refuses would be refused
// by the store as well. That is the local pre-check: a client far over its
// budget is refused here without a round trip.
//
// A client whose budget is large (an API key allowed thousands of calls a
// second) would cost a round trip per call for nothing; a replica therefore
// takes a little more than the call needs, up to leaseWindow of the budget's
// rate (never more than a tenth of its burst), and spends the rest on the
// client's next calls without asking. Leased tokens come out of the shared
// budget like any others, so the region never admits more than one budget;
// what a replica leased and its client never used (at most leaseWindow's
// worth per replica, gone after leaseTTL) is admitted by nobody. At the
// default 50 calls/s the lease is empty: every call is one round trip.

// Shared enforces budgets across replicas.
type Shared interface {
	// Take charges need tokens to the budget key, of one token per interval
	// with a burst of burst tokens, and up to want tokens when the budget
	// has them (the caller leases the rest).
	Take(key string, need, want int, interval time.Duration, burst int) (SharedVerdict, error)
	// Available is false while the store is known to be unreachable, so
	// callers apply on_error without waiting for a timeout.
	Available() bool
}

// SharedVerdict is the store's answer to Take.
type SharedVerdict struct {
	OK bool
	// Taken is the tokens charged (need, or more up to want).
	Taken int
	// Ahead: after the call the budget's TAT lies this far past the store's
	// clock (0: the bucket is full).
	Ahead time.Duration
	// RetryAfter: for a refused call, when the same call would be admitted.
	RetryAfter time.Duration
}

// SetShared makes the limiter enforce budgets through s. onErrorLocal says
// what happens when s cannot answer (down, or slower than its timeout):
// true falls back to this replica's own buckets (clients keep being served,
// at up to one budget per replica); false refuses with 503 and Retry-After
// (ReasonUnavailable). Call it before the limiter is used.
func (l *Limiter) SetShared(s Shared, onErrorLocal bool) {
	l.shared, l.sharedLocal = s, onErrorLocal
}

// sharedBuckets is what a replica keeps of a client's shared budgets: their
// keys in the store, and the last theoretical arrival times it learned.
type sharedBuckets struct {
	keys       [2]string
	tat        [2]atomic.Int64
	lease      [2]atomic.Int64 // tokens taken from the store and not spent yet
	leaseUntil [2]atomic.Int64 // unix ns; an older lease is dropped
}

const (
	leaseWindow = 10 * time.Millisecond
	leaseTTL    = time.Second
)

// leaseExtra is how many tokens beyond a call's own a replica asks for.
func leaseExtra(rps float64, burst int) int {
	return min(int(rps*leaseWindow.Seconds()), burst/10)
}

// spendLease takes n leased tokens; false when the lease has fewer or expired.
func (sb *sharedBuckets) spendLease(i, n int, nowNS int64) bool {
	if sb.lease[i].Load() < int64(n) {
		return false
	}
	if sb.leaseUntil[i].Load() < nowNS {
		sb.lease[i].Store(0)
		return false
	}
	for {
		cur := sb.lease[i].Load()
		if cur < int64(n) {
			return false
		}
		if sb.lease[i].CompareAndSwap(cur, cur-int64(n)) {
			return true
		}
	}
}

// sharedKeys names a client's read and write budgets in the store.
func sharedKeys(k clientKey) [2]string {
	id := "ip:" + k.addr.String()
	if k.key != "" {
		id = "key:" + k.key
	}
	return [2]string{"rl:{" + id + "}:r", "rl:{" + id + "}:w"}
}

// takeShared charges n tokens (already capped at burst where a call must be)
// to c's budget in the shared store.
func (l *Limiter) takeShared(c Client, b *buckets, n int, write bool, burst int) Decision {
	rps, i := c.tier.rps, 0
	if write {
		rps, i = c.tier.writeRPS, 1
	}
	// The store keeps time in whole microseconds (Lua numbers are doubles:
	// nanoseconds since 1970 would lose precision), and so must the
	// pre-check: a budget over a million calls a second counts as a million.
	interval := max(time.Duration(float64(time.Second)/float64(rps)).Round(time.Microsecond), time.Microsecond)
	now := l.now()
	nowNS := now.UnixNano()
	tol := int64(burst) * int64(interval)
	sb := b.shared
	if sb.spendLease(i, n, nowNS) {
		return Decision{OK: true}
	}
	if over := max(sb.tat[i].Load()-nowNS, 0) + int64(n)*int64(interval) - tol; over > 0 {
		d := l.reject(c, rRate)
		d.RetryAfter = time.Duration(over)
		return d
	}
	if !l.shared.Available() {
		return l.storeFailed(c, b, n, write)
	}
	v, err := l.shared.Take(sb.keys[i], n, n+leaseExtra(float64(rps), burst), interval, burst)
	if err != nil {
		return l.storeFailed(c, b, n, write)
	}
	// The store's "now" came after ours: now + Ahead is at most the real TAT.
	raise(&sb.tat[i], nowNS+int64(v.Ahead))
	if v.OK {
		if extra := v.Taken - n; extra > 0 {
			sb.leaseUntil[i].Store(nowNS + int64(leaseTTL))
			sb.lease[i].Add(int64(extra))
		}
		return Decision{OK: true}
	}
	d := l.reject(c, rRate)
	d.RetryAfter = v.RetryAfter
	return d
}

// storeFailed applies on_error when the shared store could not decide.
func (l *Limiter) storeFailed(c Client, b *buckets, n int, write bool) Decision {
	if !l.sharedLocal {
		d := l.reject(c, rUnavailable)
		d.RetryAfter = time.Second
		return d
	}
	lim := b.read
	if write {
		lim = b.write
	}
	return l.takeLocal(c, lim, n)
}

// raise stores v in a unless a already holds more.
func raise(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}
