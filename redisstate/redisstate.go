// Package redisstate lets the replicas of one region act as one edge by
// sharing state through Redis: per-client budgets (GCRA in a Lua script,
// limits.go), final answers as a second cache level (cache.go), and node
// verdicts, ejections and the tip, over pub/sub (verdicts.go).
//
// Redis is optional and never in charge: every operation on the request path
// is bounded by Config.Timeout, a Redis that fails three operations in a row
// is marked down and left alone (callers then apply on_error at once, with no
// round trip) until a background PING finds it again, and errors are counted
// (icon_edge_redis_errors_total{op}) and logged once per interval, never per
// request.
//
// Its Client has the methods the consumers' interfaces ask for
// (ratelimit.Shared, cache.Shared, upstream.VerdictSink) and imports only
// ratelimit, for the verdict type; package edge wires them together.
package redisstate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
)

// Config describes the connection and what is shared.
type Config struct {
	// URL: redis://[user:password@]host:port[/db], rediss:// for TLS,
	// unix:///path/to.sock; ?addr=host:port (repeatable) adds cluster seed
	// nodes, ?master_set=NAME makes the hosts sentinels.
	URL string
	// KeyPrefix starts every key and channel, so regions and chains can share
	// one Redis (e.g. "icon-edge:eu:").
	KeyPrefix string
	// Timeout bounds each operation on the request path (default 20ms).
	Timeout time.Duration
	// OnError is only named in logs ("local" or "deny"): the callers apply it.
	OnError string
	// CacheTTL is how long a shared answer lives (default 24h); answers
	// larger than CacheMaxEntryBytes (default 256 KiB) are not shared.
	CacheTTL           time.Duration
	CacheMaxEntryBytes int
	// HealthInterval is how often a Redis marked down is tried again
	// (default 250ms); LogInterval how often errors are logged (default 10s).
	HealthInterval, LogInterval time.Duration
}

func (c *Config) setDefaults() {
	if c.Timeout <= 0 {
		c.Timeout = 20 * time.Millisecond
	}
	if c.CacheTTL <= 0 {
		c.CacheTTL = 24 * time.Hour
	}
	if c.CacheMaxEntryBytes <= 0 {
		c.CacheMaxEntryBytes = 256 << 10
	}
	if c.HealthInterval <= 0 {
		c.HealthInterval = 250 * time.Millisecond
	}
	if c.LogInterval <= 0 {
		c.LogInterval = 10 * time.Second
	}
	if c.OnError == "" {
		c.OnError = "local"
	}
}

// Operations, the "op" label of icon_edge_redis_errors_total.
const (
	OpRateLimit = "ratelimit"
	OpCacheGet  = "cache_get"
	OpCachePut  = "cache_put"
	OpPublish   = "publish"
	OpSubscribe = "subscribe"
	OpConnect   = "connect"
)

var ops = [...]string{OpRateLimit, OpCacheGet, OpCachePut, OpPublish, OpSubscribe, OpConnect}

func opIndex(op string) int {
	for i, o := range ops {
		if o == op {
			return i
		}
	}
	panic("redisstate: unknown op " + op)
}

// failuresToTrip consecutive failed operations mark Redis down.
const failuresToTrip = 3

type conn struct{ c rueidis.Client }

// Client is the edge's connection to the region's Redis. Safe for
// concurrent use; Close it when done.
type Client struct {
	cfg  Config
	opt  rueidis.ClientOption
	log  *slog.Logger
	id   string // this process, so it ignores its own published verdicts
	conn atomic.Pointer[conn]
	up   atomic.Bool
	// fails counts consecutive failed operations.
	fails atomic.Int32

	errs    [len(ops)]prometheus.Counter
	pending [len(ops)]atomic.Uint64          // errors since the last log line
	lastErr [len(ops)]atomic.Pointer[string] // the latest of them

	gcra    *rueidis.Lua
	takes   chan *takeReq // budget checks waiting for a batch (batch.go)
	noBatch bool          // every check its own script call (benchmarks compare)
	// woken is signalled when Redis becomes usable, so the subscriber does
	// not wait a health interval to resubscribe (pub/sub keeps nothing).
	woken chan struct{}
	pub   chan string
	puts  chan cachePut
	subs  atomic.Pointer[subscriber]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ParseURL checks a Redis URL the way Open will use it.
func ParseURL(url string) error {
	_, err := parseURL(url)
	return err
}

func parseURL(url string) (rueidis.ClientOption, error) {
	if strings.TrimSpace(url) == "" {
		return rueidis.ClientOption{}, errors.New("redis: url is empty (want redis://host:6379/0 or rediss://...)")
	}
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return opt, fmt.Errorf("redis: url: %w", err)
	}
	return opt, nil
}

