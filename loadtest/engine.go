// Package loadtest is an open-loop HTTP JSON-RPC load generator for ICON
// endpoints: it replays captures (package capture) or synthesizes a workload
// from a method mix, sends on a clock schedule with fasthttp, records
// latencies in HDR histograms and writes text, JSON and HTML reports.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Request is one scheduled request.
type Request struct {
	At     time.Duration // intended send time, since the start of the run
	Path   string        // request path (with query) on the target
	Body   []byte        // not modified by the engine; may be shared
	Method string        // label for per-method statistics
}

// Source yields requests in non-decreasing At order. Next fills r and returns
// false when the workload is exhausted. Sources are used by one goroutine.
type Source interface {
	Next(r *Request) bool
}

// Config bounds and shapes one run.
type Config struct {
	Target        string        // base URL: scheme://host:port[/prefix]
	Duration      time.Duration // stop scheduling after this long; 0 means until the source ends
	MaxInflight   int           // requests in flight at once (0 means 512)
	Timeout       time.Duration // per request (0 means 10s)
	LateThreshold time.Duration // a send later than this behind schedule is "late" (0 means 5ms)
	Hooks         []Hook        // chaos hooks fired at offsets into the run
	Progress      io.Writer     // one status line per second; nil for quiet
	Warm          int           // connections dialed before the clock starts (0 means min(MaxInflight, 32); <0 none)
	Pipeline      int           // >0: HTTP/1.1 pipelining over this many connections (fasthttp.PipelineClient)
	Mode          string        // "replay", "synth", … for the report
	Description   string        // workload description for the report
}

