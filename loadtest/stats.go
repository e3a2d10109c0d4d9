package loadtest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

const (
	classOK uint8 = iota
	classTransport
	classHTTP
	classRPC
)

type result struct {
	method                string
	latency, service, lag time.Duration
	sentAt, endAt         time.Duration // since the run started
	class                 uint8
	code                  int
	text                  string
	late                  bool
	// inflight is how many requests were open when this one was sent,
	// itself included: late sends with every worker busy wait on the
	// target; late sends with free workers wait on the CPU.
	inflight int32
	busy     bool // late, and every worker (--max-inflight) was busy
}

type classifier struct{ p fastjson.Parser }

// classify sorts an exchange into ok, transport failure, HTTP status failure
// or JSON-RPC error. goloop answers 400 for every JSON-RPC error, so a 400
// carrying a JSON-RPC error object counts as that error, not as HTTP.
func (c *classifier) classify(err error, resp *fasthttp.Response) (uint8, int, string) {
	if err != nil {
		return classTransport, 0, transportKind(err)
	}
	status := resp.StatusCode()
	if status != fasthttp.StatusOK && status != fasthttp.StatusBadRequest {
		return classHTTP, status, ""
	}
	body := resp.Body()
	if bytes.Contains(body, []byte(`"error"`)) {
		if code, ok := c.rpcCode(body); ok {
			return classRPC, code, ""
		}
	}
	if status != fasthttp.StatusOK {
		return classHTTP, status, ""
	}
	return classOK, 0, ""
}

func (c *classifier) rpcCode(body []byte) (int, bool) {
	v, err := c.p.ParseBytes(body)
	if err != nil {
		return 0, false
	}
	if v.Type() == fastjson.TypeArray {
		arr, _ := v.Array()
		for _, it := range arr {
			if e := it.Get("error"); e != nil {
				return e.GetInt("code"), true
			}
		}
		return 0, false
	}
	if e := v.Get("error"); e != nil {
		return e.GetInt("code"), true
	}
	return 0, false
}

func transportKind(err error) string {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no free connections"
	}
	return "other"
}

func errKind(class uint8, code int, text string) string {
	switch class {
	case classTransport:
		return "transport: " + text
	case classHTTP:
		return "http " + strconv.Itoa(code)
	case classRPC:
		return "jsonrpc " + strconv.Itoa(code)
	}
	return ""
}

// Histograms hold microseconds up to 10 minutes at 3 significant digits.
const histMax = int64(10 * time.Minute / time.Microsecond)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMax, 3) }

func record(h *hdrhistogram.Histogram, d time.Duration) {
	us := d.Microseconds()
	if us < 1 {
		us = 1
	}
	if us > histMax {
		us = histMax
	}
	_ = h.RecordValue(us)
}

// maxKinds and maxMethods bound the maps a hostile capture could grow.
const (
	maxKinds   = 128
	maxMethods = 256
)

type methodStats struct {
	hist               *hdrhistogram.Histogram
	count, failed, rpc int64
	errors             map[string]int64
}

// Point is one second of the run's timeline.
type Point struct {
	T         int     `json:"t"`         // second since the start
	Sent      int64   `json:"sent"`      // requests sent in this second
	Completed int64   `json:"completed"` // responses (or failures) in this second
	Failed    int64   `json:"failed"`    // transport and HTTP failures
	RPCErrors int64   `json:"rpc_errors"`
	Late      int64   `json:"late"`
	P50       float64 `json:"p50_ms"`
	P90       float64 `json:"p90_ms"`
	P99       float64 `json:"p99_ms"`
	Max       float64 `json:"max_ms"`
}

// collector owns all statistics; only its goroutine touches them during a run.
type collector struct {
	overall, service, lag *hdrhistogram.Histogram
	methods               map[string]*methodStats
	errors                map[string]int64
	count, failed, rpc    int64
	late                  int64
	lateBusy              int64 // late sends that found every worker busy
	peakInflight          int64
	win                   *hdrhistogram.Histogram
	cur                   int
	timeline              []Point
}

func newCollector() *collector {
	return &collector{
		overall: newHist(), service: newHist(), lag: newHist(), win: newHist(),
		methods: map[string]*methodStats{}, errors: map[string]int64{}, cur: -1,
	}
}

const maxTimeline = 1 << 20

func (c *collector) point(sec int) *Point {
	if sec < 0 {
		sec = 0
	}
	if sec >= maxTimeline {
		sec = maxTimeline - 1
	}
	for len(c.timeline) <= sec {
		c.timeline = append(c.timeline, Point{T: len(c.timeline)})
	}
	return &c.timeline[sec]
}

// finish closes the current one-second window.
func (c *collector) finish(cnt *counters) {
	if c.cur < 0 {
		return
	}
	p := c.point(c.cur)
	if c.win.TotalCount() > 0 {
		p.P50 = ms(c.win.ValueAtQuantile(50))
		p.P90 = ms(c.win.ValueAtQuantile(90))
		p.P99 = ms(c.win.ValueAtQuantile(99))
		p.Max = ms(c.win.Max())
		if cnt != nil {
			cnt.lastP99.Store(c.win.ValueAtQuantile(99))
		}
	}
	c.win.Reset()
	c.cur = -1
}

func ms(us int64) float64 { return float64(us) / 1000 }

func (c *collector) consume(results <-chan result, start time.Time, offset time.Duration, cnt *counters) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r, ok := <-results:
			if !ok {
				c.finish(cnt)
				return
			}
			c.add(r, offset, cnt)
		case now := <-tick.C:
			// Close a window that no result will close, so quiet seconds
			// and the progress line stay current.
			if c.cur >= 0 && int((offset+now.Sub(start))/time.Second) > c.cur {
				c.finish(cnt)
			}
		}
	}
}

func (c *collector) add(r result, offset time.Duration, cnt *counters) {
	sec := int((offset + r.endAt) / time.Second)
	if sec > c.cur {
		c.finish(cnt)
		c.cur = sec
	}
	record(c.win, r.latency)
	record(c.overall, r.latency)
	record(c.service, r.service)
	record(c.lag, max(r.lag, 0))
	c.count++
	p := c.point(sec)
	p.Completed++
	c.point(int((offset+r.sentAt)/time.Second)).Sent++
	if r.late {
		c.late++
		c.point(int((offset+r.sentAt)/time.Second)).Late++
		if r.busy {
			c.lateBusy++
		}
	}
	c.peakInflight = max(c.peakInflight, int64(r.inflight))
	m := c.methods[r.method]
	if m == nil {
		name := r.method
		if len(c.methods) >= maxMethods {
			name = "other"
		}
		if m = c.methods[name]; m == nil {
			m = &methodStats{hist: newHist(), errors: map[string]int64{}}
			c.methods[name] = m
		}
	}
	record(m.hist, r.latency)
	m.count++
	if r.class == classOK {
		return
	}
	kind := errKind(r.class, r.code, r.text)
	if _, ok := c.errors[kind]; !ok && len(c.errors) >= maxKinds {
		kind = "other"
	}
	c.errors[kind]++
	if len(m.errors) < maxKinds {
		m.errors[kind]++
	}
	if r.class == classRPC {
		c.rpc++
		m.rpc++
		p.RPCErrors++
	} else {
		c.failed++
		m.failed++
		p.Failed++
	}
}
