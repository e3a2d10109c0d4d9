package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// ErrCorrupt marks a part whose bytes do not hash to its address.
var ErrCorrupt = errors.New("object content does not match its hash")

type partState struct {
	id    partID
	off   int64 // in the file
	n     int64
	hash  Hash
	nodes []rangeCV
	left  atomic.Int32 // ranges not yet fetched
}

type fileState struct {
	path string
	mu   sync.Mutex
	f    *os.File
	refs atomic.Int32 // ranges not yet written
}

func (fs *fileState) file() (*os.File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.f == nil {
		f, err := os.OpenFile(fs.path, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		fs.f = f
	}
	return fs.f, nil
}

// release closes the file after its last range.
func (fs *fileState) release() error {
	if fs.refs.Add(-1) != 0 {
		return nil
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.f == nil {
		return nil
	}
	err := fs.f.Close()
	fs.f = nil
	return err
}

type rangeTask struct {
	ps  *partState
	fs  *fileState
	idx int
	off int64 // in the part
	n   int64
}

// checkpointer journals finished parts once a filesystem sync has made
// their bytes durable, so the journal never claims more than the disk holds.
type checkpointer struct {
	r       *restorer
	j       *journal
	mu      sync.Mutex
	pending []partID
	bytes   int64
	kick    chan struct{}
}

func (c *checkpointer) add(id partID, n int64) {
	c.mu.Lock()
	c.pending = append(c.pending, id)
	c.bytes += n
	full := c.bytes >= c.r.o.CheckpointBytes
	c.mu.Unlock()
	if full {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

func (c *checkpointer) flush() error {
	c.mu.Lock()
	parts := c.pending
	c.pending, c.bytes = nil, 0
	c.mu.Unlock()
	if len(parts) == 0 {
		return nil
	}
	if err := syncFS(c.r.root); err != nil {
		return err
	}
	return c.j.record(parts)
}

// fetch downloads every part not in done, largest files first, and returns
// the bytes it fetched. On any error (or cancellation) the parts finished so
// far are still synced and journaled before it returns.
func (r *restorer) fetch(ctx context.Context, done map[partID]bool, j *journal) (int64, error) {
	m := r.m
	var tasks []rangeTask
	for _, i := range r.order() {
		f := &m.Files[i]
		fst := &fileState{path: r.stagingPath(f.Path)}
		for p := range f.Parts {
			if done[partID{i, p}] {
				continue
			}
			ps := &partState{id: partID{i, p}, off: int64(p) * m.PartSize, n: m.partLen(f, p), hash: f.Parts[p]}
			nr := int((ps.n + r.o.RangeSize - 1) / r.o.RangeSize)
			ps.nodes = make([]rangeCV, nr)
			ps.left.Store(int32(nr))
			fst.refs.Add(int32(nr))
			r.o.Progress.TotalParts.Add(1)
			for k := range nr {
				off := int64(k) * r.o.RangeSize
				tasks = append(tasks, rangeTask{ps: ps, fs: fst, idx: k, off: off, n: min(r.o.RangeSize, ps.n-off)})
			}
		}
	}
	cp := &checkpointer{r: r, j: j, kick: make(chan struct{}, 1)}
	stop := make(chan struct{})
	cpErr := make(chan error, 1)
	go func() {
		t := time.NewTicker(r.o.CheckpointInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-cp.kick:
			case <-stop:
				cpErr <- cp.flush()
				return
			}
			if err := cp.flush(); err != nil {
				cpErr <- err
				return
			}
		}
	}()

	var fetched atomic.Int64
	next := atomic.Int64{}
	g, gctx := errgroup.WithContext(ctx)
	workers := min(r.o.Concurrency, max(len(tasks), 1))
	for range workers {
		g.Go(func() error {
			buf := make([]byte, r.o.RangeSize)
			for {
				ti := int(next.Add(1) - 1)
				if ti >= len(tasks) || gctx.Err() != nil {
					return gctx.Err()
				}
				if err := r.fetchRange(gctx, &tasks[ti], buf, cp, &fetched); err != nil {
					return err
				}
			}
		})
	}
	err := g.Wait()
	close(stop)
	// Files of ranges never fetched are still open.
	for i := range tasks {
		if f := tasks[i].fs; f.f != nil {
			f.f.Close()
			f.f = nil
		}
	}
	if cerr := <-cpErr; cerr != nil && err == nil {
		err = fmt.Errorf("journaling restore progress: %w", cerr)
	}
	return fetched.Load(), err
}

func (r *restorer) fetchRange(ctx context.Context, t *rangeTask, buf []byte, cp *checkpointer, fetched *atomic.Int64) error {
	ps, m := t.ps, r.m
	f := &m.Files[ps.id.file]
	p := buf[:t.n]
	if err := r.st.ReadRange(ctx, ObjectKey(ps.hash), t.off, p); err != nil {
		return fmt.Errorf("%s part %d: %w", f.Path, ps.id.part, err)
	}
	fetched.Add(t.n)
	r.o.Progress.Transferred.Add(t.n)
	ps.nodes[t.idx] = rangeNode(p, uint64(t.off/1024))
	fh, err := t.fs.file()
	if err != nil {
		return err
	}
	if _, err := fh.WriteAt(p, ps.off+t.off); err != nil {
		return fmt.Errorf("writing %s: %w", t.fs.path, err)
	}
	if err := t.fs.release(); err != nil {
		return err
	}
	if ps.left.Add(-1) != 0 {
		return nil
	}
	if got := partRoot(ps.nodes, r.o.RangeSize, ps.n); got != ps.hash {
		return fmt.Errorf("%s part %d (bytes %d-%d): object %s holds data hashing to %s: %w",
			f.Path, ps.id.part, ps.off, ps.off+ps.n-1, ps.hash, got, ErrCorrupt)
	}
	cp.add(ps.id, ps.n)
	r.o.Progress.DoneBytes.Add(ps.n)
	r.o.Progress.DoneParts.Add(1)
	if r.o.OnPart != nil {
		r.o.OnPart(f.Path, ps.id.part)
	}
	return nil
}
