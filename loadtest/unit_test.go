package loadtest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseHook(t *testing.T) {
	h, err := ParseHook(`10s:POST:http://127.0.0.1:9182/_sim/faults:{"down":true}`)
	if err != nil || h.At != 10*time.Second || h.Method != "POST" || h.URL != "http://127.0.0.1:9182/_sim/faults" || h.Body != `{"down":true}` {
		t.Fatalf("%+v %v", h, err)
	}
	// A body may contain colons; no body at all is fine.
	h, err = ParseHook(`1.5s:PUT:http://127.0.0.1:1/x:{"a":"b:c"}`)
	if err != nil || h.Body != `{"a":"b:c"}` || h.At != 1500*time.Millisecond {
		t.Fatalf("%+v %v", h, err)
	}
	h, err = ParseHook(`0s:DELETE:https://localhost/_sim/faults`)
	if err != nil || h.Body != "" || h.URL != "https://localhost/_sim/faults" {
		t.Fatalf("%+v %v", h, err)
	}
	for _, bad := range []string{"", "10s", "x:POST:http://a/b", "-1s:POST:http://a/b", "1s:post:http://a/b",
		"1s:POST:127.0.0.1:9182/_sim", "1s:POST:http://127.0.0.1:9182", "1s:POST:ftp://a/b"} {
		if _, err := ParseHook(bad); err == nil {
			t.Errorf("ParseHook(%q) accepted", bad)
		}
	}
}