// Open starts connecting to Redis in the background and returns at once: an
// unreachable Redis does not stop the edge, it only makes callers apply
// on_error until it answers. Metrics go to reg (nil: not registered).
func Open(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Client, error) {
	cfg.setDefaults()
	opt, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	// Operations carry their own deadlines; the library must not retry them
	// behind the caller's back, nor keep a client-side cache of its own.
	opt.DisableRetry = true
	opt.DisableCache = true
	opt.ClientName = "icon-edge"
	if opt.Dialer.Timeout == 0 {
		opt.Dialer.Timeout = 2 * time.Second // background only: the request path never dials
	}
	if opt.ConnWriteTimeout == 0 {
		opt.ConnWriteTimeout = 2 * time.Second // notice a silent Redis within seconds, not the 10s default
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	c := &Client{cfg: cfg, opt: opt, log: log, id: hex.EncodeToString(id[:]),
		gcra:  rueidis.NewLuaScript(gcraScript),
		takes: make(chan *takeReq, 4*takeBatchMax), woken: make(chan struct{}, 1),
		pub: make(chan string, 256), puts: make(chan cachePut, 1024)}
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "icon_edge_redis_errors_total",
		Help: "Redis operations that failed or timed out (the edge then applied on_error), by operation.",
	}, []string{"op"})
	for i, op := range ops {
		c.errs[i] = errs.WithLabelValues(op)
	}
	up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "icon_edge_redis_up",
		Help: "1 while Redis answers and state is shared; 0 while on_error applies.",
	}, func() float64 {
		if c.up.Load() {
			return 1
		}
		return 0
	})
	if reg != nil {
		for _, col := range []prometheus.Collector{errs, up} {
			if err := reg.Register(col); err != nil {
				return nil, fmt.Errorf("redisstate: registering metrics: %w", err)
			}
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(4 + takeBatchers)
	for range takeBatchers {
		go c.batchLoop()
	}
	go c.healthLoop()
	go c.logLoop()
	go c.publishLoop()
	go c.putLoop()
	return c, nil
}

// Close stops the background work and closes the connections.
func (c *Client) Close() {
	c.cancel()
	c.wg.Wait()
	if cn := c.conn.Load(); cn != nil {
		cn.c.Close()
	}
}

// Available reports whether Redis is connected and answering; while it is
// false, callers apply on_error without a round trip.
func (c *Client) Available() bool { return c.up.Load() }

// client is the connection when Redis is usable, nil otherwise.
func (c *Client) client() rueidis.Client {
	if !c.up.Load() {
		return nil
	}
	if cn := c.conn.Load(); cn != nil {
		return cn.c
	}
	return nil
}

func (c *Client) key(parts ...string) string {
	return c.cfg.KeyPrefix + strings.Join(parts, "")
}

// ok notes a successful operation.
func (c *Client) ok() {
	if c.fails.Load() != 0 {
		c.fails.Store(0)
	}
}

// failed counts a failed operation, and marks Redis down after a few in a
// row so the request path stops waiting on it.
func (c *Client) failed(op string, err error) {
	i := opIndex(op)
	c.errs[i].Inc()
	c.pending[i].Add(1)
	msg := err.Error()
	c.lastErr[i].Store(&msg)
	if c.fails.Add(1) >= failuresToTrip && c.up.CompareAndSwap(true, false) {
		c.log.Warn("redis unreachable: sharing paused; on_error applies until it answers again",
			"on_error", c.cfg.OnError, "op", op, "err", msg)
	}
}

// healthLoop connects, and brings a Redis that was marked down back once a
// PING succeeds.
func (c *Client) healthLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.HealthInterval)
	defer t.Stop()
	for {
		if !c.up.Load() {
			c.check()
		}
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Client) check() {
	cn := c.conn.Load()
	if cn == nil {
		cl, err := rueidis.NewClient(c.opt)
		if err != nil {
			c.failed(OpConnect, err)
			return
		}
		cn = &conn{c: cl}
		c.conn.Store(cn)
	}
	ctx, cancel := context.WithTimeout(c.ctx, max(c.cfg.Timeout, time.Second))
	defer cancel()
	if err := cn.c.Do(ctx, cn.c.B().Ping().Build()).Error(); err != nil {
		if c.ctx.Err() == nil {
			c.failed(OpConnect, err)
		}
		return
	}
	c.fails.Store(0)
	if c.up.CompareAndSwap(false, true) {
		select {
		case c.woken <- struct{}{}:
		default:
		}
		c.log.Info("redis reachable: sharing limits, final answers and node verdicts with the region's replicas",
			"addr", strings.Join(c.opt.InitAddress, ","), "key_prefix", c.cfg.KeyPrefix)
	}
}

// logLoop writes one line per interval when operations failed in it.
func (c *Client) logLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.LogInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.logErrors()
		}
	}
}

func (c *Client) logErrors() {
	var attrs []any
	for i, op := range ops {
		if n := c.pending[i].Swap(0); n > 0 {
			last := ""
			if p := c.lastErr[i].Load(); p != nil {
				last = *p
			}
			attrs = append(attrs, slog.Group(op, "errors", n, "last", last))
		}
	}
	if attrs == nil {
		return
	}
	attrs = append(attrs, "interval", c.cfg.LogInterval.String(), "on_error", c.cfg.OnError, "up", c.up.Load())
	c.log.Warn("redis operations failed in the last interval", attrs...)
}

// brokenConn reports an error of a connection that died while idle (Redis
// restarted, a proxy dropped it): the library dials a new one for the next
// command, so another try within the same deadline is worth it. The library
// keeps several connections, each of which may be dead: up to brokenTries.
func brokenConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

const brokenTries = 5

// opCtx bounds one request-path operation by the configured timeout.
func (c *Client) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ctx, c.cfg.Timeout)
}
