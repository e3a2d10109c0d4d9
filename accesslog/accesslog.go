// Package accesslog records one document per JSON-RPC call and ships them to
// Elasticsearch (bulk requests through the official esapi and transport
// packages) and/or as JSON
// lines to stdout or a file. Requests never wait on it: Log copies the entry
// into bounded queues and returns, and whatever does not fit is dropped and
// counted in icon_edge_accesslog_dropped_total.
package accesslog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Entry describes one JSON-RPC call (each item of a batch is its own entry).
// Log copies it, so the caller may reuse it; its strings must not alias
// buffers the caller later overwrites.
type Entry struct {
	Time       time.Time
	Region     string
	Method     string
	HTTPStatus int
	RPCCode    int // 0 on success, else the JSON-RPC error code sent to the client
	Latency    time.Duration
	Upstream   string // node that answered; empty for cache hits and local errors
	CacheHit   bool
	Retries    int
	Bytes      int // response bytes attributed to this call
	RequestID  string
	ClientIP   net.IP
	APIKeyID   string // the key's id, never the key itself
}

// ElasticsearchConfig configures shipping to Elasticsearch. Shipping is off
// when Addresses is empty.
type ElasticsearchConfig struct {
	Addresses []string `yaml:"addresses"`
	Username  string   `yaml:"username"`
	Password  string   `yaml:"password"`
	APIKey    string   `yaml:"api_key"` // base64 "id:key", as Elasticsearch issues it
	// CACertFile is a PEM bundle to trust for https addresses.
	CACertFile string `yaml:"ca_cert_file"`
	// Index is a daily index pattern such as "icon-edge-access-%{+yyyy.MM.dd}"
	// (yyyy, MM, dd, HH; UTC) or, without a pattern, a data stream name.
	Index string `yaml:"index"`
	// InstallTemplate puts the ILM policy and index template before the
	// first document is sent.
	InstallTemplate bool `yaml:"install_template"`
	RetentionDays   int  `yaml:"retention_days"` // ILM delete phase; default 30
	// FlushInterval and FlushBytes bound how long and how much a batch waits.
	FlushInterval time.Duration `yaml:"flush_interval"` // default 1s
	FlushBytes    int           `yaml:"flush_bytes"`    // default 1 MiB
	QueueSize     int           `yaml:"queue_size"`     // documents; default 10000
	// MaxRetries is how many times a failed bulk request (connection error,
	// 429, 5xx) or a document rejected with 429 is sent again, with
	// exponential backoff, before it counts as failed. Default 5.
	MaxRetries int           `yaml:"max_retries"`
	Timeout    time.Duration `yaml:"timeout"` // per bulk request; default 30s
}

// Config configures the access log. The zero value logs nothing.
type Config struct {
	Elasticsearch ElasticsearchConfig `yaml:"elasticsearch"`
	// File is "-" for stdout, a path for JSON lines appended to a file, or
	// empty for none.
	File          string `yaml:"file"`
	FileQueueSize int    `yaml:"file_queue_size"` // default 10000
	// ClientIP is full (default), truncate, hash or none.
	ClientIP string `yaml:"client_ip"`
	// HashSalt keys the HMAC for ClientIP "hash"; required in that mode so
	// addresses cannot be recovered by hashing the whole IPv4 space.
	HashSalt string `yaml:"hash_salt"`
}

// Drop reasons, the values of icon_edge_accesslog_dropped_total's label.
const (
	DropESQueueFull   = "es_queue_full"   // overload or an unreachable cluster
	DropFileQueueFull = "file_queue_full" // the file or stdout cannot keep up
	DropFileWrite     = "file_write"      // write error on the file
	DropClosed        = "closed"          // Log after Close
	DropShutdown      = "shutdown"        // still queued when Close's context ended
)

// sink is one destination with its own bounded queue and goroutine, so a
// stalled cluster cannot hold up the file and the other way round.
type sink interface {
	queue() chan record
	run()   // consumes queue until it is closed, then delivers what is left
	abort() // makes run give up quickly (Close's deadline passed)
}

// Logger ships access log entries. A nil *Logger is valid and logs nothing.
type Logger struct {
	mu     sync.RWMutex // Log holds it shared; Close exclusively to close the queues
	closed bool
	next   *Logger // set by Replace: what is logged here after Close goes there
	sinks  []sink
	queues []chan record
	done   chan struct{} // closed when every sink's run returned
	// file is the file sink's path ("" without one) and fileDone is closed
	// when that sink has written its last line: a successor writing the same
	// file starts only then, so lines of the two never interleave.
	file     string
	fileDone chan struct{}

	m *metrics
}