func TestLoadMix(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "mix.yaml")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	m, err := LoadMix(write(`
methods:
  icx_getBalance: 3
  icx_call: 1
accounts: [hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7]
calls:
  - {to: cx0000000000000000000000000000000000001234, method: balanceOf, params: {_owner: hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7}}
`))
	if err != nil || m.Methods["icx_getBalance"] != 3 || m.Calls[0].Params["_owner"] == "" {
		t.Fatalf("%+v %v", m, err)
	}
	for _, bad := range []string{
		"methods: {icx_nope: 1}",
		"methods: {icx_getBalance: -1}",
		"methods: {icx_getBalance: 0}",
		"methods: {}",
		"methods: {icx_getBalance: 1}\naccounts: [bob]",
		"methods: {icx_getBalance: 1}\nunknown_key: 1",
		"methods: [",
	} {
		if _, err := LoadMix(write(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if err := DefaultMix().validate(); err != nil {
		t.Fatal(err)
	}
}

// The mix's weights show in the generated sequence, the parameters come
// from the chain state, and a seed fixes the sequence.
func TestSynthSequence(t *testing.T) {
	st := &chainState{nid: 3, height: 100, blocks: []string{"0x" + strings.Repeat("a", 64)},
		txs: []string{"0x" + strings.Repeat("b", 64)}, accounts: []string{"hx" + strings.Repeat("c", 40)}}
	mix := &Mix{Methods: map[string]float64{"icx_getBalance": 3, "icx_getTransactionResult": 1}}
	gen := func(seed uint64) ([]string, map[string]int) {
		s, err := newSynthFromState(context.Background(), mix, SynthOptions{Rate: 1000, Seed: seed}, st)
		if err != nil {
			t.Fatal(err)
		}
		var seq []string
		counts := map[string]int{}
		var r Request
		for i := 0; i < 4000; i++ {
			if !s.Next(&r) {
				t.Fatal("source ended")
			}
			if r.At != time.Duration(i)*time.Millisecond {
				t.Fatalf("request %d at %v", i, r.At)
			}
			counts[r.Method]++
			body := string(r.Body)
			if !strings.Contains(body, `"method":"`+r.Method+`"`) ||
				(r.Method == "icx_getBalance" && !strings.Contains(body, st.accounts[0])) ||
				(r.Method == "icx_getTransactionResult" && !strings.Contains(body, st.txs[0])) {
				t.Fatalf("body %s for %s", body, r.Method)
			}
			seq = append(seq, body)
		}
		return seq, counts
	}
	a, counts := gen(1)
	b, _ := gen(1)
	c, _ := gen(2)
	if strings.Join(a, "") != strings.Join(b, "") || strings.Join(a, "") == strings.Join(c, "") {
		t.Fatal("the seed does not fix the sequence")
	}
	if n := counts["icx_getBalance"]; n < 2800 || n > 3200 {
		t.Fatalf("weights 3:1 gave %v", counts)
	}
}

// Errors are sorted by kind: transport, HTTP status, JSON-RPC code.
func TestErrorKinds(t *testing.T) {
	node := newFakeNode(t, 0)
	node.hook = func(body []byte) (int, string, bool) {
		switch {
		case strings.Contains(string(body), `"id":1,`):
			return 503, `{"jsonrpc":"2.0","error":{"code":-32000,"message":"busy"},"id":1}`, true
		case strings.Contains(string(body), `"id":2,`):
			return 400, `{"jsonrpc":"2.0","error":{"code":-32601,"message":"MethodNotFound"},"id":2}`, true
		case strings.Contains(string(body), `"id":3,`):
			return 400, `not json`, true
		case strings.Contains(string(body), `"id":4,`):
			return 200, `[{"jsonrpc":"2.0","result":"0x1","id":1},{"jsonrpc":"2.0","error":{"code":-31004,"message":"NotFound"},"id":2}]`, true
		}
		return 0, "", false
	}
	rep, err := Run(context.Background(), Config{Target: node.url}, &constSource{n: 6, gap: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"http 503": 1, "jsonrpc -32601": 1, "http 400": 1, "jsonrpc -31004": 1}
	for k, v := range want {
		if rep.Errors[k] != v {
			t.Errorf("errors %v, want %v", rep.Errors, want)
			break
		}
	}
	if rep.Failed != 2 || rep.RPCErrors != 2 || rep.Completed != 6 {
		t.Fatalf("%s", rep)
	}
	// A port nobody listens on: transport errors.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	rep, err = Run(context.Background(), Config{Target: "http://" + addr}, &constSource{n: 3, gap: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors["transport: connection refused"] != 3 || rep.Failed != 3 {
		t.Fatalf("errors %v", rep.Errors)
	}
	if _, err := Run(context.Background(), Config{Target: "127.0.0.1:80"}, &constSource{}); err == nil {
		t.Fatal("a target without scheme was accepted")
	}
}

// When the target is slower than the offered rate allows with the given
// in-flight bound, the tester says it cannot keep up and counts late sends;
// latency includes the wait.
func TestLateSendsAreCountedAndReported(t *testing.T) {
	node := newFakeNode(t, 20*time.Millisecond)
	rep, err := Run(context.Background(), Config{Target: node.url, MaxInflight: 1}, &constSource{n: 40, gap: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// 40 requests every 2ms through one 20ms slot: all but the first wait.
	if rep.Late < 30 || rep.KeptUp || len(rep.Warnings) == 0 || !strings.Contains(rep.String(), "could not keep up") {
		t.Fatalf("%s", rep)
	}
	if rep.Latency.Max < 600 || rep.Service.P50 > 200 {
		t.Fatalf("latency %+v service %+v: the queueing must show in latency, not in service time", rep.Latency, rep.Service)
	}
	// Every late send waited for the one busy worker: the advice is about
	// the in-flight bound, not the CPU.
	if !strings.Contains(rep.String(), "raise --max-inflight") || strings.Contains(rep.String(), "starved of CPU") || rep.PeakInflight != 1 {
		t.Fatalf("advice for a saturated in-flight bound:\n%s", rep)
	}
}

// Late sends that found free workers were not waiting on the target: the
// advice must name CPU starvation and not suggest more in flight.
func TestKeepUpAdviceNamesCPUStarvation(t *testing.T) {
	cfg := Config{MaxInflight: 512, LateThreshold: 5 * time.Millisecond}
	c := newCollector()
	c.count, c.late, c.lateBusy, c.peakInflight = 1000, 300, 2, 7
	rep := c.report(cfg, &runInfo{elapsed: time.Second})
	w := strings.Join(rep.Warnings, "\n")
	if rep.KeptUp || !strings.Contains(w, "starved of CPU") || !strings.Contains(w, "peak 7 of --max-inflight 512") ||
		!strings.Contains(w, "will not help") {
		t.Fatalf("warnings: %s", w)
	}
	c.lateBusy = 290
	rep = c.report(cfg, &runInfo{elapsed: time.Second})
	if w := strings.Join(rep.Warnings, "\n"); !strings.Contains(w, "all 512 workers were busy") || strings.Contains(w, "starved") {
		t.Fatalf("warnings: %s", w)
	}
}

func TestProgressLine(t *testing.T) {
	node := newFakeNode(t, 0)
	var out syncBuffer
	_, err := Run(context.Background(), Config{Target: node.url, Progress: &out, Duration: 2200 * time.Millisecond},
		&constSource{n: 1000, gap: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "sent") || !strings.Contains(lines[0], "p99(1s)") {
		t.Fatalf("progress:\n%s", out.String())
	}
}

// Pipelined mode sends the same requests and classifies the answers alike.
func TestPipelinedMode(t *testing.T) {
	node := newFakeNode(t, 0)
	rep, err := Run(context.Background(), Config{Target: node.url, Pipeline: 2}, &constSource{n: 300, gap: 200 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Completed != 300 || rep.Failed != 0 || len(node.got()) != 300 {
		t.Fatalf("%s; server got %d", rep, len(node.got()))
	}
	seen := map[int]bool{}
	for _, a := range node.got() {
		seen[idOf(t, a.body)] = true
	}
	if len(seen) != 300 {
		t.Fatalf("%d distinct requests arrived", len(seen))
	}
}

// A hook due after the run is reported as not fired; an interrupted run
// stops scheduling, reports what it did and counts what it did not send.
func TestHookNotFiredAndInterruption(t *testing.T) {
	node := newFakeNode(t, 0)
	hook, _ := ParseHook("5s:POST:" + node.url + `/_sim/faults:{"down":true}`)
	rep, err := Run(context.Background(), Config{Target: node.url, Hooks: []Hook{hook}}, &constSource{n: 20, gap: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Hooks) != 1 || !strings.Contains(rep.Hooks[0].Error, "not fired") || rep.Failed != 0 {
		t.Fatalf("hooks %+v", rep.Hooks)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	rep, err = Run(ctx, Config{Target: node.url}, &constSource{n: 1000, gap: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("interrupted run took %v", el)
	}
	// How many sends fit in 300ms depends on how busy the machine is; what
	// must hold is that the run stopped early and counted what it skipped.
	if rep.Completed < 1 || rep.Completed > 40 || rep.NotSent < 1 {
		t.Fatalf("interrupted at 300ms of a 10s run: %s", rep)
	}
}
