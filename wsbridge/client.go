package wsbridge

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// client is one downstream websocket. Its handler goroutine reads (pongs,
// pings, ignored messages) and is its only goroutine: writes are made by
// the client's worker (fanout.go). An idle client costs that goroutine, its
// socket and this struct; its queue is allocated when something arrives.
type client struct {
	b    *Bridge
	cfg  *Config         // the per-connection limits in force when it connected
	conn *websocket.Conn // reading, and the handshake's writes
	raw  net.Conn        // the socket the worker writes frames to
	rc   syscall.RawConn // nil: writes block (with WriteTimeout)
	sub  *subscription
	hub  atomic.Pointer[hub]
	w    *worker

	// cursor is the last position handed to the client (or skipped by its
	// filters): the backlog goroutine owns it until the client joins a hub,
	// then the hub's lock guards it.
	cursor pos

	mu        sync.Mutex
	pending   []*entry // notifications to write, from head on (at most SendQueue)
	head      int
	scheduled bool   // on its worker's list, or being written for
	pingDue   bool   // the worker pings
	pong      []byte // a pong frame answering the client's ping
	closing   bool   // kicked: the close frame and the socket's close are due
	code      int
	reason    string

	// The non-blocking write's state; only the goroutine writing for c
	// (its worker, or its catch-up goroutine) touches them.
	writeFn func(fd uintptr) bool
	wb      []byte
	wn      int
	werr    error

	drained   chan struct{} // cap 1: the queue emptied (the backlog path waits on it)
	done      chan struct{} // closed by kick
	closeOnce sync.Once
	gone      chan struct{} // closed once the socket is closed
	goneOnce  sync.Once
}

func newClient(b *Bridge, conn *websocket.Conn, sub *subscription, lim *Config) *client {
	raw := conn.NetConn()
	return &client{b: b, cfg: lim, conn: conn, raw: raw, rc: rawConnOf(raw), sub: sub, cursor: before(sub.height),
		drained: make(chan struct{}, 1), done: make(chan struct{}), gone: make(chan struct{})}
}

// wants reports whether a client whose cursor is cur takes e.
func (c *client) wants(cur pos, e *entry) bool {
	if !cur.less(e.at) {
		return false
	}
	if e.progress {
		return c.sub.progress > 0 && (e.at.h-c.sub.height)%c.sub.progress == 0
	}
	return true
}

// offer queues e without blocking; false means the queue is full.
func (c *client) offer(e *entry) bool {
	if !c.wants(c.cursor, e) {
		if c.cursor.less(e.at) {
			c.cursor = e.at
		}
		return true
	}
	if !c.enqueue(e) {
		return false
	}
	c.cursor = e.at
	return true
}

// readLoop keeps the connection alive: any frame from the client, a pong
// included, moves the idle deadline. Later messages are ignored as goloop
// does, but only up to the subscription limit.
func (c *client) readLoop() {
	idle := c.cfg.IdleTimeout
	_ = c.conn.SetReadDeadline(time.Now().Add(idle))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(idle)) })
	// Only the worker writes: a ping is answered through it, and a close
	// is echoed by kick (gorilla's own handlers would write from here).
	c.conn.SetPingHandler(func(data string) error {
		c.mu.Lock()
		c.pong = appendFrame(nil, websocket.PongMessage, []byte(data))
		sched := !c.scheduled
		c.scheduled = true
		c.mu.Unlock()
		if sched {
			c.w.schedule(c)
		}
		return c.conn.SetReadDeadline(time.Now().Add(idle))
	})
	c.conn.SetCloseHandler(func(int, string) error { return nil })
	msgs := 1
	for {
		_, r, err := c.conn.NextReader()
		if err != nil {
			var ne net.Error
			var ce *websocket.CloseError
			switch {
			case errors.As(err, &ce):
				c.kick(ce.Code, "") // echoed, as gorilla's close handler would
			case errors.As(err, &ne) && ne.Timeout():
				c.kick(websocket.CloseGoingAway, "idle timeout")
			case errors.Is(err, websocket.ErrReadLimit):
				c.kick(websocket.CloseMessageTooBig, "message too big")
			default:
				c.kick(0, "")
			}
			return
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(idle))
		n, err := io.Copy(io.Discard, io.LimitReader(r, c.cfg.MaxMessageSize+1))
		if n > c.cfg.MaxMessageSize {
			c.kick(websocket.CloseMessageTooBig, "message too big")
			return
		}
		if err != nil {
			c.kick(0, "")
			return
		}
		if msgs++; msgs > c.cfg.MaxSubscriptionsPerConn {
			c.kick(websocket.ClosePolicyViolation, "too many subscription requests on one connection")
			return
		}
	}
}

// catchUp serves a client whose height the hub no longer holds from its own
// upstream session, until the hub holds everything after the client's
// cursor; then the client joins the hub and the session ends.
func (c *client) catchUp(ctx context.Context, channel string, h *hub) {
	select {
	case c.b.backlogSlots <- struct{}{}:
	case <-c.done:
		return
	case <-ctx.Done():
		return
	}
	defer func() { <-c.b.backlogSlots }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	joined := false
	tryJoin := func() bool {
		for {
			ok, closed := h.attach(c)
			if !closed {
				return ok
			}
			h = c.b.hubFor(c.sub, channel, c.cursor.h+1)
		}
	}
	if tryJoin() { // the hub may have caught up while we waited for a slot
		return
	}
	err := c.b.follow(ctx, c.sub.kind, channel, c.sub.filters, func() pos { return c.cursor }, func(e *entry) bool {
		if c.wants(c.cursor, e) {
			for !c.enqueue(e) { // the backlog may wait: only this client's session does
				select {
				case <-c.drained:
				case <-c.done:
					return false
				}
			}
		}
		if c.cursor.less(e.at) {
			c.cursor = e.at
		}
		joined = tryJoin()
		return !joined
	}, false)
	if err != nil && !joined {
		c.kick(websocket.CloseInternalServerErr, truncReason("upstream: "+err.Error()))
	}
}
