package snapshot

import (
	"bytes"
	"context"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// Small sizes so every path (many parts, many ranges, short last range) runs
// on megabytes.
const (
	testPart  = 256 << 10
	testRange = 64 << 10
)

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := rng.Uint64()
		for k := range 8 {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func writeTree(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for rel, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// treeOf reads every regular file and directory under dir (the agent's
// state directory aside) as path -> content ("<dir>" for directories).
func treeOf(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
		case rel == StateDirName:
			return filepath.SkipDir
		case d.IsDir():
			out[rel] = "<dir>"
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fi, _ := d.Info()
			out[rel] = fi.Mode().Perm().String() + ":" + string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t testing.TB, want, got map[string]string) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("missing %s", k)
		case g != v:
			t.Errorf("%s differs (%d vs %d bytes)", k, len(g), len(v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s", k)
		}
	}
}

func mustCreate(t testing.TB, st Store, dir string) *CreateResult {
	t.Helper()
	res, err := Create(context.Background(), st, dir, CreateOptions{PartSize: testPart})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func mustRestore(t testing.TB, st Store, dir string, o RestoreOptions) *RestoreResult {
	t.Helper()
	if o.RangeSize == 0 {
		o.RangeSize = testRange
	}
	if o.Concurrency == 0 {
		o.Concurrency = 8
	}
	res, err := Restore(context.Background(), st, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

var _ = bytes.Equal
