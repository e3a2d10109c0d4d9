package accesslog

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Replace hands over without losing or mangling a line: entries logged to
// the old Logger after the swap (requests that began before the reload) go to
// the new one, both write the same file one after the other, the new client_ip
// mode applies, and the drop counters stay in one series.
func TestReplaceHandsOverTheSameFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.jsonl")
	old, reg := newTestLogger(t, Config{File: path})
	var wg sync.WaitGroup
	const before, during = 2000, 500
	for i := range before {
		old.Log(testEntry(i))
	}
	wg.Go(func() { // a request that started before the reload logs late
		for i := range during {
			old.Log(testEntry(before + i))
		}
	})
	next, err := old.Replace(Config{File: path, ClientIP: ClientIPNone}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	next.Log(testEntry(before + during))
	wg.Wait()
	if err := closeWithin(t, next, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := closeWithin(t, old, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen, ip := map[string]bool{}, map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var d map[string]any
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("mangled line %q: %v", sc.Text(), err)
		}
		id, _ := d["request_id"].(string)
		if seen[id] {
			t.Fatalf("%s written twice", id)
		}
		seen[id] = true
		_, ip[id] = d["client_ip"]
	}
	if len(seen) != before+during+1 {
		t.Fatalf("%d lines, want %d", len(seen), before+during+1)
	}
	// What the old Logger had queued keeps its mode; the new one's is applied.
	if !ip["req-0"] || !ip[fmt.Sprintf("req-%d", before-1)] || ip[fmt.Sprintf("req-%d", before+during)] {
		t.Fatal("client_ip modes mixed up across the reload")
	}
	if d := dropped(next, DropClosed); d != 0 {
		t.Fatalf("%v entries dropped as closed across the reload", d)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "icon_edge_accesslog_queue_length" && len(mf.GetMetric()) != 1 {
			t.Fatalf("queue gauges after the reload: %v", mf.GetMetric())
		}
	}
}

// A reload that adds a sink registers its queue gauge, one that removes it
// reports an empty queue; a bad configuration leaves the old Logger running.
func TestReplaceAddsAndRemovesSinks(t *testing.T) {
	old, reg := newTestLogger(t, Config{})
	path := filepath.Join(t.TempDir(), "a.jsonl")
	if _, err := old.Replace(Config{File: path, ClientIP: "mask"}, quietLog()); err == nil {
		t.Fatal("a bad client_ip was accepted")
	}
	next, err := old.Replace(Config{File: path}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if !next.Enabled() {
		t.Fatal("the file sink is not on after the reload")
	}
	last, err := next.Replace(Config{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, last, time.Second)
	defer closeWithin(t, next, time.Second)
	if last.Enabled() {
		t.Fatal("the file sink is still on")
	}
	if v := testutil.ToFloat64(queueGauge(sinkFile, last.m.queues[sinkFile])); v != 0 {
		t.Fatalf("file queue after removal = %v", v)
	}
	if n, err := testutil.GatherAndCount(reg, "icon_edge_accesslog_queue_length"); err != nil || n != 1 {
		t.Fatalf("queue gauges: %d (%v)", n, err)
	}
}
