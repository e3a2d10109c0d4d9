package redisstate

import (
	"errors"
	"strconv"
	"time"

	"github.com/icon-edge/icon-edge/ratelimit"
)

// gcraScript charges the budget KEYS[1] with GCRA: the key holds the
// theoretical arrival time (TAT, µs on Redis's clock) of the next call at one
// token per ARGV[1] µs, with a tolerance of ARGV[2] µs (burst × interval).
// Redis's clock is the one clock every replica shares. The call needs
// ARGV[3] tokens and takes up to ARGV[4] when the budget has them (the rest
// is the caller's lease). A refused call changes nothing; the key expires
// when the bucket is full again.
// Returns {tokens taken (0: refused), TAT − now after the call, retry-after},
// times in µs.
const gcraScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local need = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local v = redis.call('GET', KEYS[1])
local tat = now
if v then
  tat = math.max(tonumber(v), now)
end
local avail = math.floor((tolerance - (tat - now)) / interval)
if avail < need then
  return {0, tat - now, tat + need * interval - now - tolerance}
end
local take = math.min(want, avail)
local new = tat + take * interval
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1)
return {take, new - now, 0}
`

var errGCRAReply = errors.New("redis: unexpected GCRA reply")

// Take charges need tokens, and up to want, to the budget key
// (ratelimit.Shared): one round trip, bounded by the timeout.
func (c *Client) Take(key string, need, want int, interval time.Duration, burst int) (ratelimit.SharedVerdict, error) {
	cl := c.client()
	if cl == nil {
		return ratelimit.SharedVerdict{}, errDown
	}
	iv := max(interval.Microseconds(), 1)
	want = max(want, need)
	if c.batching() {
		r := &takeReq{key: c.cfg.KeyPrefix + key, iv: iv, tol: iv * int64(burst), need: need, want: want, done: make(chan struct{})}
		if err := c.takeBatched(r); err != nil {
			c.failed(OpRateLimit, err)
			return ratelimit.SharedVerdict{}, err
		}
		c.ok()
		return ratelimit.SharedVerdict{OK: r.taken >= int64(need), Taken: int(r.taken), Ahead: time.Duration(r.ahead) * time.Microsecond,
			RetryAfter: time.Duration(r.try) * time.Microsecond}, nil
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	keys := []string{c.cfg.KeyPrefix + key}
	args := []string{strconv.FormatInt(iv, 10), strconv.FormatInt(iv*int64(burst), 10), strconv.Itoa(need), strconv.Itoa(want)}
	res, err := c.gcra.Exec(ctx, cl, keys, args).ToArray()
	for try := 1; try < brokenTries && brokenConn(err); try++ {
		res, err = c.gcra.Exec(ctx, cl, keys, args).ToArray()
	}
	if err == nil && len(res) != 3 {
		err = errGCRAReply
	}
	var v [3]int64
	for i := 0; err == nil && i < 3; i++ {
		v[i], err = res[i].AsInt64()
	}
	if err != nil {
		c.failed(OpRateLimit, err)
		return ratelimit.SharedVerdict{}, err
	}
	c.ok()
	return ratelimit.SharedVerdict{OK: v[0] >= int64(need), Taken: int(v[0]), Ahead: time.Duration(v[1]) * time.Microsecond,
		RetryAfter: time.Duration(v[2]) * time.Microsecond}, nil
}

var errDown = errors.New("redis: marked down")
