package capture

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func readAll(t *testing.T, paths ...string) []Entry {
	t.Helper()
	r, err := Open(paths...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []Entry
	for r.Next() {
		e := r.Entry()
		out = append(out, Entry{Offset: e.Offset, Path: bytes.Clone(e.Path), Body: bytes.Clone(e.Body)})
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprint("gzip=", gz), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "cap.jsonl")
			w, err := New(Config{Path: p, Gzip: gz}, prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			bodies := [][]byte{
				[]byte(`{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`),
				[]byte("{\"a\":\"line\nbreak \\\" <tag> & tab\t\"}"),
				{0xff, 0xfe, 0x00, '{'}, // not UTF-8: must survive byte for byte
				{},
			}
			for i, b := range bodies {
				w.Record([]byte(fmt.Sprintf("/api/v3/ch%d", i)), b)
				time.Sleep(2 * time.Millisecond)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(p)
			if gz != (len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b) {
				t.Fatalf("gzip=%v but file starts %x", gz, raw[:2])
			}
			got := readAll(t, p)
			if len(got) != len(bodies) {
				t.Fatalf("got %d entries, want %d", len(got), len(bodies))
			}
			var prev time.Duration = -1
			for i, e := range got {
				if !bytes.Equal(e.Body, bodies[i]) || string(e.Path) != fmt.Sprintf("/api/v3/ch%d", i) {
					t.Errorf("entry %d: path %q body %q, want body %q", i, e.Path, e.Body, bodies[i])
				}
				if e.Offset <= prev {
					t.Errorf("entry %d offset %v not after %v", i, e.Offset, prev)
				}
				prev = e.Offset
			}
			if got[3].Offset-got[0].Offset < 6*time.Millisecond {
				t.Errorf("offsets %v..%v do not reflect the 2ms gaps", got[0].Offset, got[3].Offset)
			}
			if w.Written() != 4 || w.Dropped() != 0 {
				t.Errorf("written %d dropped %d", w.Written(), w.Dropped())
			}
		})
	}
}