type metrics struct {
	dropped *prometheus.CounterVec
	shipped prometheus.Counter
	failed  prometheus.Counter
	// queues holds, per sink name, the queue of the Logger in force; its
	// gauge is registered the first time a Logger has that sink.
	reg        prometheus.Registerer
	queues     map[string]*atomic.Pointer[chan record]
	registered map[string]bool

	// Resolved once: Log must not hash label values on the hot path.
	dropESFull, dropFileFull, dropFileWrite, dropClosed, dropShutdown prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "icon_edge_accesslog_dropped_total",
			Help: "Access log documents discarded before delivery, by reason.",
		}, []string{"reason"}),
		shipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "icon_edge_accesslog_shipped_total",
			Help: "Access log documents Elasticsearch acknowledged.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "icon_edge_accesslog_failed_total",
			Help: "Access log documents Elasticsearch did not index after all retries.",
		}),
	}
	m.dropESFull = m.dropped.WithLabelValues(DropESQueueFull)
	m.dropFileFull = m.dropped.WithLabelValues(DropFileQueueFull)
	m.dropFileWrite = m.dropped.WithLabelValues(DropFileWrite)
	m.dropClosed = m.dropped.WithLabelValues(DropClosed)
	m.dropShutdown = m.dropped.WithLabelValues(DropShutdown)
	m.queues = map[string]*atomic.Pointer[chan record]{sinkES: {}, sinkFile: {}}
	m.registered = map[string]bool{}
	return m
}

// Sink names: the values of icon_edge_accesslog_queue_length's label.
const (
	sinkES   = "elasticsearch"
	sinkFile = "file"
)

func (m *metrics) register(reg prometheus.Registerer) error {
	m.reg = reg
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{m.dropped, m.shipped, m.failed} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("accesslog: register metrics: %w", err)
		}
	}
	return nil
}

// follow points the queue gauges at l's queues, registering the gauge of a
// sink seen for the first time. Only New and Replace call it, one at a time.
func (m *metrics) follow(l *Logger) error {
	for name, q := range m.queues {
		var ch *chan record
		for i, s := range l.sinks {
			if sinkName(s) == name {
				ch = &l.queues[i]
			}
		}
		q.Store(ch)
		if ch == nil || m.registered[name] || m.reg == nil {
			continue
		}
		if err := m.reg.Register(queueGauge(name, q)); err != nil {
			return fmt.Errorf("accesslog: register metrics: %w", err)
		}
		m.registered[name] = true
	}
	return nil
}

func sinkName(s sink) string {
	if _, ok := s.(*fileSink); ok {
		return sinkFile
	}
	return sinkES
}

// New starts the configured sinks and registers the access log metrics on
// reg (nil: not registered). It does not wait for Elasticsearch: with
// InstallTemplate the template is installed in the background before the
// first batch, and documents queue (or drop) meanwhile.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Logger, error) {
	m := newMetrics()
	if err := m.register(reg); err != nil {
		return nil, err
	}
	l, err := build(cfg, m, log)
	if err != nil {
		return nil, err
	}
	if err := m.follow(l); err != nil {
		l.abort()
		return nil, err
	}
	l.start(nil)
	return l, nil
}

// Replace starts a Logger for cfg that takes over from l, as a configuration
// reload does, and closes l. Nothing is lost in the hand-over: l delivers
// what it holds, and what is logged to l afterwards (by requests that began
// before the reload) goes to the new Logger. When both write the same file,
// the new one starts writing after l's last line. Metrics continue in the
// same series. On error l is left running.
func (l *Logger) Replace(cfg Config, log *slog.Logger) (*Logger, error) {
	next, err := build(cfg, l.m, log)
	if err != nil {
		return nil, err
	}
	if err := l.m.follow(next); err != nil {
		next.abort()
		return nil, err
	}
	var after chan struct{}
	if next.file != "" && next.file == l.file {
		after = l.fileDone
	}
	next.start(after)
	l.mu.Lock()
	l.next = next
	l.closeQueuesLocked()
	l.mu.Unlock()
	return next, nil
}

