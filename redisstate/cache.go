package redisstate

import (
	"context"
	"time"

	"github.com/redis/rueidis"
)

// The second cache level: answers that can never change (final blocks and
// transactions, reads pinned to a final height) that one replica fetched
// are there for every other. Keys are the edge cache's own keys (path,
// method, canonical params) under "<prefix>c1:"; values are the raw JSON of
// the answer's result. Head-dependent answers never come here.

const cacheKeyPrefix = "c1:"

type cachePut struct {
	key, val []byte
}

// GetAnswers looks keys up in one round trip bounded by the timeout; a
// missing key, or any error, is a miss (nil at its index).
func (c *Client) GetAnswers(keys [][]byte) [][]byte {
	cl := c.client()
	if cl == nil || len(keys) == 0 {
		return nil
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	get := func() []rueidis.RedisResult {
		cmds := make(rueidis.Commands, len(keys))
		for i, k := range keys {
			cmds[i] = cl.B().Get().Key(c.cfg.KeyPrefix + cacheKeyPrefix + string(k)).Build()
		}
		return cl.DoMulti(ctx, cmds...)
	}
	res := get()
	for try := 1; try < brokenTries && anyBroken(res); try++ {
		res = get()
	}
	out := make([][]byte, len(keys))
	var failure error
	for i, r := range res {
		b, err := r.AsBytes()
		switch {
		case err == nil:
			out[i] = b
		case rueidis.IsRedisNil(err):
		default:
			failure = err
		}
	}
	if failure != nil {
		c.failed(OpCacheGet, failure)
	} else {
		c.ok()
	}
	return out
}

// PutAnswer shares a final answer. It never waits: the write is queued (the
// caller's slices are copied) and sent by a background writer; answers over
// the size cap are not shared, and when the queue is full the write is
// dropped and counted.
func (c *Client) PutAnswer(key, result []byte) {
	if len(result) > c.cfg.CacheMaxEntryBytes || !c.up.Load() {
		return
	}
	p := cachePut{key: append([]byte(nil), key...), val: append([]byte(nil), result...)}
	select {
	case c.puts <- p:
	default:
		c.failed(OpCachePut, errQueueFull)
	}
}

type queueFullError struct{}

func (queueFullError) Error() string {
	return "write queue full (Redis slower than the answers to share)"
}

var errQueueFull = queueFullError{}

// putLoop writes queued answers, many per round trip.
func (c *Client) putLoop() {
	defer c.wg.Done()
	batch := make([]cachePut, 0, 64)
	for {
		select {
		case <-c.ctx.Done():
			return
		case p := <-c.puts:
			batch = append(batch[:0], p)
		}
	more:
		for len(batch) < cap(batch) {
			select {
			case p := <-c.puts:
				batch = append(batch, p)
			default:
				break more
			}
		}
		c.writeAnswers(batch)
	}
}

func (c *Client) writeAnswers(batch []cachePut) {
	cl := c.client()
	if cl == nil {
		return // down: the answers stay this replica's own
	}
	cmds := c.setCommands(cl, batch)
	ctx, cancel := c.bgCtx()
	defer cancel()
	// Writes are idempotent and off the request path: one retry covers a
	// connection that broke while idle (Redis restarted) and is redialled now.
	var err error
	for try := 0; try < brokenTries; try++ {
		if err = firstError(cl.DoMulti(ctx, cmds...)); err == nil {
			c.ok()
			return
		}
		if !brokenConn(err) {
			break
		}
		cmds = c.setCommands(cl, batch) // commands are spent once sent
	}
	c.failed(OpCachePut, err)
}

func anyBroken(rs []rueidis.RedisResult) bool {
	for _, r := range rs {
		if brokenConn(r.Error()) {
			return true
		}
	}
	return false
}

func (c *Client) setCommands(cl rueidis.Client, batch []cachePut) rueidis.Commands {
	cmds := make(rueidis.Commands, len(batch))
	for i, p := range batch {
		cmds[i] = cl.B().Set().Key(c.cfg.KeyPrefix + cacheKeyPrefix + string(p.key)).Value(rueidis.BinaryString(p.val)).
			Px(c.cfg.CacheTTL).Build()
	}
	return cmds
}

func firstError(rs []rueidis.RedisResult) error {
	for _, r := range rs {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

// bgCtx bounds background operations: off the request path, they may take
// longer than the hot-path timeout, but never hang.
func (c *Client) bgCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ctx, max(10*c.cfg.Timeout, time.Second))
}
