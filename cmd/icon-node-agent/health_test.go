package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/test/iconsim"
)

func ptr[T any](v T) *T { return &v }

// healthRig: iconsim node 0 is the local node, nodes 1 and 2 and an edge's
// /region.json are the references; the agent's server runs on loopback.
type healthRig struct {
	sim    *iconsim.Cluster
	c      *checker
	srv    *httptest.Server
	data   string
	tipAdd atomic.Int64 // region.json answers sim height + this
	edgeUp atomic.Bool
}

func newHealthRig(t *testing.T) *healthRig {
	sim, err := iconsim.Start(iconsim.Config{Listen: "127.0.0.1:0", Nodes: 3, BlockInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sim.WaitHeight(ctx, 3); err != nil {
		t.Fatal(err)
	}
	r := &healthRig{sim: sim, data: t.TempDir()}
	r.edgeUp.Store(true)
	edge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !r.edgeUp.Load() || req.URL.Path != "/region.json" {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"region": "eu", "tip": sim.Height() + r.tipAdd.Load()})
	}))
	t.Cleanup(edge.Close)
	urls := sim.URLs()
	cfg := healthConfig{node: urls[0], references: []string{urls[1], urls[2] + "/api/v3/icon_dex", edge.URL + "/region.json"},
		dataDir: r.data, maxLag: 10, interval: 20 * time.Millisecond, timeout: time.Second, stallAfter: 400 * time.Millisecond, rise: 2, fall: 2}
	srv, c := newHealthServer(cfg, []string{"goloop_consensus_"})
	r.c = c
	r.srv = httptest.NewServer(srv.Handler)
	t.Cleanup(r.srv.Close)
	return r
}

// until runs checks until the published verdict has the wanted status and
// health, or fails after a deadline.
func (r *healthRig) until(t *testing.T, status string, healthy bool) verdict {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := r.c.check(context.Background())
		if v.Status == status && v.Healthy == healthy {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("never reached %s/healthy=%v; last %+v", status, healthy, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *healthRig) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(r.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthVerdicts(t *testing.T) {
	r := newHealthRig(t)
	if code, _ := r.get(t, "/health"); code != 503 {
		t.Fatalf("before any check: %d", code)
	}
	v := r.until(t, "ok", true)
	if v.Lag > 10 || v.ReferenceHeight == 0 || len(v.References) != 3 {
		t.Fatalf("in sync: %+v", v)
	}
	code, body := r.get(t, "/health")
	var got verdict
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 || !got.Healthy || got.LocalHeight == 0 {
		t.Fatalf("/health in sync: %d %s", code, body)
	}

	t.Run("lagging", func(t *testing.T) {
		r.sim.Node(0).SetFaults(iconsim.Faults{LagBlocks: ptr(int64(25))})
		v := r.until(t, "lagging", false)
		if v.Lag < 11 || !strings.Contains(v.Reason, "behind") {
			t.Fatalf("%+v", v)
		}
		if code, _ := r.get(t, "/health"); code != 503 {
			t.Fatalf("lagging node answers %d", code)
		}
		r.sim.Node(0).SetFaults(iconsim.Faults{LagBlocks: ptr(int64(0))})
		r.until(t, "ok", true)
	})

	t.Run("edge tip ahead counts", func(t *testing.T) {
		// The highest reference wins: an edge that saw 100 more blocks.
		r.tipAdd.Store(100)
		v := r.until(t, "lagging", false)
		if v.Lag < 90 {
			t.Fatalf("%+v", v)
		}
		r.tipAdd.Store(0)
		r.until(t, "ok", true)
	})

	t.Run("references down", func(t *testing.T) {
		r.sim.Node(1).SetFaults(iconsim.Faults{Down: ptr(true)})
		r.sim.Node(2).SetFaults(iconsim.Faults{Down: ptr(true)})
		r.edgeUp.Store(false)
		defer func() {
			r.sim.Node(1).SetFaults(iconsim.Faults{Down: ptr(false)})
			r.sim.Node(2).SetFaults(iconsim.Faults{Down: ptr(false)})
			r.edgeUp.Store(true)
		}()
		// A reference outage must not take the node out while it follows the chain.
		for range 10 {
			v := r.c.check(context.Background())
			if !v.Healthy {
				t.Fatalf("references down, node advancing: %+v", v)
			}
			time.Sleep(30 * time.Millisecond)
		}
		if v := r.c.check(context.Background()); !strings.Contains(v.Reason, "references unreachable") {
			t.Fatalf("%+v", v)
		}

		t.Run("stalled", func(t *testing.T) {
			r.sim.Node(0).SetFaults(iconsim.Faults{Stall: ptr(true)})
			v := r.until(t, "stalled", false)
			if !strings.Contains(v.Reason, "not advanced") {
				t.Fatalf("%+v", v)
			}
			r.sim.Node(0).SetFaults(iconsim.Faults{Stall: ptr(false)})
		})
	})

	t.Run("node down", func(t *testing.T) {
		r.until(t, "ok", true)
		r.sim.Node(0).SetFaults(iconsim.Faults{Down: ptr(true)})
		r.until(t, "node_down", false)
		r.sim.Node(0).SetFaults(iconsim.Faults{Down: ptr(false)})
		r.until(t, "ok", true)
	})

	t.Run("restoring", func(t *testing.T) {
		marker := filepath.Join(r.data, ".icon-node-agent", "restore.json")
		os.MkdirAll(filepath.Dir(marker), 0o755)
		os.WriteFile(marker, []byte(`{"op":"restore","state":"running","snapshot":"20250101T000000.000Z","pid":1,"bytes_total":100,"bytes_done":40}`), 0o644)
		// At once, before any check: a restore is never served.
		code, body := r.get(t, "/health")
		if code != 503 || !strings.Contains(body, `"restoring"`) {
			t.Fatalf("during a restore: %d %s", code, body)
		}
		r.until(t, "restoring", false)
		_, metrics := r.get(t, "/metrics")
		for _, want := range []string{`icon_node_agent_operation_in_progress{op="restore"} 1`, `icon_node_agent_operation_bytes_done{op="restore"} 40`} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		os.WriteFile(marker, []byte(`{"op":"restore","state":"done","snapshot":"20250101T000000.000Z","pid":1}`), 0o644)
		r.until(t, "ok", true)
	})

	_, metrics := r.get(t, "/metrics")
	for _, want := range []string{"icon_node_agent_local_height ", "icon_node_agent_reference_height ", "icon_node_agent_lag_blocks ",
		"icon_node_agent_seconds_since_last_block ", "icon_node_agent_rpc_latency_seconds_bucket", "icon_node_agent_healthy 1",
		"icon_node_agent_goloop_scrape_up 1", "goloop_consensus_height{"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(metrics, "goloop_txpool_user_size") {
		t.Error("/metrics re-exports a goloop family not asked for")
	}
}
