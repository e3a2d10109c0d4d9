package redisstate

import (
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Node verdicts travel on one pub/sub channel, "<prefix>verdicts", as text:
//
//	<sender> eject <backoff ms> probe|live <node url>
//	<sender> tip <height>
//
// Pub/sub delivers to the replicas connected at the time and keeps nothing:
// a replica that was cut off learns only later verdicts, and its own probes
// cover the rest.

const verdictChannel = "verdicts"

// subscriber is what a replica does with another's verdicts.
type subscriber struct {
	onEject func(node string, backoff time.Duration, byProbe bool)
	onTip   func(height int64)
}

// PublishEjection shares that this replica ejected node for backoff
// (upstream.VerdictSink). It never blocks: a full queue drops the verdict.
func (c *Client) PublishEjection(node string, backoff time.Duration, byProbe bool) {
	how := "live"
	if byProbe {
		how = "probe"
	}
	c.publish(c.id + " eject " + strconv.FormatInt(backoff.Milliseconds(), 10) + " " + how + " " + node)
}

// PublishTip shares the tip this replica's probes saw (upstream.VerdictSink).
func (c *Client) PublishTip(height int64) {
	c.publish(c.id + " tip " + strconv.FormatInt(height, 10))
}

func (c *Client) publish(msg string) {
	if !c.up.Load() {
		return // verdicts are news: nobody needs them once Redis is back
	}
	select {
	case c.pub <- msg:
	default:
		c.failed(OpPublish, errQueueFull)
	}
}

func (c *Client) publishLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case msg := <-c.pub:
			cl := c.client()
			if cl == nil {
				continue
			}
			ctx, cancel := c.bgCtx()
			var err error
			for try := 0; try < brokenTries; try++ { // again on a redialled connection, as writeAnswers
				if err = cl.Do(ctx, cl.B().Publish().Channel(c.key(verdictChannel)).Message(msg).Build()).Error(); !brokenConn(err) {
					break
				}
			}
			cancel()
			if err != nil {
				c.failed(OpPublish, err)
			} else {
				c.ok()
			}
		}
	}
}

// Subscribe hands other replicas' verdicts to onEject and onTip (called on
// one background goroutine, in order) until Close. Call it once.
func (c *Client) Subscribe(onEject func(node string, backoff time.Duration, byProbe bool), onTip func(height int64)) {
	c.subs.Store(&subscriber{onEject: onEject, onTip: onTip})
	c.wg.Add(1)
	go c.subscribeLoop()
}

func (c *Client) subscribeLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.HealthInterval)
	defer t.Stop()
	for {
		if cn := c.conn.Load(); cn != nil && c.up.Load() {
			cl := cn.c
			err := cl.Receive(c.ctx, cl.B().Subscribe().Channel(c.key(verdictChannel)).Build(), func(m rueidis.PubSubMessage) {
				c.dispatch(m.Message)
			})
			if c.ctx.Err() != nil {
				return
			}
			if err != nil {
				c.failed(OpSubscribe, err)
			}
		}
		select {
		case <-c.ctx.Done():
			return
		case <-c.woken: // Redis is back: resubscribe at once
		case <-t.C:
		}
	}
}

// dispatch applies one verdict from another replica; malformed messages
// (another version, another program on the channel) are ignored.
func (c *Client) dispatch(msg string) {
	s := c.subs.Load()
	f := strings.SplitN(msg, " ", 5)
	if s == nil || len(f) < 3 || f[0] == c.id {
		return
	}
	switch f[1] {
	case "tip":
		if h, err := strconv.ParseInt(f[2], 10, 64); err == nil && h >= 0 && s.onTip != nil {
			s.onTip(h)
		}
	case "eject":
		if len(f) != 5 || s.onEject == nil {
			return
		}
		ms, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || ms < 0 || (f[3] != "probe" && f[3] != "live") {
			return
		}
		s.onEject(f[4], time.Duration(ms)*time.Millisecond, f[3] == "probe")
	}
}
