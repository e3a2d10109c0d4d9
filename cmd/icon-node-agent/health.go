package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/snapshot"
)

// healthConfig is what the health command was given.
type healthConfig struct {
	node       string   // the local goloop's RPC base URL
	references []string // JSON-RPC nodes or an edge's /region.json
	dataDir    string   // for the restore marker ("" = not checked)
	maxLag     int64
	interval   time.Duration
	timeout    time.Duration
	stallAfter time.Duration // without references: healthy only if the height moved this recently
	rise, fall int
}

// refResult is one reference's answer in a check.
type refResult struct {
	URL    string `json:"url"`
	Height int64  `json:"height,omitempty"`
	Error  string `json:"error,omitempty"`
}

// verdict is the /health body.
type verdict struct {
	Healthy         bool        `json:"healthy"`
	Status          string      `json:"status"` // ok, lagging, stalled, node_down, restoring, starting
	Reason          string      `json:"reason"`
	LocalHeight     int64       `json:"local_height"`
	ReferenceHeight int64       `json:"reference_height"`
	Lag             int64       `json:"lag"`
	SinceLastBlock  float64     `json:"seconds_since_last_block"`
	References      []refResult `json:"references"`
	CheckedAt       time.Time   `json:"checked_at"`
}

// checker evaluates the node every interval and publishes a verdict with
// hysteresis: rise passes in a row to become healthy, fall failures to stop
// being healthy; a restore takes the node out at once.
type checker struct {
	cfg    healthConfig
	client *http.Client
	now    func() time.Time
	m      *agentMetrics

	mu          sync.Mutex
	cur         verdict
	healthy     bool
	passes      int
	fails       int
	seen        bool
	lastHeight  int64
	lastAdvance time.Time
}

func newChecker(cfg healthConfig, m *agentMetrics) *checker {
	return &checker{cfg: cfg, client: &http.Client{Timeout: cfg.timeout}, now: time.Now, m: m,
		cur: verdict{Status: "starting", Reason: "no check yet", References: []refResult{}}}
}

func (c *checker) current() verdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

func (c *checker) run(ctx context.Context) {
	t := time.NewTicker(c.cfg.interval)
	defer t.Stop()
	for {
		c.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check runs one evaluation and publishes its result.
func (c *checker) check(ctx context.Context) verdict {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	var wg sync.WaitGroup
	refs := make([]refResult, len(c.cfg.references))
	for i, u := range c.cfg.references {
		wg.Add(1)
		go func() {
			defer wg.Done()
			refs[i] = refResult{URL: u}
			h, err := c.referenceHeight(ctx, u)
			if err != nil {
				refs[i].Error = err.Error()
			} else {
				refs[i].Height = h
			}
		}()
	}
	start := c.now()
	lb, nodeErr := (&icon.Client{URL: c.cfg.node, HTTP: c.client}).LastBlock(ctx)
	latency := c.now().Sub(start)
	wg.Wait()

	restoring, restoreWhy := false, ""
	if c.cfg.dataDir != "" {
		restoring, restoreWhy = snapshot.RestoreState(c.cfg.dataDir)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	v := verdict{References: refs, CheckedAt: now.UTC()}
	if nodeErr == nil {
		v.LocalHeight = lb.Height
		// The first answer sets the baseline; only a later, higher one
		// shows the node following the chain.
		if c.seen && lb.Height > c.lastHeight {
			c.lastAdvance = now
		}
		if !c.seen || lb.Height > c.lastHeight {
			c.lastHeight, c.seen = lb.Height, true
		}
	}
	if !c.lastAdvance.IsZero() {
		v.SinceLastBlock = now.Sub(c.lastAdvance).Seconds()
	}
	up := 0
	for _, r := range refs {
		if r.Error == "" {
			up++
			v.ReferenceHeight = max(v.ReferenceHeight, r.Height)
		}
	}
	pass := false
	switch {
	case restoring:
		v.Status, v.Reason = "restoring", restoreWhy
	case nodeErr != nil:
		v.Status, v.Reason = "node_down", "node not answering JSON-RPC: "+nodeErr.Error()
	case up > 0:
		v.Lag = max(v.ReferenceHeight-v.LocalHeight, 0)
		if v.Lag <= c.cfg.maxLag {
			pass = true
			v.Status, v.Reason = "ok", fmt.Sprintf("%d blocks behind the reference (max %d)", v.Lag, c.cfg.maxLag)
		} else {
			v.Status, v.Reason = "lagging", fmt.Sprintf("%d blocks behind the reference height %d (max %d)", v.Lag, v.ReferenceHeight, c.cfg.maxLag)
		}
	case len(refs) > 0 && !c.lastAdvance.IsZero() && now.Sub(c.lastAdvance) <= c.cfg.stallAfter:
		pass = true
		v.Status, v.Reason = "ok", fmt.Sprintf("all %d references unreachable; local height advanced %.0fs ago", len(refs), now.Sub(c.lastAdvance).Seconds())
	case len(refs) == 0 && !c.lastAdvance.IsZero() && now.Sub(c.lastAdvance) <= c.cfg.stallAfter:
		pass = true
		v.Status, v.Reason = "ok", fmt.Sprintf("no references configured; local height advanced %.0fs ago", now.Sub(c.lastAdvance).Seconds())
	default:
		v.Status = "stalled"
		if c.lastAdvance.IsZero() {
			v.Reason = fmt.Sprintf("no reference reachable (%d configured) and the local height has not been seen advancing", len(refs))
		} else {
			v.Reason = fmt.Sprintf("no reference reachable (%d configured) and the local height has not advanced for %.0fs (max %s)", len(refs), now.Sub(c.lastAdvance).Seconds(), c.cfg.stallAfter)
		}
	}
	switch {
	case restoring:
		c.healthy, c.passes, c.fails = false, 0, 0
	case pass:
		c.passes, c.fails = c.passes+1, 0
		if !c.healthy && c.passes >= c.cfg.rise {
			c.healthy = true
		}
	default:
		c.fails, c.passes = c.fails+1, 0
		if c.healthy && c.fails >= c.cfg.fall {
			c.healthy = false
		}
	}
	v.Healthy = c.healthy
	if pass && !c.healthy {
		v.Reason += fmt.Sprintf(" (passing %d of %d checks before healthy)", c.passes, c.cfg.rise)
	} else if !pass && c.healthy {
		v.Reason += fmt.Sprintf(" (failing %d of %d checks before unhealthy)", c.fails, c.cfg.fall)
	}
	c.cur = v
	if c.m != nil {
		c.m.observe(v, nodeErr == nil, latency, pass)
	}
	return v
}

// referenceHeight asks one reference: an edge's /region.json (field "tip"),
// or a node's JSON-RPC.
func (c *checker) referenceHeight(ctx context.Context, u string) (int64, error) {
	if !strings.HasSuffix(strings.SplitN(u, "?", 2)[0], "/region.json") {
		lb, err := (&icon.Client{URL: u, HTTP: c.client}).LastBlock(ctx)
		return lb.Height, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var body struct {
		Tip *int64 `json:"tip"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return 0, fmt.Errorf("region.json: %w", err)
	}
	if body.Tip == nil || *body.Tip <= 0 {
		return 0, fmt.Errorf("region.json has no tip")
	}
	return *body.Tip, nil
}

func (c *checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v := c.current()
	// A restore that started since the last check takes effect now.
	if c.cfg.dataDir != "" {
		if restoring, why := snapshot.RestoreState(c.cfg.dataDir); restoring {
			v.Healthy, v.Status, v.Reason = false, "restoring", why
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if v.Healthy {
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	if r.Method != http.MethodHead {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
	}
}
