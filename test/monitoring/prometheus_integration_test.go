package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/edge"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

// edgeScenario is what the integration test scrapes: something serving
// icon-edge's /metrics whose ICON nodes the test can take away.
type edgeScenario interface {
	// Target is the host:port Prometheus scrapes (/metrics), on 127.0.0.1.
	Target() string
	// KillAllNodes makes every upstream node unavailable.
	KillAllNodes(t *testing.T)
}

// newScenario is a real icon-edge, in front of three iconsim nodes, over
// loopback HTTP: the same /metrics an operator's Prometheus scrapes.
var newScenario = func(t *testing.T) edgeScenario { return newEdgeScenario(t) }

type realEdgeScenario struct {
	sim  *iconsim.Cluster
	edge *edge.Edge
}

func newEdgeScenario(t *testing.T) *realEdgeScenario {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sim, err := iconsim.Start(iconsim.Config{Listen: "127.0.0.1:0", Nodes: 3, BlockInterval: 200 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	cfg := edge.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.Upstreams = sim.URLs()
	cfg.Health.ProbeInterval = 100 * time.Millisecond
	e, err := edge.Start(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for !e.Pool().Ready() {
		if time.Now().After(deadline) {
			t.Fatal("edge never became ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &realEdgeScenario{sim: sim, edge: e}
}

func (s *realEdgeScenario) Target() string { return s.edge.Addr() }

func (s *realEdgeScenario) KillAllNodes(*testing.T) {
	down := true
	for i := 0; i < s.sim.Nodes(); i++ {
		s.sim.Node(i).SetFaults(iconsim.Faults{Down: &down})
	}
}

const fastFor = "2s"

// testRuleCopies copies the project's rule files with every `for:` cut to
// fastFor and group intervals to 1s, so alerts move within seconds.
func testRuleCopies(t *testing.T, dir string) []string {
	t.Helper()
	forRe := regexp.MustCompile(`(?m)^(\s+for:\s*)\S+\s*$`)
	intervalRe := regexp.MustCompile(`(?m)^(\s+interval:\s*)\S+\s*$`)
	var out []string
	for _, f := range glob(t, filepath.Join(monitoringDir(t), "prometheus", "rules", "*.yml")) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = forRe.ReplaceAll(b, []byte("${1}"+fastFor))
		b = intervalRe.ReplaceAll(b, []byte("${1}1s"))
		dst := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, dst)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPrometheus runs Debian's prometheus on 127.0.0.1 scraping target every
// second as job icon-edge with the given region, and returns its base URL.
func startPrometheus(t *testing.T, target, region string) string {
	t.Helper()
	bin := needTool(t, "prometheus", "prometheus")
	dir := t.TempDir()
	rules := testRuleCopies(t, dir)
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: [%s]
scrape_configs:
  - job_name: icon-edge
    static_configs:
      - targets: [%q]
        labels: {region: %q}
`, quoteAll(rules), target, region)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// The port is free when chosen but may be taken before prometheus binds
	// it (other tests pick ports too): then start again on another one.
	for attempt := 1; ; attempt++ {
		base, ok := launchPrometheus(t, bin, dir, cfgPath)
		if ok {
			return base
		}
		if attempt == 3 {
			t.Fatal("prometheus could not bind a free port three times")
		}
	}
}

// launchPrometheus starts prometheus on a free port and waits until it is
// ready; false when it exited because the port was taken meanwhile.
func launchPrometheus(t *testing.T, bin, dir, cfgPath string) (string, bool) {
	t.Helper()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--log.level=warn",
	)
	logPath := filepath.Join(dir, fmt.Sprintf("prometheus-%d.log", port))
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cancel()
		<-exited
		logFile.Close()
	}
	portTaken := false
	poll(t, 20*time.Second, "prometheus ready", func() bool {
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			if strings.Contains(string(b), "address already in use") {
				portTaken = true
				return true
			}
			t.Fatalf("prometheus exited during start-up:\n%s", b)
		default:
		}
		res, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	if portTaken {
		stop()
		return "", false
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("prometheus log:\n%s", b)
		}
	})
	return base, true
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func poll(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func getJSON(t *testing.T, u string, into any) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil || env.Status != "success" {
		t.Fatalf("GET %s: status %q, %v", u, env.Status, err)
	}
	if err := json.Unmarshal(env.Data, into); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

func alerts(t *testing.T, base, name string) []promAlert {
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	getJSON(t, base+"/api/v1/alerts", &data)
	var out []promAlert
	for _, a := range data.Alerts {
		if a.Labels["alertname"] == name {
			out = append(out, a)
		}
	}
	return out
}

func instantQuery(t *testing.T, base, q string) []float64 {
	var data struct {
		Result []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	}
	getJSON(t, base+"/api/v1/query?query="+url.QueryEscape(q), &data)
	var vals []float64
	for _, r := range data.Result {
		var v float64
		fmt.Sscan(r.Value[1].(string), &v)
		vals = append(vals, v)
	}
	return vals
}

// TestNoInSyncNodeAlertWithRealPrometheus loads the project's rules into a
// real Prometheus scraping the edge, takes all nodes away and watches the
// alert go pending and then firing through the HTTP API.
func TestNoInSyncNodeAlertWithRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Prometheus server")
	}
	sc := newScenario(t)
	base := startPrometheus(t, sc.Target(), "eu")

	// Healthy first: the target is scraped, reports in-sync nodes, no alert.
	poll(t, 20*time.Second, "a healthy scrape", func() bool {
		v := instantQuery(t, base, `icon_edge_in_sync_upstreams{job="icon-edge",region="eu"}`)
		return len(v) == 1 && v[0] >= 1
	})
	if up := instantQuery(t, base, `up{job="icon-edge"}`); len(up) != 1 || up[0] != 1 {
		t.Fatalf("up = %v", up)
	}
	time.Sleep(2 * time.Second) // a few rule evaluations on healthy data
	if a := alerts(t, base, "IconEdgeNoInSyncNode"); len(a) != 0 {
		t.Fatalf("alert active while nodes are in sync: %+v", a)
	}

	sc.KillAllNodes(t)
	seen := map[string]bool{}
	poll(t, 30*time.Second, "IconEdgeNoInSyncNode firing", func() bool {
		for _, a := range alerts(t, base, "IconEdgeNoInSyncNode") {
			seen[a.State] = true
			if a.Labels["region"] != "eu" || a.Labels["severity"] != "critical" {
				t.Fatalf("alert labels %v", a.Labels)
			}
		}
		return seen["firing"]
	})
	// Evaluations run every second and `for:` is 2s, so the pending phase is
	// normally observed; it is logged rather than required since polling can
	// straddle it.
	t.Logf("alert states observed: %v", seen)
}

// TestEdgeExportsOnlyListedMetrics scrapes a real edge after some traffic:
// every icon_edge_* family it exports must be in exportedMetrics, so a new
// metric cannot ship without reaching the rules, dashboards and README.
func TestEdgeExportsOnlyListedMetrics(t *testing.T) {
	sc := newEdgeScenario(t)
	api := "http://" + sc.Target() + "/api/v3"
	for _, body := range []string{`{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`, `{"jsonrpc":"2.0","id":1,"method":"nope"}`, `[]`} {
		resp, err := http.Post(api, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + sc.Target() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	listed := map[string]bool{}
	for _, m := range exportedMetrics {
		listed[m] = true
	}
	seen := 0
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "# TYPE icon_edge_") {
			continue
		}
		name := strings.Fields(line)[2]
		seen++
		if !listed[name] {
			t.Errorf("the edge exports %s, which exportedMetrics (and so the rules and dashboards) do not know", name)
		}
	}
	if seen < 10 {
		t.Fatalf("only %d icon_edge_* families on /metrics", seen)
	}
}
