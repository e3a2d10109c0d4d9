package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/capture"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestReplayCommand(t *testing.T) {
	var got atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/api/v3/icon_dex" && bytes.Contains(b, []byte("icx_getLastBlock")) {
			got.Add(1)
		}
		io.WriteString(w, `{"jsonrpc":"2.0","result":"0x1","id":1}`)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	dir := t.TempDir()
	capPath := filepath.Join(dir, "cap.jsonl.gz")
	w, err := capture.New(capture.Config{Path: capPath, Gzip: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		w.Record([]byte("/api/v3/icon_dex"), []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"icx_getLastBlock"}`, i)))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	code, out, errs := cli(t, "replay", "--target", "http://"+ln.Addr().String(), "--capture", capPath,
		"--rate", "200", "--quiet", "--json", jsonPath, "--html", htmlPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if got.Load() != 50 || !strings.Contains(out, "replay against") || !strings.Contains(out, "icx_getLastBlock") || errs != "" {
		t.Fatalf("server got %d\nstdout:\n%s\nstderr:\n%s", got.Load(), out, errs)
	}
	var rep struct {
		Completed int64 `json:"completed"`
		Latency   struct {
			P99 float64 `json:"p99_ms"`
		} `json:"latency"`
	}
	b, _ := os.ReadFile(jsonPath)
	if err := json.Unmarshal(b, &rep); err != nil || rep.Completed != 50 || rep.Latency.P99 <= 0 {
		t.Fatalf("json report %s: %v", b, err)
	}
	h, _ := os.ReadFile(htmlPath)
	if !bytes.Contains(h, []byte(`id="latency-chart"`)) || !bytes.Contains(h, []byte(`id="throughput-chart"`)) {
		t.Fatal("html report without charts")
	}
}

func TestSynthCommandWithHookAndProgress(t *testing.T) {
	sim, err := iconsim.Start(iconsim.Config{Listen: "127.0.0.1:0", Nodes: 1, BlockInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	base := sim.URLs()[0]
	code, out, errs := cli(t, "synth", "--target", base+"/api/v3", "--rate", "100", "--duration", "2200ms",
		"--at", "1500ms:POST:"+base+`/_sim/faults:{"down":true}`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Count(errs, "p99(1s)") < 2 {
		t.Fatalf("no progress lines on stderr:\n%s", errs)
	}
	if !strings.Contains(out, "hook at") || !strings.Contains(out, "transport:") || !strings.Contains(out, "built-in mix") {
		t.Fatalf("summary:\n%s", out)
	}
}

func TestCompareCommand(t *testing.T) {
	sim, err := iconsim.Start(iconsim.Config{Listen: "127.0.0.1:0", Nodes: 2, BlockInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	dir := t.TempDir()
	code, out, errs := cli(t, "compare", "--a", sim.URLs()[0]+"/api/v3", "--b", sim.URLs()[1]+"/api/v3",
		"--rate", "100", "--duration", "1s", "--rounds", "2", "--quiet", "--json", filepath.Join(dir, "c.json"), "--html", filepath.Join(dir, "c.html"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "B/A") || !strings.Contains(out, "throughput") {
		t.Fatalf("stdout:\n%s", out)
	}
	for _, f := range []string{"c.json", "c.html", "c-b.html"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "usage"},
		{[]string{"nope"}, 2, "unknown command"},
		{[]string{"replay"}, 1, "needs --target and --capture"},
		{[]string{"replay", "--target", "http://127.0.0.1:1", "--capture", "/nonexistent/cap"}, 1, "no capture"},
		{[]string{"synth", "--target", "http://127.0.0.1:1/api/v3"}, 1, "needs --target, --rate and --duration"},
		{[]string{"synth", "--at", "soon:POST:x"}, 1, "hook"},
		{[]string{"compare", "--a", "http://127.0.0.1:1"}, 1, "compare needs"},
	} {
		code, _, errs := cli(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, errs)
		}
	}
	if code, out, _ := cli(t, "help"); code != 0 || !strings.Contains(out, "replay") {
		t.Error("help")
	}
}

func TestHelpOfEveryCommand(t *testing.T) {
	env := []string{"ICON_LOADTEST_KEY", "ICON_LOADTEST_CPUPROFILE", "docs/loadtest.md"}
	for _, c := range []struct {
		args  []string
		flags []string
	}{
		{[]string{"--help"}, []string{"replay", "synth", "compare"}},
		{[]string{"-h"}, []string{"replay", "synth", "compare"}},
		{[]string{"replay", "--help"}, []string{"-target", "-capture", "-speed", "-rate", "-loop", "-at", "-html"}},
		{[]string{"synth", "--help"}, []string{"-target", "-rate", "-duration", "-mix", "-poisson", "-seed", "-at"}},
		{[]string{"compare", "-h"}, []string{"-a", "-b", "-rate", "-rounds", "-mix", "-capture", "-json"}},
	} {
		code, out, errs := cli(t, c.args...)
		if code != 0 || errs != "" {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, errs)
		}
		for _, want := range append(c.flags, env...) {
			if !strings.Contains(out, want) {
				t.Errorf("%v: help lacks %q", c.args, want)
			}
		}
	}
	if code, _, errs := cli(t, "synth", "--bogus"); code == 0 || !strings.Contains(errs, `"icon-loadtest synth --help"`) {
		t.Errorf("unknown flag: exit %d, stderr %q", code, errs)
	}
}
