package upstream

import (
	"bufio"
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icon-edge/icon-edge/internal/rawconn"
	"github.com/valyala/fasthttp"
)

// pipeline sends short reads to one node over a few connections with many
// requests in flight on each (HTTP/1.1 pipelining). Requests that arrive
// together leave in one write and their answers arrive in one read, so the
// edge makes a few system calls per batch of calls instead of two per call,
// and the node reads several requests per wake-up too.
//
// Only reads that the node answers at once may use it (Attempt.Pipelined:
// neither wait methods nor writes): answers come back in order, so a slow
// call holds up the calls behind it on its connection, and a broken
// connection fails every call on it — safe to resend only because they are
// reads. A write is never written to a pipelined connection.
//
// Answers are read straight into the caller's Response, as with HostClient:
// the node's bytes are copied once, from the socket into the buffer the
// client's answer is written from.
type pipeline struct {
	addr       string
	maxConns   int
	maxPending int
	maxBody    int
	maxIdle    time.Duration

	mu      sync.Mutex
	conns   []*pipeConn
	dialing bool // one caller at a time opens a connection
	closed  bool
}

// errPipeBroken fails the calls queued on a connection that broke; nothing
// says whether the node saw them (they are reads: another node may be asked).
var errPipeBroken = errors.New("pipelined connection to the node broke")

func newPipeline(addr string, maxConns, maxPending, maxBody int, maxIdle time.Duration) *pipeline {
	return &pipeline{addr: addr, maxConns: maxConns, maxPending: maxPending, maxBody: maxBody, maxIdle: maxIdle}
}

// do sends req and waits for its answer in resp until deadline. ok is false
// when every connection is full: the caller sends req another way (nothing
// was sent). A failed dial is returned as the dialer's error.
func (p *pipeline) do(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) (err error, ok bool) {
	c, err := p.pick(deadline)
	if err != nil {
		return err, true
	}
	if c == nil {
		return nil, false
	}
	call := acquireCall(resp, deadline)
	if !c.enqueue(req, call) {
		releaseCall(call)
		return nil, false // it died or filled up meanwhile: nothing was sent on it
	}
	return call.wait(), true
}

// pick returns the connection with the fewest calls in flight that has room,
// dialing a new one while fewer than maxConns exist and all have calls in
// flight. nil: all are full.
func (p *pipeline) pick(deadline time.Time) (*pipeConn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, nil
	}
	var best, open *pipeConn
	live := p.conns[:0]
	for _, c := range p.conns {
		if c.dead.Load() {
			continue
		}
		live = append(live, c)
		if best == nil || c.pending.Load() < best.pending.Load() {
			best = c
		}
		if open == nil && c.collecting.Load() && c.pending.Load() < int32(p.maxPending) {
			open = c
		}
	}
	if open != nil {
		// A write is about to leave on it: joining it costs no system
		// call, where the least busy connection would need a write of its own.
		clear(p.conns[len(live):])
		p.conns = live
		p.mu.Unlock()
		return open, nil
	}
	clear(p.conns[len(live):])
	p.conns = live
	if best != nil && (best.pending.Load() == 0 || len(p.conns) >= p.maxConns) {
		p.mu.Unlock()
		if best.pending.Load() >= int32(p.maxPending) {
			return nil, nil
		}
		return best, nil
	}
	if p.dialing {
		// Someone is opening a connection already: use what exists, or
		// the ordinary connections until it is there.
		p.mu.Unlock()
		if best == nil || best.pending.Load() >= int32(p.maxPending) {
			return nil, nil
		}
		return best, nil
	}
	p.dialing = true
	p.mu.Unlock()
	// Dial outside the lock: a dead node must not stall calls to it on
	// other connections.
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.addr)
	cancel()
	p.mu.Lock()
	p.dialing = false
	if err != nil {
		p.mu.Unlock()
		return nil, err
	}
	c := newPipeConn(p, rawconn.Wrap(conn))
	if p.closed {
		p.mu.Unlock()
		c.fail(net.ErrClosed)
		return nil, nil
	}
	p.conns = append(p.conns, c)
	p.mu.Unlock()
	return c, nil
}

// close ends every connection; calls on them fail as broken.
func (p *pipeline) close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.fail(net.ErrClosed)
	}
}

