package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/icon-edge/icon-edge/capture"
	"github.com/icon-edge/icon-edge/edge"
	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

// Each test here changes one class of settings with Reload (what SIGHUP
// does), on a running edge, and checks what a client or operator sees next.

// A reload that lowers the rate limit makes the next requests 429, at once.
func TestReloadLowersRateLimit(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	cfg.RateLimit = limits(func(l *ratelimit.Config) { l.Enabled, l.RequestsPerSecond, l.Burst = true, 1000, 1000 })
	e := startEdge(t, cfg)
	body := `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`
	for i := 0; i < 20; i++ {
		if r := post(t, e.URL()+"/api/v3", body); r.status != http.StatusOK {
			t.Fatalf("request %d under a high limit: %d %s", i, r.status, r.body)
		}
	}
	next := cfg
	next.RateLimit = limits(func(l *ratelimit.Config) { l.Enabled, l.RequestsPerSecond, l.Burst = true, 0.01, 2 })
	if err := e.Reload(next); err != nil {
		t.Fatal(err)
	}
	var codes []int
	for i := 0; i < 4; i++ {
		codes = append(codes, post(t, e.URL()+"/api/v3", body).status)
	}
	// A new limiter starts every budget afresh: the burst of 2, then 429.
	if !slices.Equal(codes, []int{200, 200, 429, 429}) {
		t.Fatalf("after lowering the limit: %v, want [200 200 429 429]", codes)
	}
	if r := post(t, e.URL()+"/api/v3", body); r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// And off again: no section, no limits.
	next.RateLimit = nil
	if err := e.Reload(next); err != nil {
		t.Fatal(err)
	}
	if r := post(t, e.URL()+"/api/v3", body); r.status != http.StatusOK {
		t.Fatalf("limits removed by reload: %d", r.status)
	}
}

// A reload that disables a method answers it -32601 from the next request,
// as if the node lacked it; request limits, the debug API and public_url
// follow too.
func TestReloadDisablesMethodsAndChangesRequestLimits(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	e := startEdge(t, cfg)
	if a := call(t, e.URL()+"/api/v3", "icx_getTotalSupply", nil); a.Error != nil {
		t.Fatalf("before: %s", a.Error.Message)
	}
	if r := post(t, e.URL()+"/api/v3d", `{`); r.status != http.StatusNotFound {
		t.Fatalf("debug API off: %d %s", r.status, r.body)
	}
	next := cfg
	next.DisabledMethods = []string{"icx_getTotalSupply"}
	next.Limits.MaxBatch = 2
	next.DebugAPI = true
	next.PublicURL = "https://eu.rpc.example.org"
	if err := e.Reload(next); err != nil {
		t.Fatal(err)
	}
	a := call(t, e.URL()+"/api/v3", "icx_getTotalSupply", nil)
	if a.Error == nil || a.Error.Code != -32601 {
		t.Fatalf("disabled by reload: %+v", a)
	}
	item := `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`
	if r := post(t, e.URL()+"/api/v3", "["+item+","+item+","+item+"]"); r.status != http.StatusServiceUnavailable ||
		!strings.Contains(string(r.body), "too many request") {
		t.Fatalf("batch of 3 over max_batch 2: %d %s", r.status, r.body)
	}
	// With the debug API on, the edge reads /api/v3d calls itself (a broken
	// one gets its parse error); off, it answers 404 without reading them.
	if r := post(t, e.URL()+"/api/v3d", `{`); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "-32700") {
		t.Fatalf("debug_api: true by reload: %d %s", r.status, r.body)
	}
	resp, err := client.Get(e.URL() + "/region.json")
	if err != nil {
		t.Fatal(err)
	}
	var region struct {
		PublicURL string `json:"public_url"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&region)
	resp.Body.Close()
	if region.PublicURL != "https://eu.rpc.example.org" {
		t.Fatalf("/region.json public_url %q after reload", region.PublicURL)
	}
}

// A reload of health settings reaches the running pool: a wider max lag
// lets a lagging node serve latest reads without a restart.
func TestReloadChangesHealthSettings(t *testing.T) {
	sim := startSim(t, 2)
	lag := int64(6)
	sim.Node(1).SetFaults(iconsim.Faults{LagBlocks: &lag})
	cfg := edgeConfig(sim)
	e := startEdge(t, cfg)
	if err := sim.WaitHeight(ctxT(t), 8); err != nil {
		t.Fatal(err)
	}
	lagging := func() bool {
		for _, n := range e.Pool().Nodes() {
			if n.URL() == sim.URLs()[1] {
				return e.Pool().InSync(n)
			}
		}
		return false
	}
	eventually(t, "the lagging node probed", func() bool { return len(e.Pool().Nodes()) == 2 && sim.Node(1).Stats().Total > 2 })
	if lagging() {
		t.Fatal("a node 6 blocks behind is in sync with max_lag 2")
	}
	next := cfg
	next.Health.MaxLag = 20
	next.Health.ProbeInterval = 20 * time.Millisecond
	if err := e.Reload(next); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the lagging node in sync under max_lag 20", lagging)
	if got := e.Pool().MaxLag(); got != 20 {
		t.Fatalf("pool max lag %d", got)
	}
}

// A reload turns the cache on (the next repeat of a final read is a hit,
// the node sees one call) and the access log and capture on (the next calls
// land in their files).
func TestReloadTurnsOnCacheAccessLogAndCapture(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	e := startEdge(t, cfg)
	if err := sim.WaitHeight(ctxT(t), 3); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	next := cfg
	next.Cache.Enabled = true
	next.AccessLog.File = filepath.Join(dir, "access.jsonl")
	next.Capture.Path = filepath.Join(dir, "cap.jsonl")
	if err := e.Reload(next); err != nil {
		t.Fatal(err)
	}
	before := sim.Node(0).Stats().Methods["icx_getBlockByHeight"]
	for i := 0; i < 3; i++ {
		if a := call(t, e.URL()+"/api/v3", "icx_getBlockByHeight", map[string]string{"height": "0x1"}); a.Error != nil {
			t.Fatal(a.Error.Message)
		}
	}
	if got := sim.Node(0).Stats().Methods["icx_getBlockByHeight"] - before; got != 1 {
		t.Fatalf("node served %d of 3 identical final reads after the cache was turned on", got)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countLines(t, next.AccessLog.File); n != 3 {
		t.Fatalf("%d access-log lines for 3 calls after the reload", n)
	}
	r, err := capture.Open(next.Capture.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for r.Next() {
		n++
	}
	if n != 3 {
		t.Fatalf("%d captured requests for 3 calls after the reload (%v)", n, r.Err())
	}
}

// A reload lowers websocket.max_conns_per_ip: the next connection over it is
// refused with the reason, the open one keeps streaming.
func TestReloadLowersWebSocketLimits(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	e := startEdge(t, cfg)
	url := "ws" + strings.TrimPrefix(e.URL(), "http") + "/api/v3/icon_dex/block"
	subscribe := func() *websocket.Conn {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"height":"0x%x"}`, sim.Height())))
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	first := subscribe()
	if _, msg, err := first.ReadMessage(); err != nil || strings.TrimSpace(string(msg)) != `{"code":0}` {
		t.Fatalf("first subscription: %q %v", msg, err)
	}
	next := cfg
	next.WebSocket.MaxConnsPerIP = 1
	if err := e.Reload(next); err != nil {
		t.Fatal(err)
	}
	second := subscribe()
	_, _, err := second.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseTryAgainLater || ce.Text != "too many connections from this address" {
		t.Fatalf("second connection after max_conns_per_ip 1: %v", err)
	}
	if _, _, err := first.ReadMessage(); err != nil {
		t.Fatalf("the open subscription stopped: %v", err)
	}
}

