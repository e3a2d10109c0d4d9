package loadtest

import (
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Replaying a capture far larger than memory streams it: the heap does not
// grow with the capture, even when every line has a new method and path.
func TestReplaySourceBoundedOnHostileCapture(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.jsonl.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	gz, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	pad := make([]byte, 1500)
	for i := range pad {
		pad[i] = 'x'
	}
	const n = 40000 // ~70 MB uncompressed
	for i := 0; i < n; i++ {
		fmt.Fprintf(gz, `{"t":%d,"path":"/api/v3/ch%d","body":"{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"m%d\",\"pad\":\"%s\"}"}`+"\n", i*10, i, i, i, pad)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	src, err := NewCaptureSource([]string{p}, ReplayOptions{Speed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var r Request
	count, peak := 0, uint64(0)
	for src.Next(&r) {
		count++
		if count%5000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	if count != n || src.Err() != nil {
		t.Fatalf("read %d, err %v", count, src.Err())
	}
	if r.At != time.Duration(n-1)*10*time.Microsecond {
		t.Fatalf("last request at %v", r.At)
	}
	if grown := int64(peak) - int64(base); grown > 24<<20 {
		t.Fatalf("heap grew %d MiB streaming a %d MB capture", grown>>20, n*1600>>20)
	}
	if len(src.labels.methods) > maxLabels || len(src.labels.paths) > maxLabels {
		t.Fatalf("label maps grew to %d/%d", len(src.labels.methods), len(src.labels.paths))
	}
}

type manyMethods struct{ i, n int }

func (s *manyMethods) Next(r *Request) bool {
	if s.i >= s.n {
		return false
	}
	r.At = time.Duration(s.i) * 100 * time.Microsecond
	r.Method = fmt.Sprintf("m%d", s.i)
	r.Path = "/api/v3"
	r.Body = []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"m%d"}`, s.i, s.i))
	s.i++
	return true
}

// The report's per-method table is bounded whatever the workload's labels.
func TestReportMethodsBounded(t *testing.T) {
	node := newFakeNode(t, 0)
	rep, err := Run(context.Background(), Config{Target: node.url}, &manyMethods{n: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Completed != 1000 || len(rep.Methods) > maxMethods+1 {
		t.Fatalf("%d methods in the report for %d requests", len(rep.Methods), rep.Completed)
	}
	var other int64
	for _, m := range rep.Methods {
		if m.Method == "other" {
			other = m.Count
		}
	}
	if other != 1000-maxMethods {
		t.Fatalf("other = %d", other)
	}
}