func (c *Config) defaults() error {
	if c.MaxInflight <= 0 {
		c.MaxInflight = 512
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Warm == 0 {
		c.Warm = min(c.MaxInflight, 32)
	}
	if c.Pipeline > 0 {
		c.Warm = min(c.Warm, c.Pipeline)
	}
	if c.LateThreshold <= 0 {
		c.LateThreshold = 5 * time.Millisecond
	}
	if c.Duration < 0 {
		return errors.New("loadtest: negative duration")
	}
	return nil
}

// doer is fasthttp's HostClient or, with Config.Pipeline, its PipelineClient.
type doer interface {
	DoDeadline(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error
}

// target is a parsed base URL.
type target struct {
	base   string // scheme://host
	prefix string // path prefix without trailing slash
	client doer
	warm   *warmDialer
}

func newTargetCfg(raw string, cfg Config) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("loadtest: target %q is not an http(s) URL", raw)
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	t := &target{
		base:   u.Scheme + "://" + u.Host,
		prefix: strings.TrimSuffix(u.EscapedPath(), "/"),
		warm:   &warmDialer{ch: make(chan net.Conn, max(cfg.Warm, 0)), timeout: cfg.Timeout},
	}
	if cfg.Pipeline > 0 {
		t.client = &fasthttp.PipelineClient{
			Addr:                          addr,
			IsTLS:                         u.Scheme == "https",
			MaxConns:                      cfg.Pipeline,
			MaxPendingRequests:            cfg.MaxInflight,
			ReadTimeout:                   cfg.Timeout,
			WriteTimeout:                  cfg.Timeout,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
			DisablePathNormalizing:        true,
			Dial:                          t.warm.dial,
		}
		return t, nil
	}
	t.client = &fasthttp.HostClient{
		Addr:                          addr,
		IsTLS:                         u.Scheme == "https",
		MaxConns:                      cfg.MaxInflight,
		ReadTimeout:                   cfg.Timeout,
		WriteTimeout:                  cfg.Timeout,
		MaxIdleConnDuration:           30 * time.Second,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		MaxResponseBodySize:           64 << 20,
		Dial:                          t.warm.dial,
	}
	return t, nil
}

// warmDialer hands out connections dialed before the clock starts, so the
// first burst of a run does not wait for TCP handshakes (which would show as
// late sends that are the network's, not the schedule's).
type warmDialer struct {
	ch      chan net.Conn
	timeout time.Duration
}

func (w *warmDialer) fill(addr string, n int) {
	for i := 0; i < min(n, cap(w.ch)); i++ {
		c, err := fasthttp.DialTimeout(addr, w.timeout)
		if err != nil {
			return // the run will report the target's errors
		}
		w.ch <- c
	}
}

func (w *warmDialer) dial(addr string) (net.Conn, error) {
	select {
	case c := <-w.ch:
		return c, nil
	default:
		return fasthttp.DialTimeout(addr, w.timeout)
	}
}

func (w *warmDialer) close() {
	for {
		select {
		case c := <-w.ch:
			c.Close()
		default:
			return
		}
	}
}

type job struct {
	at     time.Duration // since the start of the run
	due    time.Time
	uri    string
	body   []byte
	method string
}

// counters are read by the progress line while the run is going.
type counters struct {
	sent, done, failed, rpcErr, late, inflight atomic.Int64
	dropped                                    atomic.Int64 // queued when the run was interrupted
	lastP99                                    atomic.Int64 // µs, last finished second
}

// Run sends src's requests to cfg.Target on their schedule and returns the
// report. It returns when the source is exhausted or Duration has passed
// and the requests in flight have finished (bounded by Timeout), or ctx ends.
func Run(ctx context.Context, cfg Config, src Source) (*Report, error) {
	coll := newCollector()
	r, err := run(ctx, cfg, src, coll, 0)
	if err != nil {
		return nil, err
	}
	rep := coll.report(cfg, r)
	return rep, nil
}

// runInfo is what one run adds to the collector besides results.
type runInfo struct {
	started   time.Time
	elapsed   time.Duration
	scheduled int64
	notSent   int64
	hooks     []HookEvent
	warnings  []string
}

func run(ctx context.Context, cfg Config, src Source, coll *collector, offset time.Duration) (*runInfo, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	tg, err := newTargetCfg(cfg.Target, cfg)
	if err != nil {
		return nil, err
	}
	tg.warm.fill(hostAddr(tg), cfg.Warm)
	defer tg.warm.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var cnt counters
	work := make(chan *job, cfg.MaxInflight)
	pool := sync.Pool{New: func() any { return new(job) }}
	results := make(chan result, 1<<14)
	collDone := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < cfg.MaxInflight; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker(ctx, tg, work, results, &pool, cfg, &cnt)
		}()
	}
	// The clock starts once the workers exist, so starting hundreds of
	// goroutines does not make the first sends late.
	start := time.Now()
	go func() {
		coll.consume(results, start, offset, &cnt)
		close(collDone)
	}()

	hookEvents := make(chan HookEvent, len(cfg.Hooks))
	var hookWG sync.WaitGroup
	for _, h := range cfg.Hooks {
		hookWG.Add(1)
		go func() {
			defer hookWG.Done()
			h.fire(ctx, start, hookEvents)
		}()
	}

	stopProgress := make(chan struct{})
	progDone := make(chan struct{})
	go func() {
		defer close(progDone)
		progress(cfg, start, &cnt, stopProgress)
	}()

	info := &runInfo{started: start}
	info.scheduled, info.notSent = schedule(ctx, cfg, src, work, &pool, start, &cnt)
	close(work)
	wg.Wait()
	info.notSent += cnt.dropped.Load()
	info.elapsed = time.Since(start)
	close(results)
	<-collDone
	cancel() // hooks not yet due are not fired after the run
	hookWG.Wait()
	close(hookEvents)
	for ev := range hookEvents {
		info.hooks = append(info.hooks, ev)
	}
	close(stopProgress)
	<-progDone
	return info, nil
}

