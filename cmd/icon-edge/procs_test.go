package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The processor count is the process's own business, so it is tested on
// the built binary: what an operator sees in the log and on /metrics.
func TestBinaryProcessorCount(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "icon-edge")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building icon-edge: %v\n%s", err, b)
	}
	// procs: all is the runtime's default here (the binary runs without a
	// GOMAXPROCS variable); a fixed number unlike it shows it was applied.
	prev := runtime.GOMAXPROCS(0)
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(prev)
	all, other := strconv.Itoa(def), strconv.Itoa(def+1)
	adaptiveLog := "processors follow the load"
	if def <= 1 {
		adaptiveLog = "processors fixed" // one CPU: nothing to adapt
	}
	for _, c := range []struct {
		name       string
		args, env  []string
		wantLog    string
		wantProcs  string
		wantChange bool // the adaptive controller's series exist
	}{
		{"default is adaptive, from one", nil, nil, adaptiveLog, "1", def > 1},
		{"all", []string{"--procs", "all"}, nil, "processors fixed", all, false},
		{"a number", []string{"--procs", other}, nil, "processors fixed", other, false},
		{"GOMAXPROCS wins over the file", []string{"--procs", "adaptive"}, []string{"GOMAXPROCS=" + other}, "processors fixed", other, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			base, logs := startBinary(t, bin, c.args, c.env)
			if !strings.Contains(logs, c.wantLog) {
				t.Fatalf("start log lacks %q:\n%s", c.wantLog, logs)
			}
			metrics := get(t, base+"/metrics")
			if got := sample(metrics, "icon_edge_procs"); got != c.wantProcs {
				t.Fatalf("icon_edge_procs = %q, want %s", got, c.wantProcs)
			}
			hasChanges := sample(metrics, `icon_edge_procs_changes_total{direction="up"}`) != ""
			if hasChanges != c.wantChange {
				t.Fatalf("icon_edge_procs_changes_total present: %v, want %v", hasChanges, c.wantChange)
			}
		})
	}

	out, err := exec.Command(bin, "--procs", "0", "--upstream", "http://127.0.0.1:1", "--check").CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "procs must be adaptive, all or a number") {
		t.Fatalf("--procs 0 --check: exit %d, output %q; want 2 and the key named", code, out)
	}
}

// startBinary runs the edge on a free loopback port (read from its start
// log) until the test ends, and returns its base URL and the start log.
func startBinary(t *testing.T, bin string, args, env []string) (string, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--listen", "127.0.0.1:0", "--upstream", "http://127.0.0.1:1",
		"--log-format", "json"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	logs := &startLog{started: make(chan struct{})}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	select {
	case <-logs.started:
	case <-time.After(30 * time.Second):
		t.Fatalf("no processor line within 30 s; log:\n%s", logs.String())
	}
	text := logs.String()
	for _, line := range strings.Split(text, "\n") {
		var rec struct{ Msg, Listen string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "icon-edge serving" {
			return "http://" + rec.Listen, text
		}
	}
	t.Fatalf("no listen address in the start log:\n%s", text)
	return "", ""
}

// startLog keeps the edge's log and says when the processor line (the last
// of the start) is in.
type startLog struct {
	mu      sync.Mutex
	b       strings.Builder
	started chan struct{}
	once    sync.Once
}

func (l *startLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	if strings.Contains(l.b.String(), `"msg":"processors `) {
		l.once.Do(func() { close(l.started) })
	}
	return len(p), nil
}

func (l *startLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func get(t *testing.T, url string) string {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// sample is the value of the series named exactly so ("" if absent).
func sample(exposition, series string) string {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
