package accesslog

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testEntry returns a distinct, fully populated entry per i.
func testEntry(i int) *Entry {
	return &Entry{
		Time:       time.Date(2026, 3, 14, 23, 59, 59, 0, time.UTC).Add(time.Duration(i) * 50 * time.Millisecond),
		Region:     "eu",
		Method:     []string{"icx_getBalance", "icx_call", `we"ird\méthod`, "icx_sendTransaction"}[i%4],
		HTTPStatus: 200,
		RPCCode:    []int{0, -32601, 0, -31004}[i%4],
		Latency:    time.Duration(1500+i) * time.Microsecond,
		Upstream:   "node-a",
		CacheHit:   i%3 == 0,
		Retries:    i % 2,
		Bytes:      100 + i,
		RequestID:  fmt.Sprintf("req-%d", i),
		ClientIP:   net.ParseIP("203.0.113.77"),
		APIKeyID:   "key-7",
	}
}

// wantDoc is the document testEntry(i) must become, written independently of
// the encoder.
func wantDoc(i int) map[string]any {
	e := testEntry(i)
	return map[string]any{
		"@timestamp":  e.Time.Format("2006-01-02T15:04:05.000000Z07:00"),
		"region":      "eu",
		"method":      e.Method,
		"http_status": float64(200),
		"rpc_code":    float64(e.RPCCode),
		"latency_ms":  float64(1500+i) / 1000,
		"upstream":    "node-a",
		"cache_hit":   e.CacheHit,
		"retries":     float64(e.Retries),
		"bytes":       float64(100 + i),
		"request_id":  e.RequestID,
		"client_ip":   "203.0.113.77",
		"api_key_id":  "key-7",
	}
}

func newTestLogger(t *testing.T, cfg Config) (*Logger, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	l, err := New(cfg, reg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.Close(ctx)
	})
	return l, reg
}

func closeWithin(t *testing.T, l *Logger, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return l.Close(ctx)
}

func dropped(l *Logger, reason string) float64 {
	return testutil.ToFloat64(l.m.dropped.WithLabelValues(reason))
}

func sameDoc(t *testing.T, got, want map[string]any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("document differs\n got %s\nwant %s", g, w)
	}
}