// One reload changing live and restart-only settings: the live ones apply,
// one warning names exactly the restart-only ones, and those keep their
// running values. log_level and shutdown apply live.
func TestReloadWarnsOnlyAboutRestartKeys(t *testing.T) {
	sim := startSim(t, 1)
	cfg := edgeConfig(sim)
	var logs syncBuffer
	log := edge.NewLogger("json", "info", &logs)
	e, err := edge.Start(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	eventually(t, "edge ready", func() bool { return e.Pool().Ready() })
	addr := e.Addr()
	next := cfg
	next.Listen = "127.0.0.1:1"
	next.Region = "elsewhere"
	next.Limits.ReadTimeout = 3 * time.Second
	next.Limits.MaxConnsPerNode = 64
	next.Limits.MaxWaitsPerNode = 32
	next.WebSocket.Enabled = false
	next.LogLevel = "debug"
	next.Shutdown.DrainDelay = 0
	next.Health.EjectAfter = 7
	if err := e.Reload(next); err != nil {
		t.Fatal(err)
	}
	var warned []string
	sc := bufio.NewScanner(bytes.NewReader(logs.Bytes()))
	for sc.Scan() {
		var line struct {
			Level    string
			Msg      string
			Settings []string
			Applied  []string
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Level == "WARN" && strings.Contains(line.Msg, "need a restart") {
			if warned != nil {
				t.Fatal("more than one restart warning for one reload")
			}
			warned = line.Settings
		}
	}
	want := []string{"limits.max_conns_per_node", "limits.read_timeout", "listen", "region", "websocket.enabled"}
	slices.Sort(warned)
	if !slices.Equal(warned, want) {
		t.Fatalf("restart warning named %v, want exactly %v", warned, want)
	}
	got := e.Config()
	if got.Listen != cfg.Listen || got.Region != cfg.Region || got.Limits.ReadTimeout != cfg.Limits.ReadTimeout || !got.WebSocket.Enabled ||
		got.Limits.MaxConnsPerNode != cfg.Limits.MaxConnsPerNode {
		t.Fatalf("restart-only settings changed in the running config: %+v", got)
	}
	if got.Limits.MaxWaitsPerNode != 32 || got.Health.EjectAfter != 7 || got.Shutdown.DrainDelay != 0 || got.LogLevel != "debug" {
		t.Fatalf("live settings not in the running config: %+v", got)
	}
	if e.Addr() != addr {
		t.Fatal("the listener moved")
	}
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("log_level: debug not applied")
	}
	// A reload that changes nothing warns about nothing.
	logs.Reset()
	if err := e.Reload(got); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "need a restart") {
		t.Fatalf("an unchanged reload warned: %s", logs.String())
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// syncBuffer is a bytes.Buffer the edge's goroutines may log into.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func (s *syncBuffer) String() string { return string(s.Bytes()) }

func (s *syncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}
