package redisstate

import (
	"errors"
	"strconv"
	"time"

	"github.com/icon-edge/icon-edge/ratelimit"
)

// gcraScript charges each budget key of KEYS with GCRA, four arguments per
// key: the key holds the theoretical arrival time (TAT, µs on Redis's clock)
// of the next call at one token per interval µs, with a tolerance of
// tolerance µs (burst × interval). Redis's clock is the one clock every
// replica shares. The call needs need tokens and takes up to want when the
// budget has them (the rest is the caller's lease). A refused call changes
// nothing; the key expires when the bucket is full again. Returns three
// numbers per key, {tokens taken (0: refused), TAT − now after the call,
// retry-after}, times in µs. A single check is a call with one key.
const gcraScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i, key in ipairs(KEYS) do
  local j = (i - 1) * 4
  local interval = tonumber(ARGV[j + 1])
  local tolerance = tonumber(ARGV[j + 2])
  local need = tonumber(ARGV[j + 3])
  local want = tonumber(ARGV[j + 4])
  local v = redis.call('GET', key)
  local tat = now
  if v then
    tat = math.max(tonumber(v), now)
  end
  local avail = math.floor((tolerance - (tat - now)) / interval)
  if avail < need then
    out[#out + 1] = 0
    out[#out + 1] = tat - now
    out[#out + 1] = tat + need * interval - now - tolerance
  else
    local take = math.min(want, avail)
    local new = tat + take * interval
    redis.call('SET', key, string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1)
    out[#out + 1] = take
    out[#out + 1] = new - now
    out[#out + 1] = 0
  end
end
return out
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