func TestSampling(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cap.jsonl")
	w, err := New(Config{Path: p, SampleRate: 0.1, BufferSize: 20000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10000; i++ {
		w.Record([]byte("/api/v3"), []byte(`{}`))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	n := len(readAll(t, p))
	// Binomial(10000, 0.1): sd 30, so 800..1200 fails only on a broken sampler.
	if n < 800 || n > 1200 {
		t.Fatalf("kept %d of 10000 at 10%%", n)
	}
}

func TestRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{{}, {Path: "x", SampleRate: 1.5}, {Path: "x", SampleRate: -1}} {
		if _, err := New(c, nil); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	if _, err := New(Config{Path: filepath.Join(t.TempDir(), "no", "dir", "cap")}, nil); err == nil {
		t.Error("New accepted a path in a missing directory")
	}
	var w *Writer
	w.Record([]byte("/"), nil) // a nil writer is "capture off"
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRecordNeverBlocksAndCountsDrops(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cap.jsonl.gz")
	reg := prometheus.NewRegistry()
	w, err := New(Config{Path: p, Gzip: true, BufferSize: 8}, reg)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 4096)
	start := time.Now()
	const n = 50000
	for i := 0; i < n; i++ {
		w.Record([]byte("/api/v3"), body)
	}
	w.Record([]byte("/api/v3"), make([]byte, MaxEntryBytes+1))
	elapsed := time.Since(start)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	written := int64(len(readAll(t, p)))
	if written != w.Written() || written+w.Dropped() != n+1 {
		t.Fatalf("written %d (file %d) + dropped %d != %d", w.Written(), written, w.Dropped(), n+1)
	}
	if w.Dropped() == 0 {
		t.Fatalf("a queue of 8 absorbed %d records in %v without a drop", n, elapsed)
	}
	full := droppedMetric(t, reg, "buffer_full")
	large := droppedMetric(t, reg, "too_large")
	if large != 1 || int64(full+large) != w.Dropped() {
		t.Fatalf("metric buffer_full=%v too_large=%v, Dropped()=%d", full, large, w.Dropped())
	}
}

func droppedMetric(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "icon_edge_capture_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no dropped metric with reason %s", reason)
	return 0
}

func TestRotationBoundsDisk(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cap.jsonl")
	w, err := New(Config{Path: p, MaxBytes: 16 << 10, MaxFiles: 3, BufferSize: 100000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := 0; i < n; i++ {
		w.Record([]byte("/api/v3"), []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"icx_getLastBlock"}`, i)))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files := Files(p)
	if len(files) != 3 || files[0] != p+".2" || files[2] != p {
		t.Fatalf("files %v", files)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 3 {
		t.Fatalf("%d files on disk, want 3", len(ents))
	}
	for _, f := range files {
		st, _ := os.Stat(f)
		if st.Size() > 16<<10+32<<10 {
			t.Errorf("%s is %d bytes", f, st.Size())
		}
	}
	// The newest entries survive, in order, across the rotated set.
	got := readAll(t, files...)
	if len(got) == 0 || len(got) >= n {
		t.Fatalf("read %d entries", len(got))
	}
	last := string(got[len(got)-1].Body)
	if !strings.Contains(last, fmt.Sprintf(`"id":%d,`, n-1)) {
		t.Fatalf("last entry %s", last)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Offset < got[i-1].Offset {
			t.Fatalf("offsets go back at %d", i)
		}
	}
}

// A capture much larger than memory should be read with a constant heap.
func TestReaderBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a large capture")
	}
	p := filepath.Join(t.TempDir(), "big.jsonl.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	gz, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	body := `{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"icx_getBalance\"}` + strings.Repeat(" ", 2000)
	var chunk []byte
	for i := 0; i < 500; i++ {
		chunk = fmt.Appendf(chunk, "{\"t\":%d,\"path\":\"/api/v3\",\"body\":\"%s\"}\n", i, body)
	}
	const n = 30000 // ~60 MB uncompressed
	for i := 0; i < n/500; i++ {
		if _, err := gz.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(gz.Close(), f.Close()); err != nil {
		t.Fatal(err)
	}
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var count, maxHeap uint64
	for r.Next() {
		count++
		if count%5000 == 0 {
			runtime.ReadMemStats(&ms)
			maxHeap = max(maxHeap, ms.HeapInuse)
		}
	}
	if count != n || r.Err() != nil {
		t.Fatalf("read %d, err %v", count, r.Err())
	}
	if grown := int64(maxHeap) - int64(base); grown > 32<<20 {
		t.Fatalf("heap grew by %d MiB reading a %d MB capture", grown>>20, n*len(body)>>20)
	}
}

func TestReaderSkipsGarbage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cap.jsonl")
	data := `{"t":1,"path":"/api/v3","body":"{}"}
not json
{"t":2,"path":"/api/v3"}

{"t":3,"path":"/api/v3","body_b64":"!!"}
{"t":4,"path":"/api/v3/x","body":"[1]"}` // no trailing newline
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, p)
	if len(got) != 2 || string(got[1].Body) != "[1]" || got[1].Offset != 4*time.Microsecond {
		t.Fatalf("got %+v", got)
	}
	for r.Next() {
	}
	if r.Skipped() != 3 {
		t.Fatalf("skipped %d, want 3", r.Skipped())
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("Open of a missing file succeeded")
	}
}

var benchPath = []byte("/api/v3/icon_dex")
var benchBody = []byte(`{"jsonrpc":"2.0","id":1,"method":"icx_getBalance","params":{"address":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"}}`)

//go:noinline
func noopRecord(path, body []byte) {}

// BenchmarkRecord compares Record at 10% and 100% sampling with a no-op call,
// the cost an edge pays per request with capture on.
func BenchmarkRecord(b *testing.B) {
	b.Run("noop", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				noopRecord(benchPath, benchBody)
			}
		})
	})
	for _, rate := range []float64{0.1, 1} {
		b.Run(fmt.Sprintf("sample=%v", rate), func(b *testing.B) {
			w, err := New(Config{Path: filepath.Join(b.TempDir(), "c.jsonl.gz"), Gzip: true, SampleRate: rate}, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					w.Record(benchPath, benchBody)
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(w.Dropped())/float64(b.N), "drops/op")
			w.Close()
		})
	}
}

// A gzip capture copied while the edge still writes it has no gzip trailer.
// Everything flushed so far (the writer flushes every second) must read back,
// with the file reported unfinished rather than as an error.
func TestLiveGzipCaptureReadsUpToLastFlush(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cap.jsonl.gz")
	w, err := New(Config{Path: p, Gzip: true}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const n = 20
	for i := 0; i < n; i++ {
		w.Record([]byte("/api/v3"), []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"icx_getLastBlock"}`, i)))
	}
	// Copy the live file the way an operator would, until a flush has
	// put all n lines in it (bounded by a deadline, not a sleep).
	live := filepath.Join(dir, "copy.jsonl.gz")
	deadline := time.Now().Add(10 * time.Second)
	var got []Entry
	for {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(live, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Open(live)
		if err == nil {
			got = got[:0]
			for r.Next() {
				got = append(got, Entry{Body: bytes.Clone(r.Entry().Body)})
			}
			if r.Err() != nil {
				t.Fatalf("live file read as an error: %v", r.Err())
			}
			unfinished := r.Unfinished()
			r.Close()
			if len(got) == n {
				if !unfinished {
					t.Error("a file without its gzip trailer was not reported unfinished")
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s the live copy holds %d of %d lines", len(got), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !bytes.Contains(got[n-1].Body, []byte(fmt.Sprintf(`"id":%d`, n-1))) {
		t.Errorf("last entry %s", got[n-1].Body)
	}
	// A rotated (earlier) file cut short is damage, not a live file: error.
	raw, _ := os.ReadFile(live)
	older := filepath.Join(dir, "copy.jsonl.gz.1")
	if err := os.WriteFile(older, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Open(older, live)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for r.Next() {
	}
	if r.Err() == nil {
		t.Error("a cut-short rotated file read without error")
	}
	// Closed properly, the file is complete and not unfinished.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r2, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	count := 0
	for r2.Next() {
		count++
	}
	if count != n || r2.Err() != nil || r2.Unfinished() {
		t.Errorf("closed file: %d entries, err %v, unfinished %v", count, r2.Err(), r2.Unfinished())
	}
}

// A new Writer on the path of an earlier capture (a restart, or a reload that
// changed the capture settings) rotates that capture to .1 instead of
// truncating it, and both read back.
func TestNewKeepsAnEarlierCapture(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cap.jsonl")
	write := func(body string) {
		w, err := New(Config{Path: p}, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.Record([]byte("/api/v3"), []byte(body))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"id":1}`)
	write(`{"id":2}`)
	for path, want := range map[string]string{p: `{"id":2}`, p + ".1": `{"id":1}`} {
		r, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Next() || string(r.Entry().Body) != want {
			t.Errorf("%s: want %s, got %q (%v)", path, want, r.Entry().Body, r.Err())
		}
		r.Close()
	}
}
