package wsbridge

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/test/iconsim"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type env struct {
	sim    *iconsim.Cluster
	pool   *upstream.Pool
	bridge *Bridge
	reg    *prometheus.Registry
	url    string // ws://127.0.0.1:port
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startEnv(t testing.TB, nodes int, interval time.Duration, cfg Config) *env {
	t.Helper()
	sim, err := iconsim.Start(iconsim.Config{Listen: "127.0.0.1:0", Nodes: nodes, BlockInterval: interval,
		NID: 3, Channel: "icon_dex", Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	pool, err := upstream.New(upstream.Config{Upstreams: sim.URLs(),
		Health: upstream.HealthConfig{ProbeInterval: 50 * time.Millisecond}}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pool.Start(ctx)
	t.Cleanup(func() { cancel(); pool.Close() })
	deadline := time.Now().Add(5 * time.Second)
	for !pool.Ready() || sim.Height() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("pool never became ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	reg := prometheus.NewRegistry()
	b, err := New(cfg, pool, reg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b)
	t.Cleanup(func() { srv.Close(); _ = b.Close() })
	return &env{sim: sim, pool: pool, bridge: b, reg: reg, url: "ws" + strings.TrimPrefix(srv.URL, "http")}
}

func dial(t testing.TB, url, first string) *websocket.Conn {
	t.Helper()
	c, res, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", url, err, res)
	}
	t.Cleanup(func() { c.Close() })
	if first != "" {
		if err := c.WriteMessage(websocket.TextMessage, []byte(first)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func readJSON(t testing.TB, c *websocket.Conn) map[string]any {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

func expectCode0(t testing.TB, c *websocket.Conn) {
	t.Helper()
	if m := readJSON(t, c); m["code"] != 0.0 || len(m) != 1 {
		t.Fatalf("first answer %v", m)
	}
}

func hexHeight(t testing.TB, m map[string]any, key string) int64 {
	t.Helper()
	s, _ := m[key].(string)
	h, ok := icon.ParseHexInt(s)
	if !ok {
		t.Fatalf("no %s in %v", key, m)
	}
	return h
}

func wsSessions(sim *iconsim.Cluster) int64 {
	var n int64
	for i := 0; i < sim.Nodes(); i++ {
		n += sim.Node(i).Stats().WSSessions
	}
	return n
}

func ptr[T any](v T) *T { return &v }

func counter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// sendTokenTransfer makes a Transfer event to `to` in a coming block.
func sendTokenTransfer(t testing.TB, sim *iconsim.Cluster, to, value string) {
	t.Helper()
	w, err := icon.NewWallet(iconsim.DevPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := w.SignCall(iconsim.TokenAddress, "transfer", map[string]string{"_to": to, "_value": value}, 3, 10000000, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"icx_sendTransaction","params":` + string(p) + `}`
	node := sim.URLs()[0]
	for i := sim.Nodes() - 1; i >= 0; i-- { // any node that is up shares the chain
		if !sim.Node(i).Stats().Faults.Down {
			node = sim.URLs()[i]
		}
	}
	res, err := http.Post(node+"/api/v3", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("sendTransaction: %d %s", res.StatusCode, b)
	}
}
