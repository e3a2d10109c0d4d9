package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestGCKeepsReferencedAndRespectsGrace(t *testing.T) {
	srv, st := newStore(t, false)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, 12))
	dir := t.TempDir()
	writeTree(t, dir, map[string][]byte{"shared.ldb": randBytes(rng, 2*testPart), "v.log": randBytes(rng, 1000)})
	var ms []*Manifest
	trees := map[string]map[string]string{}
	for i := range 4 {
		writeTree(t, dir, map[string][]byte{"v.log": randBytes(rng, 1000+i), fmt.Sprintf("%d.ldb", i): randBytes(rng, testPart/2)})
		m := mustCreate(t, st, dir).Manifest
		ms = append(ms, m)
		trees[m.ID] = treeOf(t, dir)
	}
	// An object from an interrupted snapshot that no manifest references.
	orphan := SumBytes([]byte("orphan"))
	if err := st.Put(ctx, ObjectKey(orphan), bytes.NewReader([]byte("orphan")), 6); err != nil {
		t.Fatal(err)
	}
	objects := func() map[string]bool {
		keys, _ := srv.Keys()
		out := map[string]bool{}
		for _, k := range keys {
			out[strings.TrimPrefix(k, "chain/main/")] = true
		}
		return out
	}
	before := objects()

	now := time.Now()
	res, err := GC(ctx, st, GCOptions{Keep: 2, Grace: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Kept, ",") != ms[2].ID+","+ms[3].ID || strings.Join(res.Expired, ",") != ms[0].ID+","+ms[1].ID {
		t.Fatalf("retention kept %v, expired %v", res.Kept, res.Expired)
	}
	if res.DeletedObjects != 0 {
		t.Fatalf("within the grace period GC deleted %d objects", res.DeletedObjects)
	}
	// A restore of an expired snapshot (started before GC) still works.
	d := filepath.Join(t.TempDir(), "d")
	mustRestore(t, st, d, RestoreOptions{SnapshotID: ms[0].ID})
	sameTree(t, trees[ms[0].ID], treeOf(t, d))

	later := now.Add(time.Hour + time.Minute)
	res, err = GC(ctx, st, GCOptions{Keep: 2, Grace: time.Hour, Now: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Purged) != 2 || res.DeletedObjects == 0 {
		t.Fatalf("after the grace period: %+v", res)
	}
	after := objects()
	for _, m := range ms[2:] {
		for h := range m.Objects() {
			if !after[ObjectKey(h)] {
				t.Fatalf("GC deleted %s, referenced by kept snapshot %s", h, m.ID)
			}
		}
		d := filepath.Join(t.TempDir(), "d")
		mustRestore(t, st, d, RestoreOptions{SnapshotID: m.ID})
		sameTree(t, trees[m.ID], treeOf(t, d))
	}
	if after[ObjectKey(orphan)] {
		t.Fatal("an unreferenced object older than the grace period survived")
	}
	for k := range before {
		if strings.HasPrefix(k, objectsPrefix) && !after[k] {
			h, _ := ParseHash(strings.TrimPrefix(k, objectsPrefix))
			if _, ok := ms[2].Objects()[h]; ok {
				t.Fatalf("deleted %s still referenced", k)
			}
		}
	}
	if _, _, err := LoadManifest(ctx, st, ms[0].ID); err == nil {
		t.Fatal("purged snapshot still loadable")
	}
	if _, err := GC(ctx, st, GCOptions{Keep: 0}); err == nil {
		t.Fatal("keep 0 accepted")
	}
}

// A reader that follows LATEST while snapshots are being written must
// always find a complete snapshot: every object of the manifest present.
func TestConcurrentReaderSeesCompleteSnapshot(t *testing.T) {
	_, st := newStore(t, false)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(13, 14))
	dir := t.TempDir()
	writeTree(t, dir, map[string][]byte{"base.ldb": randBytes(rng, 3*testPart)})
	mustCreate(t, st, dir)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(stop)
		for i := range 5 {
			writeTree(t, dir, map[string][]byte{fmt.Sprintf("%d.ldb", i): randBytes(rng, 2*testPart+i)})
			if _, err := Create(ctx, st, dir, CreateOptions{PartSize: testPart, Concurrency: 2}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	seen := map[string]bool{}
	for reads := 0; ; reads++ {
		select {
		case <-stop:
		default:
			m, err := LoadLatest(ctx, st)
			if err != nil {
				t.Fatalf("read %d: %v", reads, err)
			}
			for h, n := range m.Objects() {
				p := make([]byte, 1)
				if err := st.ReadRange(ctx, ObjectKey(h), n-1, p); err != nil {
					t.Fatalf("LATEST=%s references %s, not readable: %v", m.ID, h, err)
				}
			}
			if !seen[m.ID] && len(seen) < 3 {
				d := filepath.Join(t.TempDir(), "d")
				mustRestore(t, st, d, RestoreOptions{SnapshotID: m.ID})
			}
			seen[m.ID] = true
			continue
		}
		break
	}
	wg.Wait()
	t.Logf("reader saw %d distinct snapshots", len(seen))
}

func TestDryRunAndDiskSpace(t *testing.T) {
	_, st := newStore(t, false)
	rng := rand.New(rand.NewPCG(15, 16))
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "data")
	writeTree(t, src, map[string][]byte{"big.ldb": randBytes(rng, 3*testPart), "small": []byte("x")})
	mustCreate(t, st, src)
	var out bytes.Buffer
	res, err := Restore(context.Background(), st, dst, RestoreOptions{DryRun: true, Out: &out, RangeSize: testRange})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fetch ", "13 ranged GETs", "big.ldb", "small", "ok"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, out.String())
		}
	}
	if res.FetchedBytes != 0 {
		t.Error("dry run fetched data")
	}
	if ents, _ := filepath.Glob(filepath.Join(dst, "*")); len(ents) != 0 {
		t.Errorf("dry run wrote %v", ents)
	}

	freeSpace = func(string) (int64, error) { return 3 * testPart, nil } // less than size + 5%
	defer func() { freeSpace = freeBytes }()
	_, err = Restore(context.Background(), st, dst, RestoreOptions{RangeSize: testRange})
	if err == nil || !strings.Contains(err.Error(), "not enough disk space") {
		t.Fatalf("restore without room: %v", err)
	}
	if ents, _ := os.ReadDir(dst); len(ents) != 1 || ents[0].Name() != StateDirName {
		t.Errorf("refused restore wrote %v", ents)
	}
}
