package wsbridge

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// client is one downstream websocket. The handler goroutine reads (pongs,
// ignored messages); one writer goroutine owns every write after the
// handshake. Nothing else per client: an idle client costs two small
// goroutines, its socket and a queue of pointers.
type client struct {
	b    *Bridge
	cfg  *Config // the per-connection limits in force when it connected
	conn *websocket.Conn
	sub  *subscription
	q    chan *entry
	hub  atomic.Pointer[hub]

	// cursor is the last position handed to the client (or skipped by its
	// filters): the backlog goroutine owns it until the client joins a hub,
	// then the hub's lock guards it.
	cursor pos

	done      chan struct{}
	closeOnce sync.Once
	code      int
	reason    string
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
	select {
	case c.q <- e:
		c.cursor = e.at
		return true
	default:
		return false
	}
}

// kick ends the client with a close frame (code 0: none, the peer is gone).
func (c *client) kick(code int, reason string) {
	c.closeOnce.Do(func() {
		c.code, c.reason = code, reason
		close(c.done)
		// A writer stuck on a full socket gets a moment to finish, not more.
		_ = c.conn.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
	})
}

func (c *client) writeLoop() {
	defer c.conn.NetConn().Close()
	ping := time.NewTicker(c.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case e := <-c.q:
			_ = c.conn.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
			if err := c.conn.WritePreparedMessage(e.msg); err != nil {
				c.kick(0, "")
				return
			}
			c.b.metrics.relayed.Inc()
			if obs := c.b.relayObserver; obs != nil {
				obs(time.Since(e.recv))
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.cfg.WriteTimeout)); err != nil {
				c.kick(0, "")
				return
			}
		case <-c.done:
			if c.code != 0 {
				_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c.code, c.reason),
					time.Now().Add(time.Second))
			}
			return
		}
	}
}

// readLoop keeps the connection alive: any frame from the client, a pong
// included, moves the idle deadline. Later messages are ignored as goloop
// does, but only up to the subscription limit.
func (c *client) readLoop() {
	idle := c.cfg.IdleTimeout
	_ = c.conn.SetReadDeadline(time.Now().Add(idle))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(idle)) })
	msgs := 1
	for {
		_, r, err := c.conn.NextReader()
		if err != nil {
			var ne net.Error
			switch {
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
			select {
			case c.q <- e: // the backlog may block: only this client's session waits
			case <-c.done:
				return false
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