func TestShipsDocumentsIntactToElasticsearchAndFile(t *testing.T) {
	es := newFakeES(t)
	path := filepath.Join(t.TempDir(), "access.jsonl")
	l, reg := newTestLogger(t, Config{
		Elasticsearch: ElasticsearchConfig{
			Addresses: []string{es.URL()}, InstallTemplate: true,
			FlushInterval: 50 * time.Millisecond,
		},
		File: path,
	})
	const n = 40
	for i := 0; i < n; i++ {
		l.Log(testEntry(i))
	}
	if err := closeWithin(t, l, 10*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}

	docs, calls, _ := es.snapshot()
	if len(docs) != n {
		t.Fatalf("elasticsearch got %d documents, want %d", len(docs), n)
	}
	byID := map[string]map[string]any{}
	for _, d := range docs {
		if d.Action != "create" {
			t.Errorf("action %q, want create (the one data streams accept)", d.Action)
		}
		// Entries straddle midnight UTC: each goes to its own day's index.
		ts, _ := time.Parse(time.RFC3339Nano, d.Source["@timestamp"].(string))
		if want := "icon-edge-access-" + ts.Format("2006.01.02"); d.Index != want {
			t.Errorf("index %q, want %q", d.Index, want)
		}
		byID[d.Source["request_id"].(string)] = d.Source
	}
	indices := map[string]bool{}
	for _, d := range docs {
		indices[d.Index] = true
	}
	if len(indices) != 2 {
		t.Errorf("documents went to %v, want two daily indices", indices)
	}
	for i := 0; i < n; i++ {
		sameDoc(t, byID[fmt.Sprintf("req-%d", i)], wantDoc(i))
	}
	// The template must be in place before the first document creates an index.
	firstBulk, tmpl := -1, -1
	for i, c := range calls {
		if strings.HasSuffix(c, "/_bulk") && firstBulk < 0 {
			firstBulk = i
		}
		if strings.HasPrefix(c, "PUT /_index_template/icon-edge-access") {
			tmpl = i
		}
	}
	if tmpl < 0 || firstBulk < tmpl {
		t.Errorf("template installed at call %d, first bulk at %d: %v", tmpl, firstBulk, calls)
	}
	var template struct {
		IndexPatterns []string `json:"index_patterns"`
		Template      struct {
			Settings map[string]any `json:"settings"`
			Mappings struct {
				Properties map[string]any `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(es.templates["/_index_template/icon-edge-access"], &template); err != nil {
		t.Fatal(err)
	}
	if len(template.IndexPatterns) != 1 || template.IndexPatterns[0] != "icon-edge-access-*" {
		t.Errorf("index_patterns %v", template.IndexPatterns)
	}
	for field := range wantDoc(0) {
		if template.Template.Mappings.Properties[field] == nil {
			t.Errorf("template maps no %q", field)
		}
	}
	if es.templates["/_ilm/policy/icon-edge-access"] == nil {
		t.Error("no ILM policy installed")
	}

	// The JSON lines file carries the same documents.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	lines := 0
	for sc.Scan() {
		var d map[string]any
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("line %d: %v: %s", lines, err, sc.Bytes())
		}
		sameDoc(t, d, wantDoc(lines))
		lines++
	}
	if lines != n {
		t.Errorf("file has %d lines, want %d", lines, n)
	}

	if got := testutil.ToFloat64(l.m.shipped); got != n {
		t.Errorf("shipped_total %v, want %d", got, n)
	}
	if c, err := testutil.GatherAndCount(reg, "icon_edge_accesslog_dropped_total"); err != nil || c != 5 {
		t.Errorf("dropped_total series: %d (%v), want every reason exported from the start", c, err)
	}
	for _, r := range []string{DropESQueueFull, DropFileQueueFull, DropFileWrite, DropClosed, DropShutdown} {
		if v := dropped(l, r); v != 0 {
			t.Errorf("dropped{%s} = %v", r, v)
		}
	}
}

func TestBulkRetriesWithBackoffDeliverEverythingOnce(t *testing.T) {
	es := newFakeES(t)
	es.bulkStatuses = []int{429, 500, 503} // whole requests refused three times
	es.itemRejects = 3                     // then three documents shed with a 429 item
	l, _ := newTestLogger(t, Config{Elasticsearch: ElasticsearchConfig{
		Addresses: []string{es.URL()}, FlushInterval: 20 * time.Millisecond, MaxRetries: 5,
	}})
	const n = 20
	for i := 0; i < n; i++ {
		l.Log(testEntry(i))
	}
	if err := closeWithin(t, l, 20*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	docs, _, bulks := es.snapshot()
	seen := map[string]int{}
	for _, d := range docs {
		seen[d.Source["request_id"].(string)]++
	}
	for i := 0; i < n; i++ {
		if c := seen[fmt.Sprintf("req-%d", i)]; c != 1 {
			t.Errorf("req-%d stored %d times", i, c)
		}
	}
	if bulks < 5 {
		t.Errorf("only %d bulk requests: the refusals were not retried", bulks)
	}
	if s, f := testutil.ToFloat64(l.m.shipped), testutil.ToFloat64(l.m.failed); s != n || f != 0 {
		t.Errorf("shipped %v failed %v, want %d and 0", s, f, n)
	}
}

func TestOverloadDropsInsteadOfBlocking(t *testing.T) {
	es := newFakeES(t)
	es.hangBulk()
	l, _ := newTestLogger(t, Config{Elasticsearch: ElasticsearchConfig{
		Addresses: []string{es.URL()}, FlushInterval: 10 * time.Millisecond, QueueSize: 50,
		FlushBytes: 16 << 10,
	}})
	const n = 5000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			l.Log(testEntry(i))
		}
	}()
	// Liveness, not speed: with the cluster hung, Log must still return.
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Log blocked while Elasticsearch hung")
	}
	full := dropped(l, DropESQueueFull)
	if full == 0 {
		t.Fatal("nothing dropped although the cluster hangs and the queue holds 50")
	}
	// Besides the queue, the indexer holds at most its channel (256) and one
	// batch of FlushBytes (documents here are over 200 bytes): everything
	// else must have been dropped, not buffered without bound.
	if held := n - full; held > 50+256+(16<<10)/200+1 {
		t.Errorf("%v documents held in memory with a queue of 50", held)
	}
	es.release()
	if err := closeWithin(t, l, 20*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	docs, _, _ := es.snapshot()
	shipped := testutil.ToFloat64(l.m.shipped)
	if int(shipped) != len(docs) || shipped == 0 {
		t.Errorf("shipped_total %v, stored %d", shipped, len(docs))
	}
	accounted := shipped + full + testutil.ToFloat64(l.m.failed) + dropped(l, DropShutdown)
	if accounted != n {
		t.Errorf("shipped+dropped+failed = %v, want all %d accounted for", accounted, n)
	}
}

func TestCloseFlushesPendingDocuments(t *testing.T) {
	es := newFakeES(t)
	l, _ := newTestLogger(t, Config{Elasticsearch: ElasticsearchConfig{
		Addresses: []string{es.URL()}, FlushInterval: time.Hour, FlushBytes: 64 << 20,
	}})
	for i := 0; i < 25; i++ {
		l.Log(testEntry(i))
	}
	// Wait until the sink has taken everything into its batch.
	waitFor(t, func() bool { return len(l.queues[0]) == 0 })
	if docs, _, _ := es.snapshot(); len(docs) != 0 {
		t.Fatalf("%d documents sent before any flush was due", len(docs))
	}
	if err := closeWithin(t, l, 10*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if docs, _, _ := es.snapshot(); len(docs) != 25 {
		t.Fatalf("after Close elasticsearch has %d documents, want 25", len(docs))
	}
	l.Log(testEntry(99))
	if v := dropped(l, DropClosed); v != 1 {
		t.Errorf("Log after Close: dropped{closed} = %v, want 1", v)
	}
	if err := closeWithin(t, l, time.Second); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseDeadlineGivesUpAndCounts(t *testing.T) {
	es := newFakeES(t)
	es.hangBulk()
	l, _ := newTestLogger(t, Config{Elasticsearch: ElasticsearchConfig{
		Addresses: []string{es.URL()}, FlushInterval: 10 * time.Millisecond,
	}})
	const n = 30
	for i := 0; i < n; i++ {
		l.Log(testEntry(i))
	}
	waitFor(t, func() bool { _, _, b := es.snapshot(); return len(l.queues[0]) == 0 && b == 0 })
	err := closeWithin(t, l, 200*time.Millisecond)
	if err == nil {
		t.Fatal("Close returned nil although the cluster never answered")
	}
	// The request that hung is cancelled by the deadline; its documents are
	// counted when the cancelled request returns, which may be just after
	// Close on a loaded machine.
	lost := func() float64 { return dropped(l, DropShutdown) + testutil.ToFloat64(l.m.failed) }
	deadline := time.Now().Add(5 * time.Second)
	for lost() != n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := lost(); got != n {
		t.Errorf("shutdown/failed count %v, want %d", got, n)
	}
}

func TestUnreachableClusterFailsAndCounts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	l, _ := newTestLogger(t, Config{Elasticsearch: ElasticsearchConfig{
		Addresses: []string{addr}, FlushInterval: 10 * time.Millisecond, MaxRetries: 2,
	}})
	for i := 0; i < 10; i++ {
		l.Log(testEntry(i))
	}
	if err := closeWithin(t, l, 10*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if f := testutil.ToFloat64(l.m.failed); f != 10 {
		t.Errorf("failed_total %v, want 10", f)
	}
}

func TestNotElasticsearchIsRejected(t *testing.T) {
	es := newFakeES(t)
	es.noProduct = true
	l, _ := newTestLogger(t, Config{Elasticsearch: ElasticsearchConfig{
		Addresses: []string{es.URL()}, FlushInterval: 10 * time.Millisecond, MaxRetries: 1,
	}})
	for i := 0; i < 5; i++ {
		l.Log(testEntry(i))
	}
	if err := closeWithin(t, l, 10*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if s, f := testutil.ToFloat64(l.m.shipped), testutil.ToFloat64(l.m.failed); s != 0 || f != 5 {
		t.Errorf("without X-Elastic-Product: shipped %v failed %v, want 0 and 5", s, f)
	}
}

func TestDataStreamTemplate(t *testing.T) {
	es := newFakeES(t)
	l, _ := newTestLogger(t, Config{Elasticsearch: ElasticsearchConfig{
		Addresses: []string{es.URL()}, Index: "logs-iconedge-prod", InstallTemplate: true,
		FlushInterval: 10 * time.Millisecond, RetentionDays: 7,
	}})
	l.Log(testEntry(0))
	if err := closeWithin(t, l, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	docs, _, _ := es.snapshot()
	if len(docs) != 1 || docs[0].Index != "logs-iconedge-prod" {
		t.Fatalf("docs %+v", docs)
	}
	var tmpl map[string]any
	json.Unmarshal(es.templates["/_index_template/logs-iconedge-prod"], &tmpl)
	if _, ok := tmpl["data_stream"]; !ok {
		t.Errorf("data stream template lacks data_stream: %v", tmpl)
	}
	policy := string(es.templates["/_ilm/policy/logs-iconedge-prod"])
	if !strings.Contains(policy, `"rollover"`) || !strings.Contains(policy, `"min_age":"7d"`) {
		t.Errorf("policy %s", policy)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"bad ip mode":      {File: "-", ClientIP: "mask"},
		"hash needs salt":  {File: "-", ClientIP: "hash"},
		"bad index":        {Elasticsearch: ElasticsearchConfig{Addresses: []string{"http://127.0.0.1:1"}, Index: "Upper,Case"}},
		"bad date pattern": {Elasticsearch: ElasticsearchConfig{Addresses: []string{"http://127.0.0.1:1"}, Index: "x-%{+yyyy.MM.dd.mm}"}},
		"unwritable file":  {File: filepath.Join(t.TempDir(), "no", "such", "dir", "x.log")},
	} {
		if _, err := New(cfg, nil, quietLog()); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	var nilLogger *Logger
	nilLogger.Log(testEntry(0)) // must not panic
	if nilLogger.Enabled() || nilLogger.Close(context.Background()) != nil {
		t.Error("nil logger")
	}
	l, err := New(Config{}, prometheus.NewRegistry(), nil)
	if err != nil || l.Enabled() {
		t.Fatalf("zero config: %v enabled=%v", err, l.Enabled())
	}
	l.Log(testEntry(0))
	_ = l.Close(context.Background())
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
