package redisstate

import (
	"context"
	"strconv"

	"github.com/redis/rueidis"
)

// Budget checks of concurrent calls share script calls: a few batchers each
// take whatever checks are waiting (at most takeBatchMax) and run them in one
// script call, so under load Redis runs one script per batch instead of one
// per call, and an idle edge still sends each check at once. Redis Cluster
// cannot run one script over keys of different slots; there every check is
// its own call.

const (
	takeBatchers = 4
	takeBatchMax = 128
)

// takeReq is one budget check waiting for a batch.
type takeReq struct {
	key               string
	iv, tol           int64
	need, want        int
	taken, ahead, try int64 // the reply: tokens, TAT − now, retry-after (µs)
	err               error
	done              chan struct{}
}

func (c *Client) batchLoop() {
	defer c.wg.Done()
	batch := make([]*takeReq, 0, takeBatchMax)
	for {
		select {
		case <-c.ctx.Done():
			return
		case r := <-c.takes:
			batch = append(batch[:0], r)
		}
	more:
		for len(batch) < takeBatchMax {
			select {
			case r := <-c.takes:
				batch = append(batch, r)
			default:
				break more
			}
		}
		c.runBatch(batch)
	}
}

func (c *Client) runBatch(batch []*takeReq) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	cl := c.client()
	if cl == nil {
		for _, r := range batch {
			r.err = errDown
		}
		return
	}
	keys := make([]string, len(batch))
	args := make([]string, 0, 4*len(batch))
	for i, r := range batch {
		keys[i] = r.key
		args = append(args, strconv.FormatInt(r.iv, 10), strconv.FormatInt(r.tol, 10), strconv.Itoa(r.need), strconv.Itoa(r.want))
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Timeout)
	defer cancel()
	res, err := c.gcra.Exec(ctx, cl, keys, args).ToArray()
	for try := 1; try < brokenTries && brokenConn(err); try++ {
		res, err = c.gcra.Exec(ctx, cl, keys, args).ToArray()
	}
	if err == nil && len(res) != 3*len(batch) {
		err = errGCRAReply
	}
	for i := 0; err == nil && i < len(batch); i++ {
		r := batch[i]
		if r.taken, err = res[3*i].AsInt64(); err == nil {
			if r.ahead, err = res[3*i+1].AsInt64(); err == nil {
				r.try, err = res[3*i+2].AsInt64()
			}
		}
	}
	if err != nil {
		for _, r := range batch {
			r.err = err
		}
	}
}

// takeBatched hands one check to the batchers and waits for it, no longer
// than the timeout.
func (c *Client) takeBatched(r *takeReq) error {
	ctx, cancel := c.opCtx()
	defer cancel()
	select {
	case c.takes <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err() // the batch will still close done; nothing else holds r
	}
}

// batching reports whether checks may share script calls (not on a cluster).
func (c *Client) batching() bool {
	cn := c.conn.Load()
	return cn != nil && !c.noBatch && cn.c.Mode() != rueidis.ClientModeCluster
}
