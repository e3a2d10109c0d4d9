package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"
)

// GCOptions tunes GC.
type GCOptions struct {
	// Keep is how many of the newest snapshots stay (at least 1; the one
	// LATEST names always stays).
	Keep int
	// Grace protects what retention drops: an expired manifest (and so its
	// objects) stays this long after it expired, and an object no manifest
	// references stays this long after it was written. It must be longer
	// than the slowest restore, and than the slowest snapshot plus its reuse
	// window. Default 48h.
	Grace  time.Duration
	DryRun bool
	Now    func() time.Time
	Logger *slog.Logger
}

// DefaultGrace is GC's default grace period.
const DefaultGrace = 48 * time.Hour

// GCResult says what GC did (or, with DryRun, would do).
type GCResult struct {
	Kept           []string // live snapshots
	Expired        []string // moved to expired/ by this run
	Purged         []string // expired manifests deleted (grace over)
	Protected      []string // expired manifests still within grace
	DeletedObjects int
	DeletedBytes   int64
	KeptObjects    int   // referenced, or unreferenced but within grace
	KeptBytes      int64 // bytes of the kept objects
}

// GC applies retention and deletes objects nothing needs any more.
func GC(ctx context.Context, st Store, o GCOptions) (*GCResult, error) {
	if o.Keep < 1 {
		return nil, fmt.Errorf("keep %d: at least one snapshot must stay", o.Keep)
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	now := o.Now()
	res := &GCResult{}

	ids, _, err := listManifests(ctx, st, snapshotsPrefix)
	if err != nil {
		return nil, err
	}
	latest, err := LatestID(ctx, st)
	if err != nil && !errors.Is(err, ErrNoSnapshot) {
		return nil, err
	}
	keep := map[string]bool{}
	if latest != "" {
		keep[latest] = true
	}
	for i := max(0, len(ids)-o.Keep); i < len(ids); i++ {
		keep[ids[i]] = true
	}
	refs := map[Hash]bool{}
	for _, id := range ids {
		b, err := st.Get(ctx, manifestKey(id))
		if err != nil {
			return nil, err
		}
		m, err := DecodeManifest(b)
		if err != nil {
			// A manifest this agent cannot read may still be needed: stop.
			return nil, fmt.Errorf("snapshot %s: %w", id, err)
		}
		for h := range m.Objects() {
			refs[h] = true
		}
		if keep[id] {
			res.Kept = append(res.Kept, id)
			continue
		}
		// Expire: the manifest moves to expired/, whose write time starts
		// its grace period; restores already running go on meanwhile.
		res.Expired = append(res.Expired, id)
		if o.DryRun {
			continue
		}
		if err := st.Put(ctx, expiredKey(id), bytes.NewReader(b), int64(len(b))); err != nil {
			return nil, err
		}
		if err := st.Delete(ctx, []string{manifestKey(id)}); err != nil {
			return nil, err
		}
		o.Logger.Info("snapshot expired", "id", id, "objects_kept_until", now.Add(o.Grace).UTC().Format(time.RFC3339))
	}

	expired, times, err := listManifests(ctx, st, expiredPrefix)
	if err != nil {
		return nil, err
	}
	for _, id := range expired {
		if now.Sub(times[id]) >= o.Grace {
			res.Purged = append(res.Purged, id)
			continue
		}
		res.Protected = append(res.Protected, id)
		b, err := st.Get(ctx, expiredKey(id))
		if err != nil {
			return nil, err
		}
		m, err := DecodeManifest(b)
		if err != nil {
			return nil, fmt.Errorf("expired snapshot %s: %w", id, err)
		}
		for h := range m.Objects() {
			refs[h] = true
		}
	}

	var del []string
	err = st.List(ctx, objectsPrefix, func(obj ObjectInfo) error {
		h, err := ParseHash(strings.TrimPrefix(obj.Key, objectsPrefix))
		if err == nil && refs[h] || now.Sub(obj.LastModified) < o.Grace {
			res.KeptObjects++
			res.KeptBytes += obj.Size
			return nil
		}
		del = append(del, obj.Key)
		res.DeletedObjects++
		res.DeletedBytes += obj.Size
		return nil
	})
	if err != nil {
		return nil, err
	}
	if o.DryRun {
		return res, nil
	}
	if err := st.Delete(ctx, del); err != nil {
		return nil, err
	}
	// Expired manifests go last: were GC interrupted before, their objects
	// would still be found unreferenced by the next run.
	purge := make([]string, len(res.Purged))
	for i, id := range res.Purged {
		purge[i] = expiredKey(id)
	}
	if err := st.Delete(ctx, purge); err != nil {
		return nil, err
	}
	o.Logger.Info("gc done", "kept_snapshots", len(res.Kept), "expired", len(res.Expired), "purged", len(res.Purged),
		"deleted_objects", res.DeletedObjects, "deleted_bytes", res.DeletedBytes, "kept_objects", res.KeptObjects)
	return res, nil
}

// listManifests returns the snapshot IDs under prefix, oldest first, and
// when each manifest was written.
func listManifests(ctx context.Context, st Store, prefix string) ([]string, map[string]time.Time, error) {
	var ids []string
	times := map[string]time.Time{}
	err := st.List(ctx, prefix, func(o ObjectInfo) error {
		id, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, prefix), manifestSuffix)
		if ok && ValidID(id) {
			ids = append(ids, id)
			times[id] = o.LastModified
		}
		return nil
	})
	sort.Strings(ids)
	return ids, times, err
}
