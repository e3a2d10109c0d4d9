package wsbridge

import (
	"encoding/binary"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// The write side of the bridge. Every notification is framed once (its
// websocket frame bytes, shared by every client) and written by a few
// workers, one per core, straight to each client's socket: no goroutine per
// client waits to write, nothing is copied per client, and a write is one
// system call, as in a tight loop over the sockets. A socket whose kernel
// buffer is full is not waited for: its client gets a goroutine of its own
// until it has caught up (or is cut off with 1008 when its queue fills), so
// one slow reader never delays the others on its worker.
//
// After the handshake only the client's worker (or that goroutine) writes to
// its socket, pings, pongs and the close frame included, so frames never
// interleave; gorilla's Conn is used for reading only.

// textFrame frames a text message once, as a server sends it (unmasked).
func textFrame(payload []byte) []byte {
	return appendFrame(make([]byte, 0, len(payload)+10), websocket.TextMessage, payload)
}

func appendFrame(dst []byte, op int, payload []byte) []byte {
	dst = append(dst, 0x80|byte(op)) // FIN
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xffff:
		dst = append(dst, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

var pingFrame = appendFrame(nil, websocket.PingMessage, nil)

// closeFrame is a close frame with code and reason (1005: none, as received).
func closeFrame(code int, reason string) []byte {
	if code == websocket.CloseNoStatusReceived {
		return appendFrame(nil, websocket.CloseMessage, nil)
	}
	return appendFrame(nil, websocket.CloseMessage, websocket.FormatCloseMessage(code, reason))
}

// worker writes for the clients assigned to it.
type worker struct {
	b     *Bridge
	wake  chan struct{} // cap 1
	mu    sync.Mutex
	ready []*client // clients with something to write, in arrival order
	spare []*client
	all   map[*client]time.Time // every client, with when it was last pinged
}

type fanout struct {
	workers []*worker
	mu      sync.Mutex
	next    int
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func newFanout(b *Bridge) *fanout {
	f := &fanout{stop: make(chan struct{})}
	for range runtime.GOMAXPROCS(0) {
		w := &worker{b: b, wake: make(chan struct{}, 1), all: map[*client]time.Time{}}
		f.workers = append(f.workers, w)
		f.wg.Go(func() { w.run(f.stop) })
	}
	return f
}

// assign gives c a worker, round robin.
func (f *fanout) assign(c *client) {
	f.mu.Lock()
	w := f.workers[f.next%len(f.workers)]
	f.next++
	f.mu.Unlock()
	c.w = w
	w.mu.Lock()
	w.all[c] = time.Now()
	w.mu.Unlock()
}

func (f *fanout) close() {
	f.once.Do(func() { close(f.stop) })
	f.wg.Wait()
}

// schedule puts clients (already marked scheduled) on w's list.
func (w *worker) schedule(cs ...*client) {
	w.mu.Lock()
	w.ready = append(w.ready, cs...)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) run(stop <-chan struct{}) {
	// Clients keep the ping interval they connected with (a reload may
	// change it for new ones): the worker looks every second at most.
	ping := time.NewTicker(min(w.b.cfg.PingInterval, time.Second))
	defer ping.Stop()
	for {
		select {
		case <-stop:
			return
		case <-w.wake:
		case now := <-ping.C:
			w.pingAll(now)
		}
		for {
			// Two lists take turns: schedulers append to one while this
			// goroutine writes the other.
			w.mu.Lock()
			batch := w.ready
			w.ready = w.spare[:0]
			w.mu.Unlock()
			if len(batch) == 0 {
				w.spare = batch
				break
			}
			relayed := 0
			for _, c := range batch {
				relayed += c.flush(false)
			}
			w.b.metrics.relayed.Add(float64(relayed))
			clear(batch)
			w.spare = batch
		}
	}
}

// pingAll asks the clients of w whose ping interval has passed for a ping
// (goloop never pings; the bridge does, so dead peers are noticed through
// IdleTimeout).
func (w *worker) pingAll(now time.Time) {
	w.mu.Lock()
	for c, last := range w.all {
		if now.Sub(last) < c.cfg.PingInterval {
			continue
		}
		w.all[c] = now
		c.mu.Lock()
		c.pingDue = true
		if !c.scheduled {
			c.scheduled = true
			w.ready = append(w.ready, c)
		}
		c.mu.Unlock()
	}
	w.mu.Unlock()
}

func (w *worker) forget(c *client) {
	w.mu.Lock()
	delete(w.all, c)
	w.mu.Unlock()
}

// enqueue adds e to c's queue and has it written; false: the queue is full.
// A client being closed takes nothing more (true: nothing to report).
func (c *client) enqueue(e *entry) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return true
	}
	if len(c.pending)-c.head >= c.cfg.SendQueue {
		c.mu.Unlock()
		return false
	}
	c.pending = append(c.pending, e)
	sched := !c.scheduled
	c.scheduled = true
	c.mu.Unlock()
	if sched {
		c.w.schedule(c)
	}
	return true
}

// room is how many notifications c's queue can still take.
func (c *client) room() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.SendQueue - (len(c.pending) - c.head)
}

// next takes what is due for c: the close, a pong, a ping, or the next
// notification; nil when nothing (c is then no longer scheduled).
func (c *client) next() (frame []byte, e *entry, closing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closing:
		return nil, nil, true
	case c.pong != nil:
		frame, c.pong = c.pong, nil
	case c.pingDue:
		c.pingDue = false
		frame = pingFrame
	case c.head < len(c.pending):
		e = c.pending[c.head]
		c.pending[c.head] = nil
		c.head++
		frame = e.frame
		if c.head == len(c.pending) {
			c.pending, c.head = c.pending[:0], 0
			select {
			case c.drained <- struct{}{}:
			default:
			}
		}
	default:
		c.scheduled = false
	}
	return frame, e, false
}

