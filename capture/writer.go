// Package capture records the requests an edge receives to JSON-lines files
// (optionally gzip) and reads them back as a bounded-memory stream, so that
// icon-loadtest can replay real traffic.
//
// A line is {"t":<µs since capture start>,"path":"/api/v3",
// "body":"<raw body as a JSON string>"}; a body that is not valid UTF-8 is
// written as "body_b64" instead. Client addresses are never recorded.
package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/prometheus/client_golang/prometheus"
)

// Config says where and how much to capture. Zero values get defaults.
type Config struct {
	Path       string  // file to write; rotated files are Path.1 (newest) … Path.N
	Gzip       bool    // gzip the stream (the reader detects gzip by its magic bytes)
	SampleRate float64 // fraction of requests kept, (0,1]; 0 means 1
	MaxBytes   int64   // rotate when the current file reaches this many bytes; 0 means 64 MiB
	MaxFiles   int     // files kept including the current one; 0 means 4
	BufferSize int     // requests queued for the writer goroutine; 0 means 4096
}

// DefaultConfig is the capture's configuration apart from the path: every
// request, 64 MiB files, four kept, 4096 requests queued.
func DefaultConfig() Config {
	return Config{SampleRate: 1, MaxBytes: 64 << 20, MaxFiles: 4, BufferSize: 4096}
}

// MaxEntryBytes bounds one recorded request so the queue's memory is bounded
// by BufferSize×MaxEntryBytes; larger requests are dropped and counted.
const MaxEntryBytes = 1 << 20

// pooledCap is the largest buffer returned to the pool, so one huge body does
// not pin memory for the life of the process.
const pooledCap = 64 << 10

const (
	flushEvery = time.Second
	drainEvery = 10 * time.Millisecond
)

type entry struct {
	t    int64 // µs since start
	plen int   // path is buf[:plen], body buf[plen:]
	buf  []byte
}

// Writer records sampled requests without ever blocking the caller: requests
// go through a bounded queue to one goroutine that encodes and writes them;
// when the queue is full the request is dropped and counted.
type Writer struct {
	cfg       Config
	start     time.Time
	threshold uint64 // keep when rand.Uint64() < threshold
	all       bool
	ch        chan *entry
	pool      sync.Pool
	quit      chan struct{}
	done      chan struct{}
	closed    atomic.Bool
	closeOnce sync.Once
	err       error

	dropFull, dropLarge, dropWrite prometheus.Counter
	recorded                       prometheus.Counter
	drops                          atomic.Int64
	written                        atomic.Int64

	// Owned by the writer goroutine.
	f      *os.File
	cw     countingWriter
	gz     *gzip.Writer
	bw     *bufio.Writer
	line   []byte
	rotErr error
}

// New opens cfg.Path and starts the writer goroutine. A capture already at
// the path (an earlier run's, or the one a reload replaces) is rotated to
// Path.1 like a full file, never overwritten. Metrics are registered on reg
// when it is not nil; registering twice on the same registry reuses the
// existing collectors, so a reload's new Writer counts into the same series.
func New(cfg Config, reg prometheus.Registerer) (*Writer, error) {
	if cfg.Path == "" {
		return nil, errors.New("capture: empty path")
	}
	if cfg.SampleRate < 0 || cfg.SampleRate > 1 || math.IsNaN(cfg.SampleRate) {
		return nil, fmt.Errorf("capture: sample rate %v outside (0,1]", cfg.SampleRate)
	}
	d := DefaultConfig()
	if cfg.SampleRate == 0 {
		cfg.SampleRate = d.SampleRate
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = d.MaxBytes
	}
	if cfg.MaxFiles <= 0 {
		cfg.MaxFiles = d.MaxFiles
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = d.BufferSize
	}
	w := &Writer{
		cfg:   cfg,
		start: time.Now(),
		all:   cfg.SampleRate >= 1,
		ch:    make(chan *entry, cfg.BufferSize),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	w.threshold = uint64(cfg.SampleRate * float64(math.MaxUint64))
	w.pool.New = func() any { return &entry{buf: make([]byte, 0, 1024)} }
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "icon_edge_capture_dropped_total",
		Help: "Sampled requests not written to the capture, by reason (buffer_full, too_large, write_error).",
	}, []string{"reason"})
	recorded := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "icon_edge_capture_recorded_total",
		Help: "Requests written to the capture file.",
	})
	if reg != nil {
		dropped = register(reg, dropped)
		recorded = register(reg, recorded)
	}
	w.dropFull = dropped.WithLabelValues("buffer_full")
	w.dropLarge = dropped.WithLabelValues("too_large")
	w.dropWrite = dropped.WithLabelValues("write_error")
	w.recorded = recorded
	if fi, err := os.Stat(cfg.Path); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
		shiftFiles(cfg.Path, cfg.MaxFiles)
	}
	if err := w.openFile(); err != nil {
		return nil, err
	}
	go w.loop()
	return w, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		slog.Warn("capture: metrics not registered", "err", err)
	}
	return c
}

