package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Every call, batch items one by one, leaves an access-log line with its
// method and status; the edge flushes the log when it shuts down.
func TestAccessLogRecordsEveryCall(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.Region = "eu"
	cfg.AccessLog.File = filepath.Join(t.TempDir(), "access.jsonl")
	e := startEdge(t, cfg)
	post(t, e.URL()+"/api/v3", `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`)
	post(t, e.URL()+"/api/v3", `{"jsonrpc":"2.0","id":2,"method":"icx_nope"}`)
	post(t, e.URL()+"/api/v3", `[{"jsonrpc":"2.0","id":3,"method":"icx_getTotalSupply"},{"jsonrpc":"2.0","id":4,"method":"icx_getBalance","params":{"address":"hx0"}}]`)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(cfg.AccessLog.File)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var d map[string]any
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		docs = append(docs, d)
	}
	if len(docs) != 4 {
		t.Fatalf("%d access-log lines for 4 calls: %v", len(docs), docs)
	}
	b, _ := json.Marshal(docs)
	t.Logf("%s", b)
	want := []struct {
		method string
		status float64
	}{{"icx_getLastBlock", 200}, {"invalid", 400}, {"icx_getTotalSupply", 200}, {"icx_getBalance", 200}}
	for i, w := range want {
		d := docs[i]
		if d["method"] != w.method || d["http_status"] != w.status || d["region"] != "eu" {
			t.Errorf("line %d = %v, want method %s status %v region eu", i, d, w.method, w.status)
		}
	}
}