// flush writes what is due for c and returns how many notifications it
// wrote. In a worker (blocking false) a socket that cannot take a whole
// frame hands c, with the rest of that frame, to a goroutine of its own.
func (c *client) flush(blocking bool) int {
	relayed := 0
	for {
		frame, e, closing := c.next()
		if closing {
			go c.finish()
			return relayed
		}
		if frame == nil {
			return relayed
		}
		n, err := c.write(frame, blocking)
		if err != nil {
			c.kick(0, "") // the peer is gone: no close frame
			continue
		}
		if n < len(frame) {
			go c.catchUpWrites(frame[n:], e)
			return relayed
		}
		if e != nil {
			relayed++
			if obs := c.b.relayObserver; obs != nil {
				obs(time.Since(e.recv))
			}
		}
	}
}

// catchUpWrites finishes a frame the socket could not take at once and
// writes on with blocking writes until c's queue is empty, then hands c
// back to its worker.
func (c *client) catchUpWrites(rest []byte, e *entry) {
	if _, err := c.write(rest, true); err != nil {
		c.kick(0, "")
	} else if e != nil {
		c.b.metrics.relayed.Inc()
		if obs := c.b.relayObserver; obs != nil {
			obs(time.Since(e.recv))
		}
	}
	c.b.metrics.relayed.Add(float64(c.flush(true)))
}

// write writes b to the socket. Not blocking, it returns how much the
// kernel took at once (a short count, no error, when its buffer is full).
func (c *client) write(b []byte, blocking bool) (int, error) {
	if blocking || c.rc == nil {
		_ = c.raw.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
		n, err := c.raw.Write(b)
		if c.rc != nil {
			// The bound is this write's: the non-blocking writes that
			// follow would fail once it passed.
			_ = c.raw.SetWriteDeadline(time.Time{})
		}
		return n, err
	}
	if c.writeFn == nil {
		c.writeFn = c.writeFd // bound once per client: no allocation per write
	}
	c.wb, c.wn, c.werr = b, 0, nil
	err := c.rc.Write(c.writeFn)
	n, werr := c.wn, c.werr
	c.wb = nil
	if err != nil {
		return n, err
	}
	return n, werr
}

// writeFd writes c.wb without blocking: as much as the socket takes now.
func (c *client) writeFd(fd uintptr) bool {
	for c.wn < len(c.wb) {
		m, err := syscall.Write(int(fd), c.wb[c.wn:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			if err != syscall.EAGAIN {
				c.werr = err
			}
			return true // never wait here: the caller decides
		}
		c.wn += m
	}
	return true
}

// finish writes the close frame (if any) and closes the socket. It runs on
// its own goroutine: a client that does not read must not hold a worker.
func (c *client) finish() {
	if c.code != 0 {
		_ = c.raw.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.raw.Write(closeFrame(c.code, c.reason))
	}
	_ = c.raw.Close()
	if c.w != nil {
		c.w.forget(c)
	}
	c.goneOnce.Do(func() { close(c.gone) })
}

// kick ends the client with a close frame (code 0: none, the peer is gone).
// Whoever writes for c next writes the close frame and closes the socket.
func (c *client) kick(code int, reason string) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closing, c.code, c.reason = true, code, reason
		sched := !c.scheduled
		c.scheduled = true
		c.mu.Unlock()
		close(c.done)
		// A goroutine stuck writing to a full socket gets a moment, not more.
		_ = c.raw.SetWriteDeadline(time.Now().Add(time.Second))
		if sched {
			if c.w == nil {
				go c.finish()
				return
			}
			c.w.schedule(c)
		}
	})
}

// rawConnOf is the socket's raw access for writes that never block, when
// the connection is a plain socket (or passes one through).
func rawConnOf(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
