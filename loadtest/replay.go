package loadtest

import (
	"errors"
	"math"
	"time"

	"github.com/icon-edge/icon-edge/capture"
	"github.com/valyala/fastjson"
)

// ReplayOptions choose the replay schedule: the captured inter-arrival
// times divided by Speed, or, when Rate > 0, a constant Rate per second.
type ReplayOptions struct {
	Speed float64 // 1 = as captured, 2 = twice as fast; 0 means 1
	Rate  float64 // requests per second; overrides Speed when > 0
	Loop  bool    // start the capture over when it ends (bounded by the run's Duration)
}

// CaptureSource replays capture files, streaming them: memory does not grow
// with the capture's size.
type CaptureSource struct {
	paths   []string
	opt     ReplayOptions
	r       *capture.Reader
	n       int64
	first   time.Duration
	last    time.Duration // schedule offset of the last request
	base    time.Duration // added to offsets after a loop
	labels  labeler
	skipped int64
}

// NewCaptureSource opens the capture files (in order, e.g. capture.Files).
func NewCaptureSource(paths []string, opt ReplayOptions) (*CaptureSource, error) {
	if opt.Speed < 0 || opt.Rate < 0 {
		return nil, errors.New("loadtest: speed and rate must be positive")
	}
	if opt.Speed == 0 {
		opt.Speed = 1
	}
	r, err := capture.Open(paths...)
	if err != nil {
		return nil, err
	}
	return &CaptureSource{paths: paths, opt: opt, r: r, first: -1}, nil
}

// Next yields the next captured request.
func (s *CaptureSource) Next(req *Request) bool {
	if !s.r.Next() {
		if s.r.Err() != nil || !s.opt.Loop || s.n == 0 {
			return false
		}
		s.skipped += s.r.Skipped()
		s.r.Close()
		r, err := capture.Open(s.paths...)
		if err != nil || !r.Next() {
			return false
		}
		s.r = r
		// The next lap starts one mean gap after the previous lap's end.
		s.base = s.last + s.last/time.Duration(max(s.n, 1))
		s.first = -1
	}
	e := s.r.Entry()
	if s.first < 0 {
		s.first = e.Offset
	}
	if s.opt.Rate > 0 {
		req.At = time.Duration(math.Round(float64(s.n) * float64(time.Second) / s.opt.Rate))
	} else {
		req.At = s.base + time.Duration(float64(max(e.Offset-s.first, 0))/s.opt.Speed)
	}
	s.last = req.At
	s.n++
	req.Path = s.labels.path(e.Path)
	req.Body = e.Body
	req.Method = s.labels.method(e.Body)
	return true
}

// Err is the capture's read error, if any.
func (s *CaptureSource) Err() error { return s.r.Err() }

// Unfinished reports that the capture's last file is still being written
// (see capture.Reader.Unfinished): the replay stopped at its last flush.
func (s *CaptureSource) Unfinished() bool { return s.r.Unfinished() }

// Skipped is how many malformed capture lines were skipped.
func (s *CaptureSource) Skipped() int64 { return s.skipped + s.r.Skipped() }

// Close closes the capture.
func (s *CaptureSource) Close() error { return s.r.Close() }

// labeler derives per-method labels from bodies and interns labels and
// paths, with bounded maps so a hostile capture cannot grow them.
type labeler struct {
	p       fastjson.Parser
	methods map[string]string
	paths   map[string]string
}

const maxLabels = 256

func (l *labeler) method(body []byte) string {
	v, err := l.p.ParseBytes(body)
	if err != nil {
		return "(invalid json)"
	}
	switch v.Type() {
	case fastjson.TypeArray:
		return "(batch)"
	case fastjson.TypeObject:
		m := v.GetStringBytes("method")
		if m == nil {
			return "(no method)"
		}
		return intern(&l.methods, m)
	}
	return "(invalid request)"
}

func (l *labeler) path(p []byte) string { return intern(&l.paths, p) }

func intern(m *map[string]string, b []byte) string {
	if *m == nil {
		*m = map[string]string{}
	}
	if s, ok := (*m)[string(b)]; ok {
		return s
	}
	if len(*m) >= maxLabels {
		return string(b)
	}
	s := string(b)
	(*m)[s] = s
	return s
}