// pipeConn is one pipelined connection: callers append their requests to
// out and the first of them to find no write running writes for everyone
// (no writer goroutine, no hand-off); one reader goroutine matches answers
// to calls in the order they were written.
type pipeConn struct {
	p       *pipeline
	conn    net.Conn
	pending atomic.Int32
	dead    atomic.Bool
	// collecting: a caller is about to write and takes along whatever is
	// added meanwhile.
	collecting atomic.Bool

	mu      sync.Mutex
	bw      *bufio.Writer // into out
	out     appendBuf
	spare   []byte
	writing bool
	queue   chan *pipeCall // written (or about to be), answers not yet read
	deadErr error
	closed  chan struct{} // closed by fail
	writeBy time.Time     // the write deadline set on conn, under mu
}

// deadlineSlack: a connection's deadlines are moved only when the call at
// the head of the line needs a later one (or a much earlier one), and then
// to its deadline plus this, so that a busy connection does not re-arm a
// timer per call. A stuck node is noticed at most this late (2x for a call
// whose deadline is earlier than the one before it).
const deadlineSlack = 50 * time.Millisecond

func (c *pipeConn) armed(d time.Time, set func(time.Time) error) time.Time {
	d = d.Add(deadlineSlack)
	_ = set(d)
	return d
}

// armWrite moves the write deadline (called with mu held, by the writer).
func (c *pipeConn) armWrite(d time.Time) {
	if d.After(c.writeBy) {
		c.writeBy = c.armed(d, c.conn.SetWriteDeadline)
	}
}

type appendBuf struct{ b []byte }

func (a *appendBuf) Write(p []byte) (int, error) { a.b = append(a.b, p...); return len(p), nil }

func newPipeConn(p *pipeline, conn net.Conn) *pipeConn {
	c := &pipeConn{p: p, conn: conn, queue: make(chan *pipeCall, p.maxPending), closed: make(chan struct{})}
	c.bw = bufio.NewWriterSize(&c.out, 4<<10)
	go c.readLoop()
	return c
}

// enqueue writes req for call, in order with every other call on c. false:
// c is dead or full, and nothing of req was written.
func (c *pipeConn) enqueue(req *fasthttp.Request, call *pipeCall) bool {
	c.mu.Lock()
	if c.deadErr != nil || len(c.queue) == cap(c.queue) {
		c.mu.Unlock()
		return false
	}
	mark := len(c.out.b)
	if err := req.Write(c.bw); err == nil {
		err = c.bw.Flush()
	}
	if c.bw.Buffered() > 0 || len(c.out.b) == mark {
		// Could not encode it (it never happens for the edge's requests).
		c.bw.Reset(&c.out)
		c.out.b = c.out.b[:mark]
		c.mu.Unlock()
		return false
	}
	c.pending.Add(1)
	c.queue <- call // room checked above, under c.mu
	if c.writing {
		c.mu.Unlock()
		return true // the running writer takes it along
	}
	c.writing = true
	// Let the goroutines that are ready to run first (other calls being
	// parsed right now) add their requests: under load one write then
	// carries several, and on an idle edge there is nobody to wait for.
	c.collecting.Store(true)
	c.mu.Unlock()
	runtime.Gosched()
	c.mu.Lock()
	c.collecting.Store(false)
	for len(c.out.b) > 0 {
		buf := c.out.b
		c.out.b = c.spare[:0]
		c.mu.Unlock()
		c.armWrite(call.deadline)
		_, err := c.conn.Write(buf)
		c.mu.Lock()
		c.spare = buf[:0]
		if err != nil {
			c.writing = false
			c.mu.Unlock()
			c.fail(err)
			return true // its call fails with the others
		}
	}
	c.writing = false
	c.mu.Unlock()
	return true
}

