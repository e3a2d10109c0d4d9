// Package compat replays the HTTP exchanges recorded from a real goloop node
// (test/compat/testdata/samples) against any ICON JSON-RPC endpoint — the
// simulator directly, or the edge in front of it — and compares status,
// error code and result shape with the recorded answers.
package compat

import (
	"bytes"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/icon"
)

// Env is what the suite needs to know about the target chain.
type Env struct {
	Wallet     *icon.Wallet // funded account; replaces the samples' god account
	Wallet2    *icon.Wallet // second account; replaces hx6d01…; may be unfunded at start
	NID        int64        // the target's network id (the samples' 0x3)
	Channel    string       // the target's channel (the samples' icon_dex)
	SamplesDir string       // default: FindSamples()
	Client     *http.Client // default: 15s timeout
	// RetryFor bounds how long a request about a just-sent transaction is
	// repeated until it reaches the recorded state (e.g. final). Default 15s.
	RetryFor time.Duration
	// Edge marks the target as an icon-edge in front of nodes: GET /metrics is
	// the edge's own and must not show the node's goloop_* metrics.
	Edge bool
}

// Skipped samples, each with the reason. Keep this short.
var Skipped = map[string]string{
	"debug_estimateStep.json":          "debug API (/api/v3d) content; iconsim runs with debug disabled and an edge must not expose it",
	"debug_getTrace.json":              "debug API (/api/v3d) content; see debug_estimateStep",
	"debug_unknown_method_on_v3d.json": "needs the debug API enabled; iconsim answers 404 'debug API is disabled' like a node without --rpc_debug",
	"icon_options_debug.json":          "error data is goloop's Go stack trace, only with rpc debug mode on",
	"icx_getBlockHeaderByHeight.json":  "BTP extension (RLP block header)",
	"icx_getVotesByHeight.json":        "BTP extension (votes)",
}

// exactValue lists samples whose result values do not depend on chain contents.
var exactValue = map[string]bool{
	"icx_getTotalSupply.json": true, "icx_getTotalSupply_at_height.json": true,
	"icx_getBalance_unknown_eoa.json": true, "icx_getBalance_at_height.json": true,
	"icx_call_getStepPrice.json": true, "icx_call_getStepCosts.json": true, "icx_call_getMaxStepLimit.json": true,
	"icx_call_getRevision.json": true, "icx_call_getValidators.json": true,
}

type indexEntry struct {
	File   string `json:"file"`
	Status int    `json:"status"`
	Desc   string `json:"desc"`
}

type sample struct {
	Request struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	} `json:"request"`
	Response struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	} `json:"response"`
}

// replayer holds what one run learned: recorded tx hashes, block hashes and
// heights mapped to the target chain's own.
type replayer struct {
	t       *testing.T
	target  string
	env     Env
	mapping map[string]string
	sentTx  map[string][]byte // recorded tx hash → our signed params
}

// FindSamples returns the recorded goloop samples shipped in the repository
// (test/compat/testdata/samples), wherever the test runs from.
func FindSamples() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	return filepath.Join(filepath.Dir(file), "testdata", "samples")
}

