package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"
	"lukechampine.com/blake3/guts"
)

// RestoreOptions tunes Restore.
type RestoreOptions struct {
	// SnapshotID picks a snapshot; empty means the one an unfinished restore
	// was fetching, else LATEST.
	SnapshotID string
	// Concurrency is the number of ranged GETs in flight (default 64).
	Concurrency int
	// RangeSize is the size of one GET (default 8 MiB; a power of two).
	RangeSize int64
	// Force replaces a data directory that already holds files (they are
	// removed after the new data is in place). Without it such a directory
	// is left alone and Restore reports Skipped.
	Force bool
	// DryRun prints the plan to Out and changes nothing.
	DryRun bool
	Out    io.Writer
	// CheckpointBytes / CheckpointInterval: how often finished parts are
	// synced and journaled (defaults 1 GiB / 10 s).
	CheckpointBytes    int64
	CheckpointInterval time.Duration
	// OnPart is called after each part is verified, from the fetching
	// goroutines, concurrently (tests interrupt here).
	OnPart   func(file string, part int)
	Progress *Progress
	Logger   *slog.Logger
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	Manifest     *Manifest
	Skipped      bool  // the directory already held data; nothing done
	Resumed      bool  // an earlier, interrupted restore was continued
	FetchedBytes int64 // downloaded by this run
	ReusedBytes  int64 // already restored by an earlier run
	Elapsed      time.Duration
}

const (
	DefaultRangeSize   = 8 << 20
	DefaultConcurrency = 64
)

// restorer is one restore run.
type restorer struct {
	st      Store
	root    string
	state   string // root/.icon-node-agent
	staging string
	o       RestoreOptions
	m       *Manifest
	log     *slog.Logger
}

