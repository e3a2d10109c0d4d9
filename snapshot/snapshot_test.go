package snapshot

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// writeLevelDB fills a real LevelDB with n keys, small tables so there are
// several .ldb files, and returns the expected contents.
func writeLevelDB(t testing.TB, dir string, rng *rand.Rand, n int) map[string][]byte {
	t.Helper()
	db, err := leveldb.OpenFile(dir, &opt.Options{WriteBuffer: 128 << 10, CompactionTableSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for i := range n {
		k := fmt.Sprintf("block/%08d", i)
		v := randBytes(rng, 200+rng.IntN(1500))
		want[k] = v
		if err := db.Put([]byte(k), v, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

// goloopLikeTree builds a node directory shaped like goloop's: a chain
// directory named by its CID with config, genesis, a LevelDB, a WAL, an
// empty directory, plus things that must never leave the node.
func goloopLikeTree(t testing.TB, src string, rng *rand.Rand) map[string][]byte {
	chain := filepath.Join(src, "1a2b3c")
	writeTree(t, src, map[string][]byte{
		"1a2b3c/config.json":   []byte(`{"nid":1,"db_type":"goleveldb","channel":"icon_dex","seed_addr":""}`),
		"1a2b3c/genesis.zip":   randBytes(rng, 100<<10),
		"1a2b3c/wal/000001":    randBytes(rng, 3000),
		"1a2b3c/db/big.bin":    randBytes(rng, 4*testPart+3), // five parts, the last 3 bytes
		"1a2b3c/db/exact.bin":  randBytes(rng, testPart),     // exactly one part
		"1a2b3c/db/empty":      nil,
		"rconfig.json":         []byte(`{"eeInstances":1}`),
		"keystore.json":        []byte(`{"secret":"never upload"}`),
		"1a2b3c/cache/x.cache": []byte("cache"),
	})
	if err := os.MkdirAll(filepath.Join(chain, "contract"), 0o750); err != nil {
		t.Fatal(err)
	}
	if l, err := net.Listen("unix", filepath.Join(src, "cli.sock")); err == nil {
		t.Cleanup(func() { l.Close() })
	}
	return writeLevelDB(t, filepath.Join(chain, "db", "icon_dex"), rng, 3000)
}

func TestRoundTripLevelDB(t *testing.T) {
	srv, st := newStore(t, false)
	rng := rand.New(rand.NewPCG(7, 7))
	src, capDir, dst := t.TempDir(), filepath.Join(t.TempDir(), "capture"), filepath.Join(t.TempDir(), "data")
	want := goloopLikeTree(t, src, rng)

	cs, err := Capture(src, capDir, DefaultExcludes)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Linked == 0 || cs.Copied == 0 {
		t.Fatalf("capture linked %d and copied %d files; want both (tables linked, the rest copied)", cs.Linked, cs.Copied)
	}
	for _, ex := range []string{"keystore.json", "cli.sock", "1a2b3c/cache", "1a2b3c/db/icon_dex/LOG"} {
		if _, err := os.Lstat(filepath.Join(capDir, ex)); err == nil {
			t.Errorf("capture kept %s", ex)
		}
	}
	res := mustCreate(t, st, capDir)
	m := res.Manifest
	if m.CID != "0x1a2b3c" || m.NID != "0x1" || m.DBType != "goleveldb" {
		t.Errorf("detected metadata %+v", m.Meta)
	}
	if res.Uploaded == 0 || res.Reused != 0 {
		t.Errorf("first snapshot: uploaded %d, reused %d", res.Uploaded, res.Reused)
	}

	rr := mustRestore(t, st, dst, RestoreOptions{})
	if rr.FetchedBytes != m.Size || rr.Resumed || rr.Skipped {
		t.Errorf("restore %+v, snapshot size %d", rr, m.Size)
	}
	sameTree(t, treeOf(t, capDir), treeOf(t, dst))
	if _, err := os.Stat(filepath.Join(dst, StateDirName, "staging")); err == nil {
		t.Error("staging directory left behind")
	}
	if restoring, why := RestoreState(dst); restoring {
		t.Errorf("after a finished restore: restoring (%s)", why)
	}

	db, err := leveldb.OpenFile(filepath.Join(dst, "1a2b3c", "db", "icon_dex"), &opt.Options{ErrorIfMissing: true, Strict: opt.StrictAll})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	it := db.NewIterator(nil, nil)
	for it.Next() {
		if v, ok := want[string(it.Key())]; !ok || string(v) != string(it.Value()) {
			t.Fatalf("restored key %q has a wrong value", it.Key())
		}
		n++
	}
	it.Release()
	if err := it.Error(); err != nil || n != len(want) {
		t.Fatalf("restored LevelDB: %d of %d keys, %v", n, len(want), err)
	}

	// A second restore into the same directory leaves it alone.
	before := srv.Stats().Gets
	rr = mustRestore(t, st, dst, RestoreOptions{})
	if !rr.Skipped || srv.Stats().Gets != before {
		t.Errorf("restore into a full directory: %+v", rr)
	}
}

func TestCaptureRefusesOpenDatabase(t *testing.T) {
	dir := t.TempDir()
	db, err := leveldb.OpenFile(filepath.Join(dir, "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckNotInUse(dir, DefaultExcludes); err == nil || !strings.Contains(err.Error(), "is open") {
		t.Fatalf("open LevelDB not detected: %v", err)
	}
	db.Close()
	if err := CheckNotInUse(dir, DefaultExcludes); err != nil {
		t.Fatalf("closed LevelDB: %v", err)
	}
}

func TestIncrementalUploadsOnlyChanges(t *testing.T) {
	srv, st := newStore(t, false)
	rng := rand.New(rand.NewPCG(3, 4))
	dir := t.TempDir()
	files := map[string][]byte{}
	var total int64
	for i := range 100 {
		b := randBytes(rng, 20<<10+rng.IntN(100<<10))
		files[fmt.Sprintf("db/%06d.ldb", i)] = b
		total += int64(len(b))
	}
	writeTree(t, dir, files)
	mustCreate(t, st, dir)

	// One file in a hundred is replaced, one added: ~1-2% of the bytes.
	changed := randBytes(rng, len(files["db/000042.ldb"]))
	added := randBytes(rng, 30<<10)
	writeTree(t, dir, map[string][]byte{"db/000042.ldb": changed, "db/000100.ldb": added})
	srv.ResetStats()
	res := mustCreate(t, st, dir)
	objBytes := int64(len(changed) + len(added))
	if res.UploadedBytes != objBytes || res.Uploaded != 2 {
		t.Fatalf("second snapshot uploaded %d objects, %d bytes; want 2, %d", res.Uploaded, res.UploadedBytes, objBytes)
	}
	// What crossed the wire: the two objects, the manifest and LATEST.
	var manifestSize int64
	st.List(context.Background(), manifestKey(res.Manifest.ID), func(o ObjectInfo) error { manifestSize = o.Size; return nil })
	sent := srv.Stats().PutBytes
	if want := objBytes + manifestSize + int64(len(res.Manifest.ID)+1); sent != want {
		t.Fatalf("server received %d bytes, want %d", sent, want)
	}
	if frac := float64(sent) / float64(total); frac > 0.03 {
		t.Fatalf("second snapshot sent %.1f%% of the data", 100*frac)
	}
	t.Logf("second snapshot sent %d of %d bytes (%.2f%%)", sent, total, 100*float64(sent)/float64(total))
}

func TestResumeAfterInterrupt(t *testing.T) {
	srv, st := newStore(t, false)
	rng := rand.New(rand.NewPCG(5, 6))
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "data")
	files := map[string][]byte{}
	for i := range 6 {
		files[fmt.Sprintf("db/%d.ldb", i)] = randBytes(rng, 3*testPart+rng.IntN(testPart))
	}
	writeTree(t, src, files)
	m := mustCreate(t, st, src).Manifest
	srv.ResetStats()

	ctx, cancel := context.WithCancel(context.Background())
	var first []string // object keys of the parts the first run finished
	var mu sync.Mutex
	_, err := Restore(ctx, st, dst, RestoreOptions{RangeSize: testRange, Concurrency: 4, OnPart: func(file string, part int) {
		mu.Lock()
		defer mu.Unlock()
		for _, f := range m.Files {
			if f.Path == file {
				first = append(first, ObjectKey(f.Parts[part]))
			}
		}
		if len(first) == 7 {
			cancel() // the node is rebooted mid-restore
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted restore returned %v", err)
	}
	if restoring, why := RestoreState(dst); !restoring {
		t.Fatal("an interrupted restore must keep the node out of service")
	} else {
		t.Logf("health sees: %s", why)
	}
	if entries, _ := os.ReadDir(dst); len(entries) != 1 {
		t.Fatalf("half a restore reached the data directory: %v", entries)
	}
	gets := srv.Stats().GetsByKey
	mu.Lock()
	defer mu.Unlock()

	res := mustRestore(t, st, dst, RestoreOptions{Concurrency: 4})
	if !res.Resumed {
		t.Fatal("second run did not resume")
	}
	after := srv.Stats().GetsByKey
	var finished int64
	for _, k := range first {
		if after[k] != gets[k] {
			t.Errorf("finished part %s fetched again (%d GETs before, %d after)", k, gets[k], after[k])
		}
	}
	for _, f := range m.Files {
		for i, h := range f.Parts {
			for _, k := range first {
				if k == ObjectKey(h) {
					finished += m.partLen(&f, i)
				}
			}
		}
	}
	if res.ReusedBytes != finished || res.FetchedBytes != m.Size-finished {
		t.Errorf("resume reused %d (want %d) and fetched %d (want %d)", res.ReusedBytes, finished, res.FetchedBytes, m.Size-finished)
	}
	sameTree(t, treeOf(t, src), treeOf(t, dst))
	if restoring, why := RestoreState(dst); restoring {
		t.Errorf("after the resumed restore: %s", why)
	}
}

func TestCorruptObjectFailsLoudly(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(data []byte) []byte
		want    string
	}{
		{"flipped byte", func(d []byte) []byte { d[len(d)/2] ^= 1; return d }, "does not match its hash"},
		{"truncated", func(d []byte) []byte { return d[:len(d)-100] }, "shorter than expected"},
		{"missing", nil, "NoSuchKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, st := newStore(t, false)
			src, dst := t.TempDir(), filepath.Join(t.TempDir(), "data")
			rng := rand.New(rand.NewPCG(9, 9))
			writeTree(t, src, map[string][]byte{"a.ldb": randBytes(rng, 3*testPart), "b/MANIFEST-000001": randBytes(rng, 5000)})
			m := mustCreate(t, st, src).Manifest
			key := "chain/main/" + ObjectKey(m.Files[0].Parts[1])
			if tc.corrupt == nil {
				srv.Delete(key)
			} else {
				data, _ := st.Get(context.Background(), ObjectKey(m.Files[0].Parts[1]))
				srv.Overwrite(key, tc.corrupt(data))
			}
			_, err := Restore(context.Background(), st, dst, RestoreOptions{RangeSize: testRange, Concurrency: 2})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "a.ldb part 1") {
				t.Fatalf("restore of a damaged snapshot: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dst, "a.ldb")); err == nil {
				t.Fatal("damaged data reached the data directory")
			}
			if restoring, why := RestoreState(dst); !restoring || !strings.Contains(why, "failed") {
				t.Fatalf("health after a failed restore: %v %q", restoring, why)
			}
		})
	}
}
