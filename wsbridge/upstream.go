package wsbridge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/valyala/fastjson"
)

// upstreamMaxMessage bounds one node notification (blocks with logs can be large).
const upstreamMaxMessage = 16 << 20

// rejectedError is a node refusing the subscription itself (not a resource
// limit): other nodes would refuse it too.
type rejectedError struct{ e wsError }

func (r *rejectedError) Error() string { return fmt.Sprintf("%d %s", r.e.Code, r.e.Message) }

// follow keeps one subscription alive across nodes: each session starts
// where the previous delivered position ends, and sink drops what was seen.
// It returns when ctx ends, sink returns false, or a node rejects the request.
// Each session takes one of its node's session slots (slots.go); block marks
// the shared plain /block hub, which may use the slots kept for it.
func (b *Bridge) follow(ctx context.Context, kind, channel string, filters []byte, last func() pos,
	sink func(*entry) bool, block bool) error {
	var tried []*upstream.Node
	backoff := 20 * time.Millisecond
	first := true
	rejections := 0
	for ctx.Err() == nil {
		n := b.pickNode(tried, block)
		if n == nil && len(tried) > 0 {
			tried = tried[:0]
			n = b.pickNode(nil, block)
		}
		if n == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		if !first {
			b.metrics.resubscriptions.Inc()
		}
		first = false
		p := last()
		from := p.h + 1
		if kind == "event" && p.i != math.MaxInt64 {
			from = p.h // part of block p.h was delivered; sink drops the rest
		}
		delivered, stop, err := b.session(ctx, n, kind, channel, filters, from, sink)
		b.slots.release(n.URL())
		if stop || ctx.Err() != nil {
			return nil
		}
		var rej *rejectedError
		if errors.As(err, &rej) {
			rejections++
			if rejections >= 3 {
				return err
			}
		}
		b.log.Debug("wsbridge: upstream session ended", "node", n.URL(), "kind", kind, "err", err)
		tried = append(tried, n)
		if delivered {
			backoff = 20 * time.Millisecond
			rejections = 0
			continue
		}
		// A session that delivered nothing (refused, full, or dead at once)
		// must not turn into a tight redial loop against the fleet.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
	return nil
}

// session runs one upstream websocket from height from. delivered reports
// whether any notification arrived; stop that sink asked to end.
func (b *Bridge) session(ctx context.Context, n *upstream.Node, kind, channel string, filters []byte, from int64,
	sink func(*entry) bool) (delivered, stop bool, err error) {
	url := "ws" + strings.TrimPrefix(n.URL(), "http") + "/api/v3/" + channel + "/" + kind
	d := websocket.Dialer{HandshakeTimeout: b.cfg.DialTimeout, ReadBufferSize: 4096, WriteBufferSize: 1024,
		WriteBufferPool: b.wpool}
	conn, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil && resp.StatusCode == 404 {
			// goloop's "No channel": every node will say the same.
			return false, false, &rejectedError{e: wsError{Code: icon.CodeInvalidParams, Message: "No channel"}}
		}
		return false, false, err
	}
	defer conn.Close()
	b.metrics.upstreamSessions.Inc()
	defer b.metrics.upstreamSessions.Dec()
	done := make(chan struct{})
	defer close(done)
	go func() { // a node that falls behind is left for one at the tip
		t := time.NewTicker(b.cfg.SyncCheckInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				conn.Close()
				return
			case <-t.C:
				if !b.pool.InSync(n) {
					b.log.Info("wsbridge: upstream node out of sync, resubscribing", "node", n.URL())
					conn.Close()
					return
				}
			}
		}
	}()
	conn.SetReadLimit(upstreamMaxMessage)
	_ = conn.SetWriteDeadline(time.Now().Add(b.cfg.DialTimeout))
	if err := conn.WriteMessage(websocket.TextMessage, upstreamRequest(kind, filters, from)); err != nil {
		return false, false, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(b.cfg.DialTimeout))
	_, msg, err := conn.ReadMessage()
	if err != nil {
		return false, false, err
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(msg)
	if err != nil {
		return false, false, err
	}
	if code := v.GetInt("code"); code != 0 || v.Get("code") == nil {
		e := wsError{Code: code, Message: string(v.GetStringBytes("message"))}
		if code == icon.CodeLackOfRes || v.Get("code") == nil {
			return false, false, fmt.Errorf("node %s: %d %s", n.URL(), e.Code, e.Message)
		}
		return false, false, &rejectedError{e}
	}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(b.cfg.UpstreamStallTimeout))
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return delivered, false, err
		}
		e, err := parseNotification(&p, kind, msg)
		if err != nil {
			return delivered, false, err
		}
		delivered = true
		if !sink(e) {
			return true, true, nil
		}
	}
}

// parseNotification reads the position of a node notification; the bytes
// are relayed as they are.
func parseNotification(p *fastjson.Parser, kind string, msg []byte) (*entry, error) {
	v, err := p.ParseBytes(msg)
	if err != nil {
		return nil, err
	}
	e := &entry{recv: time.Now()}
	if pr := v.GetStringBytes("progress"); pr != nil {
		h, ok := icon.ParseHexInt(string(pr))
		if !ok {
			return nil, fmt.Errorf("bad progress %q", pr)
		}
		e.at, e.progress = pos{h, progressIndex}, true
	} else {
		h, ok := icon.ParseHexInt(string(v.GetStringBytes("height")))
		if !ok {
			return nil, fmt.Errorf("unexpected notification %.100s", msg)
		}
		e.at.h = h
		if kind == "event" {
			i, ok := icon.ParseHexInt(string(v.GetStringBytes("index")))
			if !ok {
				return nil, fmt.Errorf("event notification without index: %.100s", msg)
			}
			e.at.i = i
		}
	}
	e.frame = textFrame(msg)
	e.raw = e.frame[len(e.frame)-len(msg):]
	return e, nil
}
