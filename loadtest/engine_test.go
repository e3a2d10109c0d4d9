package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/capture"
)

// writeCapture writes a capture file with the given offsets, each request
// carrying its index as the JSON-RPC id.
func writeCapture(t *testing.T, offsets []time.Duration) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cap.jsonl")
	var b strings.Builder
	for i, off := range offsets {
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"icx_getBalance","params":{"address":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"}}`, i)
		q, _ := json.Marshal(body)
		fmt.Fprintf(&b, `{"t":%d,"path":"/api/v3/icon_dex","body":%s}`+"\n", off.Microseconds(), q)
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func idOf(t *testing.T, body string) int {
	var v struct{ ID int }
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("server got %q: %v", body, err)
	}
	return v.ID
}

// checkSchedule compares arrival offsets (from the first arrival) with the
// expected ones. Loopback adds well under a millisecond; the bounds leave
// room for a loaded CI machine under -race while still catching a schedule
// that ignores the capture (e.g. sends everything at once or by responses).
func checkSchedule(t *testing.T, got []arrival, want []time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("server got %d requests, want %d", len(got), len(want))
	}
	at := make([]time.Duration, len(want))
	first := slices.MinFunc(got, func(a, b arrival) int { return a.at.Compare(b.at) }).at
	for _, a := range got {
		at[idOf(t, a.body)] = a.at.Sub(first)
	}
	// The first send pays for the connection; compare shapes, not the
	// constant offset: errors are taken around the median offset.
	diffs := make([]float64, len(want))
	for i := range want {
		diffs[i] = float64(at[i] - (want[i] - want[0]))
	}
	med := slices.Clone(diffs)
	sort.Float64s(med)
	var errs []float64
	for _, d := range diffs {
		errs = append(errs, math.Abs(d-med[len(med)/2]))
	}
	sort.Float64s(errs)
	p95 := time.Duration(errs[len(errs)*95/100])
	worst := time.Duration(errs[len(errs)-1])
	t.Logf("arrival error p95 %v max %v", p95, worst)
	// Bounds relative to the schedule's span, not absolute times: a busy
	// machine delays sends by tens of milliseconds, but a tester ignoring
	// the schedule (all at once, or serially) is off by a large share of it.
	span := want[len(want)-1] - want[0]
	if p95 > max(10*time.Millisecond, span/8) || worst > max(60*time.Millisecond, span/3) {
		t.Fatalf("arrivals off schedule: p95 error %v, max %v over a %v schedule", p95, worst, span)
	}
}

func TestReplayFollowsCaptureTimesTimesSpeed(t *testing.T) {
	node := newFakeNode(t, 0)
	// Irregular gaps, bursts included, over 1.6 s of capture.
	var offs []time.Duration
	at := 100 * time.Millisecond
	for i := 0; i < 160; i++ {
		offs = append(offs, at)
		switch {
		case i < 10:
			// A calm start: the first sends pay for dialing connections,
			// which is the network's time, not the schedule's.
			at += 20 * time.Millisecond
		case i%40 < 10:
			at += 500 * time.Microsecond // a burst
		case i%7 == 0:
			at += 40 * time.Millisecond
		default:
			at += time.Duration(3+i%11) * time.Millisecond
		}
	}
	src, err := NewCaptureSource([]string{writeCapture(t, offs)}, ReplayOptions{Speed: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rep, err := Run(context.Background(), Config{Target: node.url, Mode: "replay"}, src)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]time.Duration, len(offs))
	for i, o := range offs {
		want[i] = (o - offs[0]) / 2
	}
	checkSchedule(t, node.got(), want)
	if rep.Completed != 160 || rep.Failed != 0 || rep.Methods[0].Method != "icx_getBalance" {
		t.Fatalf("report: %s", rep)
	}
	if d := rep.DurationS; d < 0.7 || d > 1.6 {
		t.Fatalf("a 1.8s capture at speed 2 took %.2fs", d)
	}
	for _, a := range node.got() {
		if a.path != "/api/v3/icon_dex" {
			t.Fatalf("path %q", a.path)
		}
	}
}

func TestReplayAtConstantRate(t *testing.T) {
	node := newFakeNode(t, 0)
	offs := make([]time.Duration, 150)
	for i := range offs {
		offs[i] = time.Duration(i*i) * time.Microsecond // captured gaps are ignored with --rate
	}
	src, err := NewCaptureSource([]string{writeCapture(t, offs)}, ReplayOptions{Rate: 150})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := Run(context.Background(), Config{Target: node.url}, src); err != nil {
		t.Fatal(err)
	}
	want := make([]time.Duration, len(offs))
	for i := range want {
		want[i] = time.Duration(i) * time.Second / 150
	}
	checkSchedule(t, node.got(), want)
}

