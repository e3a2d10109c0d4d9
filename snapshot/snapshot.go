package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// CreateOptions tunes Create.
type CreateOptions struct {
	// PartSize splits larger files (default DefaultPartSize).
	PartSize int64
	// Concurrency is the number of parts hashed and uploaded at once (default 16).
	Concurrency int
	// Meta is recorded in the manifest (chain config found in the directory
	// fills what is missing).
	Meta Meta
	// ReuseWindow: an object already in the store that no live manifest
	// references (left by an interrupted snapshot) is reused only when
	// younger than this, so GC's grace period (longer) cannot delete it before
	// the new manifest references it. Default 12h.
	ReuseWindow time.Duration
	// StatusDir, when set, gets a snapshot.json status file (the health
	// sidecar exports it).
	StatusDir string
	Progress  *Progress
	Logger    *slog.Logger
	Now       func() time.Time
}

// CreateResult says what Create did.
type CreateResult struct {
	Manifest                   *Manifest
	Uploaded, Reused           int // objects
	UploadedBytes, ReusedBytes int64
}

// Create uploads the directory root (a capture: nothing may write to it) as
// a new snapshot: objects first, then the manifest, then LATEST.
func Create(ctx context.Context, st Store, root string, o CreateOptions) (res *CreateResult, err error) {
	if o.PartSize <= 0 {
		o.PartSize = DefaultPartSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.ReuseWindow <= 0 {
		o.ReuseWindow = 12 * time.Hour
	}
	if o.Progress == nil {
		o.Progress = &Progress{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	m := &Manifest{Format: FormatVersion, ID: NewID(o.Now()), Created: o.Now().UTC(), Meta: o.Meta, Hash: "blake3", PartSize: o.PartSize}
	m.Meta.Merge(DetectMeta(root))
	var sw *statusWriter
	if o.StatusDir != "" {
		sw = newStatusWriter(o.StatusDir, "snapshot", m.ID, o.Progress)
		_ = sw.update()
		defer func() {
			if werr := sw.finish(err); werr != nil {
				log.Warn("snapshot status file not written", "err", werr)
			}
		}()
	}
	if err := scanTree(root, m); err != nil {
		return nil, err
	}
	o.Progress.TotalBytes.Store(m.Size)

	// An existing manifest with this ID would be overwritten: refuse.
	var clash bool
	if err := st.List(ctx, manifestKey(m.ID), func(ObjectInfo) error { clash = true; return nil }); err != nil {
		return nil, err
	}
	if clash {
		return nil, fmt.Errorf("snapshot %s already exists in %s", m.ID, st)
	}
	have, err := reusable(ctx, st, o.Now().Add(-o.ReuseWindow), log)
	if err != nil {
		return nil, err
	}

	res = &CreateResult{Manifest: m}
	type task struct{ file, part int }
	tasks := make(chan task)
	var mu sync.Mutex
	inflight := map[Hash]chan struct{}{} // uploads of this run, by hash (dedup within the snapshot)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(tasks)
		for i := range m.Files {
			for j := range m.Files[i].Parts {
				select {
				case tasks <- task{i, j}:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
		}
		return nil
	})
	for range o.Concurrency {
		g.Go(func() error {
			for t := range tasks {
				f := &m.Files[t.file]
				fh, err := os.Open(filepath.Join(root, filepath.FromSlash(f.Path)))
				if err != nil {
					return err
				}
				off, n := int64(t.part)*m.PartSize, m.partLen(f, t.part)
				h, got, err := SumReader(io.NewSectionReader(fh, off, n))
				if err == nil && got != n {
					err = fmt.Errorf("%s changed size while being read: nothing may write to a capture", f.Path)
				}
				if err != nil {
					fh.Close()
					return err
				}
				f.Parts[t.part] = h
				mu.Lock()
				_, known := have[h]
				wait, busy := inflight[h]
				if !known && !busy {
					inflight[h] = make(chan struct{})
				}
				mu.Unlock()
				switch {
				case known:
					mu.Lock()
					res.Reused++
					res.ReusedBytes += n
					mu.Unlock()
				case busy:
					<-wait // the same bytes are being uploaded by another worker
				default:
					err = st.Put(gctx, ObjectKey(h), io.NewSectionReader(fh, off, n), n)
					mu.Lock()
					if err == nil {
						have[h] = struct{}{}
						res.Uploaded++
						res.UploadedBytes += n
					}
					close(inflight[h])
					delete(inflight, h)
					mu.Unlock()
					o.Progress.Transferred.Add(n)
				}
				fh.Close()
				if err != nil {
					return err
				}
				o.Progress.DoneBytes.Add(n)
				o.Progress.DoneParts.Add(1)
			}
			return nil
		})
	}
	if sw != nil {
		defer sw.keepUpdated(2 * time.Second)()
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	body, err := m.Encode()
	if err != nil {
		return nil, err
	}
	if err := st.Put(ctx, manifestKey(m.ID), bytes.NewReader(body), int64(len(body))); err != nil {
		return nil, err
	}
	if err := st.Put(ctx, latestKey, strings.NewReader(m.ID+"\n"), int64(len(m.ID)+1)); err != nil {
		return nil, err
	}
	log.Info("snapshot written", "id", m.ID, "files", len(m.Files), "bytes", m.Size,
		"uploaded_objects", res.Uploaded, "uploaded_bytes", res.UploadedBytes, "reused_objects", res.Reused, "reused_bytes", res.ReusedBytes)
	return res, nil
}

// scanTree fills m.Dirs and m.Files (parts still unhashed) from root.
func scanTree(root string, m *Manifest) error {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == StateDirName {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			m.Dirs = append(m.Dirs, Dir{Path: rel, Mode: info.Mode().Perm()})
		case info.Mode().IsRegular():
			n := info.Size()
			m.Files = append(m.Files, File{Path: rel, Size: n, Mode: info.Mode().Perm(), Parts: make([]Hash, (n+m.PartSize-1)/m.PartSize)})
			m.Size += n
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(m.Files) == 0 {
		return fmt.Errorf("%s holds no files to snapshot", root)
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	return nil
}

// reusable is the set of objects a new snapshot may reference without
// uploading: those of the manifest LATEST names (GC keeps it and, with its
// grace period, its objects), and any object written within the reuse window.
func reusable(ctx context.Context, st Store, since time.Time, log *slog.Logger) (map[Hash]struct{}, error) {
	have := map[Hash]struct{}{}
	if m, err := LoadLatest(ctx, st); err == nil {
		for h := range m.Objects() {
			have[h] = struct{}{}
		}
	} else if !errors.Is(err, ErrNoSnapshot) {
		return nil, err
	}
	recent := 0
	err := st.List(ctx, objectsPrefix, func(o ObjectInfo) error {
		if o.LastModified.After(since) {
			if h, err := ParseHash(strings.TrimPrefix(o.Key, objectsPrefix)); err == nil {
				if _, ok := have[h]; !ok {
					have[h] = struct{}{}
					recent++
				}
			}
		}
		return nil
	})
	if recent > 0 {
		log.Info("reusing recent objects no snapshot references yet", "objects", recent)
	}
	return have, err
}

// LatestID reads LATEST.
func LatestID(ctx context.Context, st Store) (string, error) {
	b, err := st.Get(ctx, latestKey)
	if errors.Is(err, ErrNotExist) {
		return "", ErrNoSnapshot
	}
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(b))
	if !ValidID(id) {
		return "", fmt.Errorf("%sLATEST holds %q, not a snapshot ID", st, b)
	}
	return id, nil
}

// LoadLatest reads the manifest LATEST names.
func LoadLatest(ctx context.Context, st Store) (*Manifest, error) {
	id, err := LatestID(ctx, st)
	if err != nil {
		return nil, err
	}
	m, _, err := LoadManifest(ctx, st, id)
	return m, err
}

// LoadManifest reads snapshot id's manifest; expired reports that retention
// already dropped it (its objects stay for the grace period).
func LoadManifest(ctx context.Context, st Store, id string) (m *Manifest, expired bool, err error) {
	if !ValidID(id) {
		return nil, false, fmt.Errorf("%q is not a snapshot ID", id)
	}
	b, err := st.Get(ctx, manifestKey(id))
	if errors.Is(err, ErrNotExist) {
		expired = true
		b, err = st.Get(ctx, expiredKey(id))
		if errors.Is(err, ErrNotExist) {
			return nil, false, fmt.Errorf("snapshot %s not found in %s", id, st)
		}
	}
	if err != nil {
		return nil, false, err
	}
	m, err = DecodeManifest(b)
	if err == nil && m.ID != id {
		err = fmt.Errorf("manifest %s names itself %s", id, m.ID)
	}
	return m, expired, err
}
