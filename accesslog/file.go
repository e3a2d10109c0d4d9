package accesslog

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// fileSink writes JSON lines for Fluent Bit / Fluentd style shippers.
type fileSink struct {
	q     chan record
	enc   *encoder
	w     *bufio.Writer
	f     io.Closer // nil for stdout
	m     *metrics
	log   *slog.Logger
	abCtx context.Context
	abFn  context.CancelFunc
	// unflushed counts lines handed to w since the last successful flush:
	// the ones a write error loses (bufio may already have written some of
	// them, so drops are counted generously rather than missed).
	unflushed int
}

func newFileSink(path string, queueSize int, enc *encoder, m *metrics, log *slog.Logger) (*fileSink, error) {
	if queueSize <= 0 {
		queueSize = defaultQueueSize
	}
	s := &fileSink{q: make(chan record, queueSize), enc: enc, m: m, log: log.With("sink", "file")}
	if path == "-" {
		s.w = bufio.NewWriterSize(os.Stdout, 64<<10)
	} else {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return nil, fmt.Errorf("accesslog: %w", err)
		}
		s.w, s.f = bufio.NewWriterSize(f, 64<<10), f
	}
	s.abCtx, s.abFn = context.WithCancel(context.Background())
	return s, nil
}

func (s *fileSink) queue() chan record { return s.q }
func (s *fileSink) abort()             { s.abFn() }

// run writes each document as one line. It flushes whenever the queue runs
// dry, so a quiet edge's lines appear at once and a busy one's go out in
// large writes; a ticker bounds the delay under steady load.
func (s *fileSink) run() {
	defer s.finish()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	buf := make([]byte, 0, 1024)
	for {
		var r record
		var ok bool
		select {
		case r, ok = <-s.q:
		case <-tick.C:
			s.flush()
			continue
		}
		if !ok {
			return
		}
		if s.abCtx.Err() != nil {
			s.m.dropShutdown.Inc()
			continue
		}
		buf = append(s.enc.appendDoc(buf[:0], &r), '\n')
		s.unflushed++
		if _, err := s.w.Write(buf); err != nil {
			s.writeFailed(err)
		}
		if len(s.q) == 0 {
			s.flush()
		}
	}
}

func (s *fileSink) flush() {
	if err := s.w.Flush(); err != nil {
		s.writeFailed(err)
		return
	}
	s.unflushed = 0
}

// writeFailed counts the lines lost with the buffer. bufio keeps returning
// the first error, so the buffer is reset to let later writes try again
// (a full disk may recover).
func (s *fileSink) writeFailed(err error) {
	s.m.dropFileWrite.Add(float64(s.unflushed))
	s.unflushed = 0
	s.log.Warn("writing access log failed", "err", err)
	if f, ok := s.f.(io.Writer); ok {
		s.w.Reset(f)
	} else {
		s.w.Reset(os.Stdout)
	}
}

func (s *fileSink) finish() {
	s.flush()
	if s.f != nil {
		if err := s.f.Close(); err != nil {
			s.log.Warn("closing access log file", "err", err)
		}
	}
	s.abFn()
}