// Replay runs every indexed HTTP sample against target (a base URL like
// http://127.0.0.1:PORT) as subtests, in recording order.
func Replay(t *testing.T, target string, env Env) {
	t.Helper()
	if env.SamplesDir == "" {
		env.SamplesDir = FindSamples()
	}
	idx, err := os.ReadFile(filepath.Join(env.SamplesDir, "INDEX.json"))
	if env.SamplesDir == "" || err != nil {
		t.Fatalf("recorded goloop samples not found in %s: %v", env.SamplesDir, err)
	}
	if env.Client == nil {
		env.Client = &http.Client{Timeout: 15 * time.Second}
	}
	if env.RetryFor == 0 {
		env.RetryFor = 15 * time.Second
	}
	if env.Channel == "" {
		env.Channel = "icon_dex"
	}
	var entries []indexEntry
	if err := json.Unmarshal(idx, &entries); err != nil {
		t.Fatalf("INDEX.json: %v", err)
	}
	r := &replayer{t: t, target: strings.TrimRight(target, "/"), env: env, mapping: map[string]string{}, sentTx: map[string][]byte{}}
	r.waitForBlocks(t, 3) // samples ask for blocks 0x1 and a last block that is not genesis
	for _, e := range entries {
		t.Run(strings.TrimSuffix(e.File, ".json"), func(t *testing.T) {
			if why, ok := Skipped[e.File]; ok {
				t.Skip(why)
			}
			if env.Edge && e.File == "metrics_get.json" {
				r.checkEdgeMetrics(t)
				return
			}
			b, err := os.ReadFile(filepath.Join(env.SamplesDir, e.File))
			if err != nil {
				t.Fatal(err)
			}
			var s sample
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatalf("sample: %v", err)
			}
			r.run(t, e.File, &s)
		})
	}
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (r *replayer) run(t *testing.T, name string, s *sample) {
	body := []byte(s.Request.Body)
	if v, err := decode(body); err == nil && len(body) > 0 {
		adapted, err := r.adaptRequest(v, s)
		if err != nil {
			t.Fatalf("adapting request: %v", err)
		}
		if adapted != nil {
			body = adapted
		}
	}
	path := r.adaptPath(s.Request.URL)
	refsOurTx := r.mentionsSentTx(body)
	deadline := time.Now().Add(r.env.RetryFor)
	for {
		got := r.send(t, s.Request.Method, path, s.Request.Headers, body)
		problems := r.compare(name, s, got)
		// A recording about a sent tx was taken seconds later on a 1 s chain: retry
		// until the target reaches the same state, except for "immediately" probes.
		if len(problems) == 0 || !refsOurTx || strings.HasSuffix(name, "_pending.json") || time.Now().After(deadline) {
			for _, p := range problems {
				t.Error(p)
			}
			if len(problems) > 0 {
				t.Logf("request %s %s: %s\nrecorded %d: %s\ngot %d: %s", s.Request.Method, path, body, s.Response.Status, s.Response.Body, got.status, got.body)
			}
			r.learn(s, got)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *replayer) adaptPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	p := u.EscapedPath()
	if r.env.Channel != "icon_dex" {
		p = strings.Replace(p, "/icon_dex", "/"+r.env.Channel, 1)
	}
	return p
}

func (r *replayer) send(t *testing.T, method, path string, headers map[string]string, body []byte) answer {
	req, err := http.NewRequest(method, r.target+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if len(body) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	res, err := r.env.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	return answer{res.StatusCode, res.Header, b}
}

func (r *replayer) mentionsSentTx(body []byte) bool {
	for rec, ours := range r.mapping {
		if strings.HasPrefix(rec, "0x") && len(rec) == 66 && bytes.Contains(body, []byte(ours)) {
			if _, ok := r.sentTx[rec]; ok {
				return true
			}
		}
	}
	return false
}

// bigOr parses a hex value, defaulting to zero.
func bigOr(s string) *big.Int {
	if v, ok := icon.ParseBigHex(s); ok {
		return v
	}
	return new(big.Int)
}

// waitForBlocks polls icx_getLastBlock until the target's chain has height h.
func (r *replayer) waitForBlocks(t *testing.T, h int64) {
	deadline := time.Now().Add(r.env.RetryFor)
	for {
		got := r.send(t, http.MethodPost, "/api/v3", map[string]string{"Content-Type": "application/json"},
			[]byte(`{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`))
		var res struct {
			Result struct {
				Height int64 `json:"height"`
			} `json:"result"`
		}
		if json.Unmarshal(got.body, &res) == nil && res.Result.Height >= h {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("target chain did not reach height %d: %d %s", h, got.status, got.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkEdgeMetrics: an edge must not expose a node's unauthenticated /metrics.
func (r *replayer) checkEdgeMetrics(t *testing.T) {
	resp, err := r.env.Client.Get(r.target + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(b), "goloop_") {
		t.Fatal("the edge's /metrics shows the node's goloop_* metrics")
	}
	if !strings.Contains(string(b), "icon_edge_") {
		t.Fatalf("the edge's /metrics has no icon_edge_* metrics: %.200s", b)
	}
}
