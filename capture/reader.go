package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"
)

// Entry is one captured request. Path and Body are valid until the next call
// to Next: the reader reuses its buffers so memory stays bounded.
type Entry struct {
	Offset time.Duration // since the capture started
	Path   []byte
	Body   []byte
}

// readBufSize bounds a line held in memory; longer lines cannot come from
// the writer (MaxEntryBytes) and are skipped, not buffered.
const readBufSize = 4 << 20

// Reader streams the entries of one or more capture files in order, holding
// one line at a time whatever the files' size.
type Reader struct {
	paths   []string
	f       *os.File
	gz      *gzip.Reader
	br      *bufio.Reader
	parser  fastjson.Parser
	entry   Entry
	err     error
	skipped int64
	// unfinished: the last file was a gzip stream without its end, a
	// capture still being written; it was read up to its last flush.
	unfinished bool
	lastOff    time.Duration
	base       time.Duration
}

// Open starts reading the given capture files in the order given (gzip is
// detected by its magic bytes). For a rotated set, Files lists them oldest
// first.
func Open(paths ...string) (*Reader, error) {
	if len(paths) == 0 {
		return nil, errors.New("capture: no file")
	}
	r := &Reader{paths: paths}
	if err := r.openNext(); err != nil {
		return nil, err
	}
	return r, nil
}

// Files returns path and its rotated siblings (path.N … path.1, path) that
// exist, oldest first.
func Files(path string) []string {
	var rotated []int
	matches, _ := filepath.Glob(path + ".*")
	for _, m := range matches {
		if n, err := strconv.Atoi(strings.TrimPrefix(m, path+".")); err == nil && n > 0 {
			rotated = append(rotated, n)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(rotated)))
	out := make([]string, 0, len(rotated)+1)
	for _, n := range rotated {
		out = append(out, path+"."+strconv.Itoa(n))
	}
	if _, err := os.Stat(path); err == nil {
		out = append(out, path)
	}
	return out
}

func (r *Reader) openNext() error {
	r.closeCurrent()
	if len(r.paths) == 0 {
		return io.EOF
	}
	p := r.paths[0]
	r.paths = r.paths[1:]
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	r.f = f
	br := bufio.NewReaderSize(f, 64<<10)
	magic, _ := br.Peek(2)
	var src io.Reader = br
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return fmt.Errorf("capture: %s: %w", p, err)
		}
		r.gz = gz
		src = gz
	}
	if r.br == nil {
		r.br = bufio.NewReaderSize(src, readBufSize)
	} else {
		r.br.Reset(src)
	}
	return nil
}

func (r *Reader) closeCurrent() {
	if r.gz != nil {
		r.gz.Close()
		r.gz = nil
	}
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// Next advances to the next entry; it returns false at the end or on error
// (see Err). Malformed lines are skipped and counted (see Skipped).
func (r *Reader) Next() bool {
	if r.err != nil {
		return false
	}
	for {
		line, err := r.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			r.skipped++
			if err = r.discardLine(); err != nil && !errors.Is(err, io.EOF) {
				r.err = err
				return false
			}
			continue
		}
		if len(bytes.TrimSpace(line)) > 0 && r.parse(line) {
			return true
		}
		if err != nil {
			// A gzip file without its trailer, last in the set, is the one
			// the edge is still writing (it flushes every second): what
			// it holds so far is complete lines, and that is the end.
			if errors.Is(err, io.ErrUnexpectedEOF) && r.gz != nil && len(r.paths) == 0 {
				r.unfinished = true
				err = io.EOF
			}
			if !errors.Is(err, io.EOF) {
				r.err = fmt.Errorf("capture: %w", err)
				return false
			}
			if err := r.openNext(); err != nil {
				if !errors.Is(err, io.EOF) {
					r.err = err
				}
				return false
			}
			// A rotated set continues the writer's clock; files from
			// different captures are laid end to end.
			r.base = r.lastOff
		}
	}
}

func (r *Reader) discardLine() error {
	for {
		_, err := r.br.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

func (r *Reader) parse(line []byte) bool {
	v, err := r.parser.ParseBytes(line)
	if err != nil {
		r.skipped++
		return false
	}
	t := v.GetInt64("t")
	path := v.GetStringBytes("path")
	e := &r.entry
	e.Path = append(e.Path[:0], path...)
	if b := v.Get("body"); b != nil {
		s, err := b.StringBytes()
		if err != nil {
			r.skipped++
			return false
		}
		e.Body = append(e.Body[:0], s...)
	} else if b := v.GetStringBytes("body_b64"); b != nil {
		n := base64.StdEncoding.DecodedLen(len(b))
		if cap(e.Body) < n {
			e.Body = make([]byte, n)
		}
		m, err := base64.StdEncoding.Decode(e.Body[:n], b)
		if err != nil {
			r.skipped++
			return false
		}
		e.Body = e.Body[:m]
	} else {
		r.skipped++
		return false
	}
	off := time.Duration(t) * time.Microsecond
	if r.base > 0 && off < r.base {
		off += r.base
	}
	e.Offset = off
	if off > r.lastOff {
		r.lastOff = off
	}
	return true
}

// Entry is the current entry; valid until the next call to Next.
func (r *Reader) Entry() Entry { return r.entry }

// Err is the error that stopped Next, nil at a clean end.
func (r *Reader) Err() error { return r.err }

// Skipped is how many malformed or oversized lines were skipped.
func (r *Reader) Skipped() int64 { return r.skipped }

// Unfinished reports that the last file ended without its gzip trailer: a
// capture the edge is still writing, read up to its last flush (at most a
// second behind). It is complete once rotated or after the edge stops.
func (r *Reader) Unfinished() bool { return r.unfinished }

// Close releases the open file.
func (r *Reader) Close() error {
	r.closeCurrent()
	r.paths = nil
	return nil
}