// Restore fetches a snapshot into root: every file preallocated in a staging
// directory on the same volume, ranged GETs written in place and verified,
// progress journaled, then synced and renamed into root.
func Restore(ctx context.Context, st Store, root string, o RestoreOptions) (*RestoreResult, error) {
	start := time.Now()
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.RangeSize == 0 {
		o.RangeSize = DefaultRangeSize
	}
	if !validRangeSize(o.RangeSize) {
		return nil, fmt.Errorf("range size %d: want a power of two of at least %d", o.RangeSize, MinRangeSize)
	}
	if o.CheckpointBytes <= 0 {
		o.CheckpointBytes = 1 << 30
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = 10 * time.Second
	}
	if o.Progress == nil {
		o.Progress = &Progress{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	r := &restorer{st: st, root: root, state: filepath.Join(root, StateDirName), o: o, log: o.Logger}
	r.staging = filepath.Join(r.state, "staging")
	res, err := r.run(ctx)
	if res != nil {
		res.Elapsed = time.Since(start)
	}
	return res, err
}

func (r *restorer) journalPath() string { return filepath.Join(r.state, "restore.journal") }

func (r *restorer) run(ctx context.Context) (*RestoreResult, error) {
	var unlock func()
	if !r.o.DryRun {
		var err error
		if unlock, err = r.lock(); err != nil {
			return nil, err
		}
		defer unlock()
	}
	js, err := readJournal(r.journalPath())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.log.Warn("restore journal unreadable; starting over", "err", err)
		js = nil
	}
	// A node that already has its chain is left alone (restore runs at every
	// boot), without even asking the store.
	if existing := r.existingEntries(); js == nil && len(existing) > 0 && !r.o.Force {
		fmt.Fprintf(r.o.Out, "%s already holds data (%d entries, e.g. %s): nothing to restore (--force replaces it)\n", r.root, len(existing), existing[0])
		return &RestoreResult{Skipped: true}, nil
	}
	id := r.o.SnapshotID
	if id == "" && js != nil {
		id = js.id // finish what was started rather than mix two snapshots
	}
	if id == "" {
		if id, err = LatestID(ctx, r.st); err != nil {
			return nil, err
		}
	}
	m, expired, err := LoadManifest(ctx, r.st, id)
	if err != nil {
		return nil, err
	}
	if expired {
		r.log.Warn("snapshot was dropped by retention; its objects are kept only for the GC grace period", "snapshot", id)
	}
	r.m = m
	mhash := manifestHash(m)
	if js != nil && (js.id != m.ID || js.manifestHash != mhash) {
		r.log.Info("discarding an unfinished restore of another snapshot", "was", js.id, "now", m.ID)
		js = nil
	}
	res := &RestoreResult{Manifest: m, Resumed: js != nil}
	done := map[partID]bool{}
	if js != nil {
		done = js.done
	}
	need, have, err := r.space(done)
	if err != nil {
		return nil, err
	}
	if r.o.DryRun {
		r.plan(done, need, have, js)
		return res, nil
	}
	if have < need {
		return nil, fmt.Errorf("not enough disk space in %s: %s free (counting what this restore already holds), the snapshot needs %s (size + 5%%)", r.root, fmtBytes(have), fmtBytes(need))
	}

	sw := newStatusWriter(r.root, "restore", m.ID, r.o.Progress)
	if err := sw.update(); err != nil {
		return nil, fmt.Errorf("writing restore status: %w", err)
	}
	stop := sw.keepUpdated(2 * time.Second)
	err = r.fetchAndCommit(ctx, js, mhash, done, res)
	stop()
	if werr := sw.finish(err); werr != nil {
		r.log.Warn("restore status not written", "err", werr)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (r *restorer) fetchAndCommit(ctx context.Context, js *journalState, mhash string, done map[partID]bool, res *RestoreResult) error {
	m := r.m
	var j *journal
	var err error
	if js == nil {
		if err = os.RemoveAll(r.staging); err != nil {
			return err
		}
		if err = r.prepare(); err != nil {
			return err
		}
		if j, err = createJournal(r.journalPath(), m.ID, mhash); err != nil {
			return err
		}
	} else {
		if !js.commit {
			if err = r.repair(done); err != nil {
				return err
			}
		}
		if j, err = appendJournal(r.journalPath()); err != nil {
			return err
		}
	}
	defer j.Close()
	if js == nil || !js.commit {
		for p := range done {
			res.ReusedBytes += m.partLen(&m.Files[p.file], p.part)
		}
		r.o.Progress.TotalBytes.Store(m.Size)
		r.o.Progress.DoneBytes.Store(res.ReusedBytes)
		fetched, err := r.fetch(ctx, done, j)
		res.FetchedBytes = fetched
		if err != nil {
			return err
		}
		if err := r.finishFiles(); err != nil {
			return err
		}
		if err := syncFS(r.root); err != nil {
			return err
		}
		if err := j.commit(); err != nil {
			return err
		}
	}
	return r.commit()
}

// lock makes sure one restore runs at a time (the health check also looks
// at this lock to tell a running restore from an interrupted one).
func (r *restorer) lock() (func(), error) {
	if err := os.MkdirAll(r.state, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(r.state, restoreLockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	// The health check probes this lock for an instant; try a few times.
	for attempt := 0; ; attempt++ {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		if ok {
			return func() { f.Close() }, nil
		}
		if attempt == 10 {
			f.Close()
			return nil, fmt.Errorf("another restore into %s is running", r.root)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// existingEntries lists what root holds besides the agent's own directory.
func (r *restorer) existingEntries() []string {
	ents, _ := os.ReadDir(r.root)
	var names []string
	for _, e := range ents {
		if e.Name() != StateDirName {
			names = append(names, e.Name())
		}
	}
	return names
}

// space returns the bytes the restore needs and the bytes it can use: free
// space plus what the staging files already hold.
func (r *restorer) space(done map[partID]bool) (need, have int64, err error) {
	dir := r.root
	for {
		if _, err := os.Stat(dir); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	free, err := freeSpace(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	var staged int64
	_ = filepath.WalkDir(r.staging, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				staged += allocatedBytes(fi)
			}
		}
		return nil
	})
	return r.m.Size + r.m.Size/20, free + staged, nil
}

func (r *restorer) stagingPath(rel string) string {
	return filepath.Join(r.staging, filepath.FromSlash(rel))
}

// prepare creates the directory tree and preallocates every file.
func (r *restorer) prepare() error {
	if err := os.MkdirAll(r.staging, 0o755); err != nil {
		return err
	}
	for _, d := range r.m.Dirs {
		if err := os.MkdirAll(r.stagingPath(d.Path), 0o755); err != nil {
			return err
		}
	}
	var g errgroup.Group
	g.SetLimit(8)
	for i := range r.m.Files {
		f := &r.m.Files[i]
		g.Go(func() error { return r.createFile(f) })
	}
	return g.Wait()
}

func (r *restorer) createFile(f *File) error {
	p := r.stagingPath(f.Path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := preallocate(fh, f.Size); err != nil {
		fh.Close()
		return fmt.Errorf("preallocating %s (%d bytes): %w", p, f.Size, err)
	}
	return fh.Close()
}

// repair recreates staging files that are missing or of the wrong size
// after an interruption, forgetting their finished parts.
func (r *restorer) repair(done map[partID]bool) error {
	for i := range r.m.Files {
		f := &r.m.Files[i]
		fi, err := os.Stat(r.stagingPath(f.Path))
		if err == nil && fi.Size() == f.Size {
			continue
		}
		r.log.Warn("staging file missing or resized; fetching it again", "file", f.Path)
		for j := range f.Parts {
			delete(done, partID{i, j})
		}
		if err := r.createFile(f); err != nil {
			return err
		}
	}
	for _, d := range r.m.Dirs {
		if err := os.MkdirAll(r.stagingPath(d.Path), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// finishFiles applies the manifest's modes.
func (r *restorer) finishFiles() error {
	for _, f := range r.m.Files {
		if err := os.Chmod(r.stagingPath(f.Path), f.Mode.Perm()); err != nil {
			return err
		}
	}
	for _, d := range r.m.Dirs {
		if err := os.Chmod(r.stagingPath(d.Path), d.Mode.Perm()|0o700); err != nil {
			return err
		}
	}
	return nil
}

// commit renames every top-level entry of the staging directory into root;
// it is idempotent, so a crash halfway is finished by the next run.
func (r *restorer) commit() error {
	old := filepath.Join(r.state, "replaced")
	ents, err := os.ReadDir(r.staging)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range ents {
		target := filepath.Join(r.root, e.Name())
		if _, err := os.Lstat(target); err == nil {
			if err := os.MkdirAll(old, 0o755); err != nil {
				return err
			}
			if err := os.Rename(target, filepath.Join(old, e.Name())); err != nil {
				return err
			}
		}
		if err := os.Rename(filepath.Join(r.staging, e.Name()), target); err != nil {
			return err
		}
	}
	if err := syncDir(r.root); err != nil {
		return err
	}
	for _, p := range []string{old, r.staging, r.journalPath()} {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return syncDir(r.state)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func manifestHash(m *Manifest) string {
	b, _ := m.Encode()
	return SumBytes(b).String()[:32]
}

// order returns file indexes largest first: big files keep many GETs busy
// while the small ones fill in at the end.
func (r *restorer) order() []int {
	idx := make([]int, len(r.m.Files))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return r.m.Files[idx[a]].Size > r.m.Files[idx[b]].Size })
	return idx
}

// plan prints what a restore would fetch.
func (r *restorer) plan(done map[partID]bool, need, have int64, js *journalState) {
	m, w := r.m, r.o.Out
	var parts, gets, doneBytes int64
	for i := range m.Files {
		f := &m.Files[i]
		for j := range f.Parts {
			n := m.partLen(f, j)
			if done[partID{i, j}] {
				doneBytes += n
				continue
			}
			parts++
			gets += (n + r.o.RangeSize - 1) / r.o.RangeSize
		}
	}
	fmt.Fprintf(w, "snapshot  %s (created %s)\n", m.ID, m.Created.Format(time.RFC3339))
	fmt.Fprintf(w, "chain     height %d, block %s, cid %s, nid %s, db %s, goloop %s\n", m.Height, orDash(m.BlockHash), orDash(m.CID), orDash(m.NID), orDash(m.DBType), orDash(m.GoloopVersion))
	fmt.Fprintf(w, "contents  %d files, %d directories, %s\n", len(m.Files), len(m.Dirs), fmtBytes(m.Size))
	if js != nil {
		fmt.Fprintf(w, "resume    %s already restored by an interrupted run\n", fmtBytes(doneBytes))
	}
	fmt.Fprintf(w, "fetch     %s in %d parts, %d ranged GETs of up to %s, %d in flight\n", fmtBytes(m.Size-doneBytes), parts, gets, fmtBytes(r.o.RangeSize), r.o.Concurrency)
	verdict := "ok"
	if have < need {
		verdict = "NOT ENOUGH: the restore would refuse to start"
	}
	fmt.Fprintf(w, "disk      %s usable in %s, %s needed (size + 5%%): %s\n", fmtBytes(have), r.root, fmtBytes(need), verdict)
	fmt.Fprintf(w, "files, in fetch order (largest first):\n")
	for _, i := range r.order() {
		f := &m.Files[i]
		fmt.Fprintf(w, "  %12d  %3d part(s)  %s\n", f.Size, len(f.Parts), f.Path)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// rangeCV is what one fetched range contributes to its part's verification.
type rangeCV = guts.Node

// freeSpace is freeBytes, replaceable by tests.
var freeSpace = freeBytes
