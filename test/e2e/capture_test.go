package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/icon-edge/icon-edge/loadtest"
)

// What the edge captures, icon-loadtest replays: the same paths and bodies.
func TestEdgeCaptureReplaysTheSameRequests(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.Capture.Path = filepath.Join(t.TempDir(), "cap.jsonl.gz")
	cfg.Capture.Gzip = true
	e := startEdge(t, cfg)
	var sent []string
	for i := 0; i < 30; i++ {
		path := []string{"/api/v3", "/api/v3/icon_dex"}[i%2]
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"icx_getBlockByHeight","params":{"height":"0x%x"}}`, i, i%3)
		post(t, e.URL()+path, body)
		sent = append(sent, path+" "+body)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var got []string
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.URL.Path+" "+string(b))
		mu.Unlock()
		fmt.Fprint(w, `{"jsonrpc":"2.0","result":"0x0","id":1}`)
	}))
	defer rec.Close()
	src, err := loadtest.NewCaptureSource([]string{cfg.Capture.Path}, loadtest.ReplayOptions{Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loadtest.Run(context.Background(), loadtest.Config{Target: rec.URL, Mode: "replay"}, src); err != nil {
		t.Fatal(err)
	}
	slices.Sort(sent)
	slices.Sort(got)
	if !slices.Equal(sent, got) {
		t.Fatalf("replay sent %d requests differing from the %d captured:\nsent %q\ngot  %q", len(got), len(sent), sent, got)
	}
}