func TestDurationAndLoopBoundTheRun(t *testing.T) {
	node := newFakeNode(t, 0)
	offs := []time.Duration{0, 10 * time.Millisecond, 20 * time.Millisecond}
	src, err := NewCaptureSource([]string{writeCapture(t, offs)}, ReplayOptions{Rate: 100, Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rep, err := Run(context.Background(), Config{Target: node.url, Duration: 500 * time.Millisecond}, src)
	if err != nil {
		t.Fatal(err)
	}
	// 0..500ms at 100/s inclusive of both ends.
	if n := len(node.got()); n < 50 || n > 51 || rep.Completed != int64(n) {
		t.Fatalf("sent %d (report %d), want 51 looping a 3-request capture for 0.5s at 100/s", n, rep.Completed)
	}
}

// The capture written by the edge's writer replays with the same bodies.
func TestCaptureRoundTrip(t *testing.T) {
	node := newFakeNode(t, 0)
	p := filepath.Join(t.TempDir(), "cap.jsonl.gz")
	w, err := capture.New(capture.Config{Path: p, Gzip: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 0; i < 200; i++ {
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"icx_getBlockByHeight","params":{"height":"0x%x"}}`, i, i)
		if i%50 == 0 {
			body = fmt.Sprintf(`[{"jsonrpc":"2.0","id":%d,"method":"icx_getLastBlock"}]`, i)
		}
		path := "/api/v3"
		if i%3 == 0 {
			path = "/api/v3/icon_dex"
		}
		w.Record([]byte(path), []byte(body))
		want = append(want, path+" "+body)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	src, err := NewCaptureSource([]string{p}, ReplayOptions{Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rep, err := Run(context.Background(), Config{Target: node.url}, src)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range node.got() {
		got = append(got, a.path+" "+a.body)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("replayed bodies differ from captured: got %d, want %d", len(got), len(want))
	}
	methods := map[string]int64{}
	for _, m := range rep.Methods {
		methods[m.Method] = m.Count
	}
	if methods["icx_getBlockByHeight"] != 196 || methods["(batch)"] != 4 {
		t.Fatalf("per-method counts %v", methods)
	}
}

// Open loop: when the server stalls, sends keep to the clock, and the stall
// shows in the latency of every request scheduled during it.
func TestOpenLoopDoesNotWaitForResponses(t *testing.T) {
	node := newFakeNode(t, 0)
	var stallOnce sync.Once
	node.hook = func(body []byte) (int, string, bool) {
		if strings.Contains(string(body), `"id":50,`) {
			stallOnce.Do(func() { time.Sleep(400 * time.Millisecond) })
		}
		return 0, "", false
	}
	src := &constSource{n: 200, gap: 5 * time.Millisecond}
	rep, err := Run(context.Background(), Config{Target: node.url, MaxInflight: 256}, src)
	if err != nil {
		t.Fatal(err)
	}
	got := node.got()
	if len(got) != 200 {
		t.Fatalf("server got %d", len(got))
	}
	// Request 60 was due 50ms after the stalled one: it must have arrived
	// while 50 was still stalled, not after.
	var at50, at60 time.Time
	for _, a := range got {
		switch idOf(t, a.body) {
		case 50:
			at50 = a.at
		case 60:
			at60 = a.at
		}
	}
	if d := at60.Sub(at50); d > 150*time.Millisecond {
		t.Fatalf("request 60 arrived %v after 50: sends waited for responses", d)
	}
	if rep.Latency.Max < 400 || rep.Latency.P50 > 100 {
		t.Fatalf("latency %+v: want max >= 400ms from the stall and a low median", rep.Latency)
	}
}

type constSource struct {
	n, i   int
	gap    time.Duration
	method string
}

func (s *constSource) Next(r *Request) bool {
	if s.i >= s.n {
		return false
	}
	r.At = time.Duration(s.i) * s.gap
	r.Path = "/api/v3"
	m := s.method
	if m == "" {
		m = "icx_getLastBlock"
	}
	r.Method = m
	r.Body = []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"%s"}`, s.i, m))
	s.i++
	return true
}