// Record queues one request for the capture when it is sampled. It copies
// path and body, never blocks and is safe for concurrent use; a nil Writer
// records nothing, so callers need no "capture on?" branch.
func (w *Writer) Record(path []byte, body []byte) {
	if w == nil {
		return
	}
	if !w.all && rand.Uint64() >= w.threshold {
		return
	}
	if w.closed.Load() {
		return
	}
	if len(path)+len(body) > MaxEntryBytes {
		w.drop(w.dropLarge)
		return
	}
	e := w.pool.Get().(*entry)
	e.t = time.Since(w.start).Microseconds()
	e.plen = len(path)
	e.buf = append(append(e.buf[:0], path...), body...)
	select {
	case w.ch <- e:
	default:
		w.put(e)
		w.drop(w.dropFull)
	}
}

func (w *Writer) drop(c prometheus.Counter) {
	c.Inc()
	w.drops.Add(1)
}

func (w *Writer) put(e *entry) {
	if cap(e.buf) <= pooledCap {
		w.pool.Put(e)
	}
}

// Dropped is how many sampled requests were not written, for all reasons.
func (w *Writer) Dropped() int64 { return w.drops.Load() }

// Written is how many requests were written so far.
func (w *Writer) Written() int64 { return w.written.Load() }

// Close stops recording, writes what is queued and closes the file.
func (w *Writer) Close() error {
	if w == nil {
		return nil
	}
	w.closeOnce.Do(func() {
		w.closed.Store(true)
		close(w.quit)
		<-w.done
	})
	return w.err
}

// loop drains the queue on a short tick instead of blocking on it: a send
// to a parked receiver would make every sampled Record pay for waking this
// goroutine, while a send into a buffered queue nobody waits on is cheap.
// BufferSize/drainEvery bounds the rate kept before drops (409k/s by default).
func (w *Writer) loop() {
	defer close(w.done)
	drain := time.NewTicker(drainEvery)
	defer drain.Stop()
	lastFlush := time.Now()
	for {
		select {
		case now := <-drain.C:
			w.drainQueue()
			if now.Sub(lastFlush) >= flushEvery {
				w.flush()
				lastFlush = now
			}
		case <-w.quit:
			w.drainQueue()
			w.err = errors.Join(w.rotErr, w.closeFile())
			return
		}
	}
}

func (w *Writer) drainQueue() {
	for {
		select {
		case e := <-w.ch:
			w.write(e)
		default:
			return
		}
	}
}

func (w *Writer) write(e *entry) {
	defer w.put(e)
	if w.bw == nil { // the file could not be reopened after a rotation
		w.drop(w.dropWrite)
		return
	}
	path, body := e.buf[:e.plen], e.buf[e.plen:]
	l := append(w.line[:0], `{"t":`...)
	l = strconv.AppendInt(l, e.t, 10)
	l = append(l, `,"path":`...)
	l = appendString(l, path)
	if utf8.Valid(body) {
		l = append(l, `,"body":`...)
		l = appendString(l, body)
	} else {
		l = append(l, `,"body_b64":"`...)
		l = base64.StdEncoding.AppendEncode(l, body)
		l = append(l, '"')
	}
	l = append(l, '}', '\n')
	if cap(l) <= pooledCap {
		w.line = l
	}
	if _, err := w.bw.Write(l); err != nil {
		w.drop(w.dropWrite)
		return
	}
	w.recorded.Inc()
	w.written.Add(1)
	if w.cw.n+int64(w.bw.Buffered()) >= w.cfg.MaxBytes {
		w.rotate()
	}
}

func appendString(dst, s []byte) []byte {
	// AppendJSONString takes a string; the conversion does not escape to the heap.
	return icon.AppendJSONString(dst, unsafeString(s))
}

func (w *Writer) flush() {
	if w.bw == nil {
		return
	}
	if err := w.bw.Flush(); err != nil {
		slog.Warn("capture: flush", "err", err)
		return
	}
	if w.gz != nil {
		_ = w.gz.Flush()
	}
}

func (w *Writer) openFile() error {
	f, err := os.OpenFile(w.cfg.Path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	w.f = f
	w.cw = countingWriter{w: f}
	var out io.Writer = &w.cw
	if w.cfg.Gzip {
		w.gz = gzip.NewWriter(&w.cw)
		out = w.gz
	}
	w.bw = bufio.NewWriterSize(out, 32<<10)
	return nil
}

func (w *Writer) closeFile() error {
	if w.bw == nil {
		return nil
	}
	err := w.bw.Flush()
	if w.gz != nil {
		err = errors.Join(err, w.gz.Close())
		w.gz = nil
	}
	err = errors.Join(err, w.f.Close())
	w.bw, w.f = nil, nil
	return err
}

// rotate keeps at most MaxFiles files: Path.1 is the newest finished file.
func (w *Writer) rotate() {
	if err := w.closeFile(); err != nil {
		slog.Warn("capture: close on rotate", "err", err)
	}
	shiftFiles(w.cfg.Path, w.cfg.MaxFiles)
	if err := w.openFile(); err != nil {
		w.rotErr = err
		slog.Error("capture: reopen after rotation; capture stops", "err", err)
	}
}

// shiftFiles makes room for a new file at p: p becomes p.1, p.1 becomes
// p.2 and so on, keeping maxFiles files with the new one.
func shiftFiles(p string, maxFiles int) {
	if maxFiles <= 1 {
		return // the new file replaces p
	}
	_ = os.Remove(p + "." + strconv.Itoa(maxFiles-1))
	for i := maxFiles - 2; i >= 1; i-- {
		_ = os.Rename(p+"."+strconv.Itoa(i), p+"."+strconv.Itoa(i+1))
	}
	_ = os.Rename(p, p+".1")
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
