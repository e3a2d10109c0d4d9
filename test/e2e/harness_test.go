// Package e2e runs iconsim nodes and the edge in-process over real loopback
// HTTP and checks what a dApp and an operator would notice.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/edge"
	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func startSim(t *testing.T, nodes int) *iconsim.Cluster {
	t.Helper()
	c, err := iconsim.Start(iconsim.Config{Listen: "127.0.0.1:0", Nodes: nodes, BlockInterval: 100 * time.Millisecond,
		NID: 3, Channel: "icon_dex", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func edgeConfig(c *iconsim.Cluster) edge.Config {
	cfg := edge.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.Upstreams = c.URLs()
	cfg.Health.ProbeInterval = 50 * time.Millisecond
	cfg.Health.ProbeTimeout = 300 * time.Millisecond
	cfg.Health.BackoffMin = 100 * time.Millisecond
	cfg.Health.BackoffMax = 500 * time.Millisecond
	// Routing tests count what each node served; caching is tested on its own.
	cfg.Cache.Enabled = false
	return cfg
}

func startEdge(t *testing.T, cfg edge.Config) *edge.Edge {
	t.Helper()
	e, err := edge.Start(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	// Ready as a balancer sees it: /readyz, which flips only after the
	// region verdict's consecutive observations.
	eventually(t, "edge ready", func() bool {
		// Connection: close, so no idle keep-alive connection is left to
		// count against the tests' per-address connection caps.
		req, _ := http.NewRequest(http.MethodGet, e.URL()+"/readyz", nil)
		req.Close = true
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return e
}

// allInSync waits until every node the edge knows is in sync.
func allInSync(t *testing.T, e *edge.Edge, n int) {
	t.Helper()
	eventually(t, "all nodes in sync", func() bool {
		nodes := e.Pool().Nodes()
		if len(nodes) != n {
			return false
		}
		for _, nd := range nodes {
			if !e.Pool().InSync(nd) {
				return false
			}
		}
		return true
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var client = &http.Client{Timeout: 20 * time.Second}

type reply struct {
	status int
	body   []byte
	header http.Header
}

func post(t *testing.T, url, body string, headers ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, b, resp.Header}
}

// rpcAnswer is one JSON-RPC answer, loosely typed.
type rpcAnswer struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
}

func decode(t *testing.T, b []byte) rpcAnswer {
	t.Helper()
	var a rpcAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("answer is not a JSON-RPC object: %v: %q", err, b)
	}
	return a
}

func call(t *testing.T, url, method string, params any) rpcAnswer {
	t.Helper()
	body := map[string]any{"jsonrpc": "2.0", "id": 1, "method": method}
	if params != nil {
		body["params"] = params
	}
	b, _ := json.Marshal(body)
	r := post(t, url, string(b))
	return decode(t, r.body)
}

func stats(n *iconsim.Node) iconsim.Stats { return n.Stats() }

// limits is a ratelimit section as a file gets it (the defaults) with edit applied.
func limits(edit func(*ratelimit.Config)) *ratelimit.Config {
	c := ratelimit.DefaultConfig()
	edit(&c)
	return &c
}

func boolp(v bool) *bool    { return &v }
func int64p(v int64) *int64 { return &v }
func hex(v int64) string    { return fmt.Sprintf("0x%x", v) }
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
func sleepMS(ms int)                      { time.Sleep(time.Duration(ms) * time.Millisecond) }