// build makes a Logger's sinks without starting them.
func build(cfg Config, m *metrics, log *slog.Logger) (*Logger, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "accesslog")
	mode, err := parseIPMode(cfg.ClientIP)
	if err != nil {
		return nil, err
	}
	if mode == ipHash && cfg.HashSalt == "" {
		return nil, errors.New("accesslog: client_ip hash needs hash_salt")
	}
	newEncoder := func() *encoder { return &encoder{mode: mode, mac: []byte(cfg.HashSalt)} }

	l := &Logger{m: m, done: make(chan struct{})}
	if len(cfg.Elasticsearch.Addresses) > 0 {
		s, err := newESSink(cfg.Elasticsearch, newEncoder(), m, log)
		if err != nil {
			return nil, err
		}
		l.sinks = append(l.sinks, s)
	}
	if cfg.File != "" {
		s, err := newFileSink(cfg.File, cfg.FileQueueSize, newEncoder(), m, log)
		if err != nil {
			l.abort()
			return nil, err
		}
		l.sinks = append(l.sinks, s)
		l.file, l.fileDone = cfg.File, make(chan struct{})
	}
	for _, s := range l.sinks {
		l.queues = append(l.queues, s.queue())
	}
	return l, nil
}

// abort stops sinks that build made but that never ran.
func (l *Logger) abort() {
	for _, s := range l.sinks {
		close(s.queue())
		s.abort()
		if fs, ok := s.(*fileSink); ok && fs.f != nil {
			_ = fs.f.Close()
		}
	}
	if l.fileDone != nil {
		close(l.fileDone)
	}
}

// start runs the sinks; the file sink waits for fileAfter (if not nil).
func (l *Logger) start(fileAfter <-chan struct{}) {
	var wg sync.WaitGroup
	for _, s := range l.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, isFile := s.(*fileSink); isFile {
				defer close(l.fileDone)
				if fileAfter != nil {
					<-fileAfter
				}
			}
			s.run()
		}()
	}
	go func() {
		wg.Wait()
		close(l.done)
	}()
}

func queueGauge(sinkName string, q *atomic.Pointer[chan record]) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "icon_edge_accesslog_queue_length",
		Help:        "Access log documents waiting in a sink's queue.",
		ConstLabels: prometheus.Labels{"sink": sinkName},
	}, func() float64 {
		if ch := q.Load(); ch != nil {
			return float64(len(*ch))
		}
		return 0
	})
}

// Enabled reports whether any sink is configured, so callers can skip
// building entries altogether.
func (l *Logger) Enabled() bool { return l != nil && len(l.sinks) > 0 }

// Log queues e for every sink. It never blocks: when a sink's queue is full
// the document is dropped for that sink and counted.
func (l *Logger) Log(e *Entry) {
	if l == nil || len(l.sinks) == 0 {
		return
	}
	r := record{
		time: e.Time, region: e.Region, method: e.Method, status: e.HTTPStatus,
		rpcCode: e.RPCCode, latency: e.Latency, upstream: e.Upstream, cacheHit: e.CacheHit,
		retries: e.Retries, bytes: e.Bytes, requestID: e.RequestID, apiKeyID: e.APIKeyID,
	}
	if r.time.IsZero() {
		r.time = time.Now()
	}
	// AddrFromSlice copies the bytes, so the caller's net.IP is not retained.
	if ip, ok := netip.AddrFromSlice(e.ClientIP); ok {
		r.ip = ip
	}
	l.mu.RLock()
	if l.closed {
		next := l.next
		l.mu.RUnlock()
		if next != nil {
			next.Log(e)
			return
		}
		l.m.dropClosed.Add(float64(len(l.sinks)))
		return
	}
	for i, q := range l.queues {
		select {
		case q <- r:
		default:
			l.dropFull(i)
		}
	}
	l.mu.RUnlock()
}

// Done is closed when every sink has delivered (or given up on) its last
// document after Close or Replace.
func (l *Logger) Done() <-chan struct{} { return l.done }

// closeQueuesLocked stops accepting entries; the sinks deliver what is
// queued and end. l.mu must be held.
func (l *Logger) closeQueuesLocked() {
	if !l.closed {
		l.closed = true
		for _, q := range l.queues {
			close(q)
		}
	}
}

func (l *Logger) dropFull(i int) {
	if _, ok := l.sinks[i].(*fileSink); ok {
		l.m.dropFileFull.Inc()
	} else {
		l.m.dropESFull.Inc()
	}
}

// Close stops accepting entries and delivers what is queued: the file is
// flushed and Elasticsearch gets its last bulk requests. If ctx ends first,
// the rest is counted as dropped (reason "shutdown") and ctx's error is
// returned. Close is safe to call more than once.
func (l *Logger) Close(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	l.closeQueuesLocked()
	l.mu.Unlock()

	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		for _, s := range l.sinks {
			s.abort()
		}
		// The sinks stop at their next document once aborted; wait briefly so
		// their drop counts are final when Close returns.
		select {
		case <-l.done:
		case <-time.After(time.Second):
		}
		return ctx.Err()
	}
}