// schedule hands requests to the workers at their due time. Requests due
// within spinAhead are sent at once: sleeping for less costs more than the
// error it avoids. When every worker is busy the send waits and counts as
// late; latency is measured from the due time, so waiting is not hidden.
func schedule(ctx context.Context, cfg Config, src Source, work chan<- *job, pool *sync.Pool, start time.Time, cnt *counters) (scheduled, notSent int64) {
	const spinAhead = 200 * time.Microsecond
	var req Request
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for src.Next(&req) {
		if cfg.Duration > 0 && req.At > cfg.Duration {
			break
		}
		scheduled++
		due := start.Add(req.At)
		if d := time.Until(due); d > spinAhead {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return scheduled, notSent + 1
			}
		}
		j := pool.Get().(*job)
		j.at, j.due, j.method = req.At, due, req.Method
		j.body = append(j.body[:0], req.Body...)
		j.uri = req.Path
		select {
		case work <- j:
		case <-ctx.Done():
			return scheduled, notSent + 1
		}
		if ctx.Err() != nil {
			return scheduled, notSent
		}
	}
	return scheduled, notSent
}

func worker(ctx context.Context, tg *target, work <-chan *job, results chan<- result, pool *sync.Pool, cfg Config, cnt *counters) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	var cls classifier
	uri := []byte(tg.base + tg.prefix)
	base := len(uri)
	lastPath, first := "", true
	for j := range work {
		if ctx.Err() != nil { // interrupted: what is still queued is not sent
			cnt.dropped.Add(1)
			pool.Put(j)
			continue
		}
		// An empty path means the target URL itself (e.g. .../api/v3).
		open := cnt.inflight.Add(1)
		sendAt := time.Now()
		// Most workloads use one path; re-parsing an unchanged URI costs
		// a few percent of the send path.
		if j.uri != lastPath || first {
			uri = append(uri[:base], j.uri...)
			if len(uri) == len(tg.base) {
				uri = append(uri, '/')
			}
			req.SetRequestURIBytes(uri)
			lastPath, first = j.uri, false
		}
		req.SetBodyRaw(j.body)
		err := tg.client.DoDeadline(req, resp, sendAt.Add(cfg.Timeout))
		end := time.Now()
		cnt.inflight.Add(-1)
		r := result{
			method:  j.method,
			latency: end.Sub(j.due),
			service: end.Sub(sendAt),
			lag:     sendAt.Sub(j.due),
			sentAt:  j.at + sendAt.Sub(j.due),
			endAt:   j.at + end.Sub(j.due),
		}
		r.class, r.code, r.text = cls.classify(err, resp)
		cnt.sent.Add(1)
		cnt.done.Add(1)
		r.inflight = int32(open)
		if r.lag > cfg.LateThreshold {
			cnt.late.Add(1)
			r.late = true
			r.busy = open >= int64(cfg.MaxInflight)
		}
		switch r.class {
		case classTransport, classHTTP:
			cnt.failed.Add(1)
		case classRPC:
			cnt.rpcErr.Add(1)
		}
		results <- r
		resp.Reset()
		pool.Put(j)
	}
}

func progress(cfg Config, start time.Time, cnt *counters, stop <-chan struct{}) {
	if cfg.Progress == nil {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastSent int64
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			sent := cnt.sent.Load()
			el := now.Sub(start).Truncate(time.Second)
			total := "∞"
			if cfg.Duration > 0 {
				total = cfg.Duration.String()
			}
			behind := ""
			if l := cnt.late.Load(); l > 0 && l*100 > sent {
				behind = "  BEHIND SCHEDULE: the tester cannot keep up"
			}
			fmt.Fprintf(cfg.Progress, "[%5s/%s] sent %d (%d/s) inflight %d p99(1s) %s failed %d rpc-errors %d late %d%s\n",
				el, total, sent, sent-lastSent, cnt.inflight.Load(),
				fmtMs(float64(cnt.lastP99.Load())/1000), cnt.failed.Load(), cnt.rpcErr.Load(), cnt.late.Load(), behind)
			lastSent = sent
		}
	}
}

func hostAddr(t *target) string {
	switch c := t.client.(type) {
	case *fasthttp.HostClient:
		return c.Addr
	case *fasthttp.PipelineClient:
		return c.Addr
	}
	return ""
}
