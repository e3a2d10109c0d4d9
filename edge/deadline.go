package edge

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Client connections get their seconds-long deadlines from a sweeper instead
// of the runtime's timers. fasthttp moves a connection's deadlines four times
// per request (idle, headers, body, answer); each move re-arms a runtime
// timer, and on a virtual machine, where arming a timer and waking a thread
// are expensive, that was a tenth of the edge's CPU per request (docs/
// performance.md). A deadline further away than lazyHorizon is only
// recorded; the sweeper, every sweepEvery, sets the real deadline of a
// connection whose recorded one has passed, which fails its pending and
// later I/O exactly as the deadline would have, at most sweepEvery late.
// Nearer deadlines (a websocket's one-second write bound, a deadline in the
// past to interrupt a read, a test's short timeout) go to the socket at once.
// Time is counted on the monotonic clock, as the runtime counts deadlines: a
// step of the wall clock neither fires nor postpones them.
const (
	sweepEvery  = 100 * time.Millisecond
	lazyHorizon = 2 * time.Second
)

// lazyListener hands out lazyConns and runs their sweeper while it is open
// or any of its connections is.
type lazyListener struct {
	net.Listener
	base  time.Time // the monotonic origin of due and now
	conns sync.Map  // *lazyConn → struct{}
	// open counts connections not yet closed, and a call in Accept (whose
	// connection is not registered yet), so the sweeper cannot end while one
	// is on its way.
	open   atomic.Int64
	closed atomic.Bool
	now    atomic.Int64 // since base, at the last sweep
}

func newLazyListener(ln net.Listener) *lazyListener {
	l := lazyListenerOn(ln)
	go l.sweep()
	return l
}

// lazyListenerOn is a lazyListener without its sweeper (tests sweep by hand).
func lazyListenerOn(ln net.Listener) *lazyListener {
	return &lazyListener{Listener: ln, base: time.Now()}
}

// since is t on the sweeper's clock: nanoseconds after base (monotonic when t
// carries a monotonic reading, as time.Now().Add(d) does).
func (l *lazyListener) since(t time.Time) int64 { return int64(t.Sub(l.base)) }

func (l *lazyListener) Accept() (net.Conn, error) {
	l.open.Add(1)
	conn, err := l.Listener.Accept()
	if err != nil {
		l.open.Add(-1)
		return nil, err
	}
	c := &lazyConn{socketConn: socketConn{conn}, l: l}
	l.conns.Store(c, struct{}{})
	return c, nil
}

func (l *lazyListener) Close() error {
	l.closed.Store(true)
	return l.Listener.Close()
}

func (l *lazyListener) sweep() {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for range t.C {
		if l.sweepAt(l.since(time.Now())) {
			return
		}
	}
}

// sweepAt fires the recorded deadlines that have passed by now and says
// whether the sweeper is done: nothing left to watch, and a new listener
// brings its own sweeper.
func (l *lazyListener) sweepAt(now int64) (done bool) {
	l.now.Store(now)
	l.conns.Range(func(k, _ any) bool {
		k.(*lazyConn).expire(now)
		return true
	})
	return l.closed.Load() && l.open.Load() == 0
}

// lazyConn records far deadlines and sets near ones (see sweepEvery).
type lazyConn struct {
	socketConn
	l           *lazyListener
	read, write lazyDeadline
	closeOnce   sync.Once
}

// lazyDeadline is one direction's deadline: due (on the listener's clock, 0:
// none) is the recorded far deadline; onSocket says a real one is set.
type lazyDeadline struct {
	mu       sync.Mutex
	due      atomic.Int64
	onSocket bool
}

func (c *lazyConn) SetReadDeadline(t time.Time) error {
	return c.read.set(c.l, t, c.Conn.SetReadDeadline)
}

func (c *lazyConn) SetWriteDeadline(t time.Time) error {
	return c.write.set(c.l, t, c.Conn.SetWriteDeadline)
}

func (c *lazyConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

func (d *lazyDeadline) set(l *lazyListener, t time.Time, onSocket func(time.Time) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// l.now lags real time by up to sweepEvery, so a deadline taken as far
	// is at least lazyHorizon - sweepEvery away.
	if t.IsZero() || l.since(t)-l.now.Load() > int64(lazyHorizon) {
		due := int64(0) // none
		if !t.IsZero() {
			due = l.since(t) // > lazyHorizon: never 0
		}
		d.due.Store(due)
		if d.onSocket {
			d.onSocket = false
			return onSocket(time.Time{})
		}
		return nil
	}
	d.due.Store(0)
	d.onSocket = true
	return onSocket(t)
}

// longAgo is a deadline in the past: I/O fails at once.
var longAgo = time.Unix(1, 0)

// fire sets a recorded deadline that has passed on the socket.
func (d *lazyDeadline) fire(now int64, onSocket func(time.Time) error) {
	due := d.due.Load()
	if due == 0 || due > now {
		return
	}
	d.mu.Lock()
	if d.due.Load() == due { // not moved meanwhile
		d.due.Store(0)
		d.onSocket = true
		_ = onSocket(longAgo) // not due itself: the sweep decided it has passed
	}
	d.mu.Unlock()
}

func (c *lazyConn) expire(now int64) {
	c.read.fire(now, c.Conn.SetReadDeadline)
	c.write.fire(now, c.Conn.SetWriteDeadline)
}

func (c *lazyConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.l.conns.Delete(c)
		c.l.open.Add(-1)
	})
	return err
}