// readLoop reads answers in the order the calls were written. A call's
// answer must arrive by its deadline: a node that holds the head of the line
// longer has the connection closed, and every call on it fails (and is asked
// of another node).
func (c *pipeConn) readLoop() {
	br := bufio.NewReaderSize(c.conn, 16<<10)
	var scratch fasthttp.Response
	var readBy time.Time
	// The idle check runs every half of maxIdle and retires the connection
	// after a whole period without a call (so idle between half and all of
	// maxIdle). Re-arming a timer each time the reader catches up would
	// cost a timer operation every few calls.
	idle := time.NewTicker(max(c.p.maxIdle/2, time.Millisecond))
	defer idle.Stop()
	served, servedAtTick := 0, 0
	for {
		var call *pipeCall
		select {
		case call = <-c.queue:
		case <-c.closed:
			return
		case <-idle.C:
			if served == servedAtTick && c.retireIfIdle() {
				return
			}
			servedAtTick = served
			continue
		}
		served++
		// The head of the line must be answered by its deadline (within
		// the slack): move the connection's read deadline when it is not.
		if call.deadline.After(readBy) || call.deadline.Add(2*deadlineSlack).Before(readBy) {
			readBy = c.armed(call.deadline, c.conn.SetReadDeadline)
		}
		into := call.resp
		claimed := call.state.CompareAndSwap(callWaiting, callReading)
		if !claimed {
			scratch.Reset()
			into = &scratch // its caller gave up: read the answer past it
		}
		into.Header.DisableNormalizing() // relayed as the node wrote them, as HostClient does
		err := into.ReadLimitBody(br, c.p.maxBody)
		if err == nil && into.ConnectionClose() {
			err = errPipeClosing // this answer stands; the calls behind it go elsewhere
		}
		c.pending.Add(-1)
		// A tick that came while this answer was awaited says nothing of
		// idleness: without this, the next tick would retire a connection
		// idle for much less than maxIdle/2.
		select {
		case <-idle.C:
		default:
		}
		if claimed {
			call.err = err
			if err == errPipeClosing {
				call.err = nil
			}
			call.done <- struct{}{}
		} else {
			releaseCall(call)
		}
		if err != nil {
			c.fail(err)
			return
		}
	}
}

// retireIfIdle closes c when nothing was queued during a whole idle period,
// before the node closes it from its side and a call finds it broken.
func (c *pipeConn) retireIfIdle() bool {
	c.mu.Lock()
	idle := len(c.queue) == 0 && !c.writing
	c.mu.Unlock()
	if idle {
		c.fail(errPipeIdle)
	}
	return idle
}

var (
	errPipeIdle    = errors.New("idle pipelined connection closed")
	errPipeClosing = errors.New("the node closes the pipelined connection")
)

// fail closes c and fails every call queued on it. Calls already being read
// get the read's own error from readLoop.
func (c *pipeConn) fail(err error) {
	c.mu.Lock()
	if c.deadErr != nil {
		c.mu.Unlock()
		return
	}
	c.deadErr = err
	c.dead.Store(true)
	close(c.closed)
	c.mu.Unlock()
	_ = c.conn.Close()
	for {
		select {
		case call := <-c.queue:
			c.pending.Add(-1)
			if call.state.CompareAndSwap(callWaiting, callReading) {
				call.err = errPipeBroken
				call.done <- struct{}{}
			} else {
				releaseCall(call)
			}
		default:
			return
		}
	}
}

// pipeCall is one request in flight on a pipelined connection.
type pipeCall struct {
	resp     *fasthttp.Response
	deadline time.Time
	state    atomic.Int32
	err      error
	done     chan struct{}
}

const (
	callWaiting int32 = iota // queued; the caller waits
	callReading              // the reader owns resp until done
	callGone                 // the caller gave up; the reader releases the call
)

var calls sync.Pool

func acquireCall(resp *fasthttp.Response, deadline time.Time) *pipeCall {
	call, _ := calls.Get().(*pipeCall)
	if call == nil {
		call = &pipeCall{done: make(chan struct{}, 1)}
	}
	call.resp, call.deadline, call.err = resp, deadline, nil
	call.state.Store(callWaiting)
	return call
}

func releaseCall(call *pipeCall) {
	call.resp = nil
	calls.Put(call)
}

// wait returns the call's outcome. It needs no timer of its own: the
// connection's read deadline follows the head of the line (readLoop), so a
// call is answered, or its connection failed, by about its deadline.
func (call *pipeCall) wait() error {
	<-call.done
	err := call.err
	releaseCall(call)
	if err != nil {
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			err = fasthttp.ErrTimeout
		}
	}
	return err
}

// pipelined sends a short read on the node's pipelined connections; sent is
// false when it must take an ordinary connection (not a short read,
// pipelining off, or every pipelined connection full).
func (n *Node) pipelined(a Attempt, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) (err error, sent bool) {
	if !a.Pipelined || n.pipe == nil {
		return nil, false
	}
	return n.pipe.do(req, resp, deadline)
}

func (n *Node) closePipe() {
	if n.pipe != nil {
		n.pipe.close()
	}
}
