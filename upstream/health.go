package upstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// HealthConfig tunes active probing and passive ejection.
type HealthConfig struct {
	// ProbeInterval is how often each node is asked for its last block.
	ProbeInterval time.Duration
	// ProbeTimeout bounds one probe.
	ProbeTimeout time.Duration
	// EjectAfter consecutive failed probes eject a node (a dead node).
	EjectAfter int
	// Outlier detection on live traffic: a node whose failure rate over
	// OutlierWindow reaches OutlierFailureRate (with at least
	// OutlierMinRequests requests) is ejected, unless MaxEjectedPercent of
	// the fleet is out already.
	OutlierWindow      time.Duration
	OutlierFailureRate float64
	OutlierMinRequests int
	MaxEjectedPercent  int
	// RecoverAfter consecutive good probes bring an ejected node back.
	RecoverAfter int
	// BackoffMin and BackoffMax bound how long an ejected node waits before it
	// is probed again; each ejection in a row doubles the wait.
	BackoffMin, BackoffMax time.Duration
}

func (c *HealthConfig) setDefaults() {
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = 500 * time.Millisecond
	}
	if c.ProbeTimeout <= 0 {
		// Longer than a slow node takes: slowness is scored down by latency,
		// not punished with ejection.
		c.ProbeTimeout = 5 * time.Second
	}
	if c.OutlierWindow <= 0 {
		c.OutlierWindow = 10 * time.Second
	}
	if c.OutlierFailureRate <= 0 {
		c.OutlierFailureRate = 0.5
	}
	if c.OutlierMinRequests <= 0 {
		c.OutlierMinRequests = 20
	}
	if c.MaxEjectedPercent <= 0 {
		c.MaxEjectedPercent = 50
	}
	if c.EjectAfter <= 0 {
		c.EjectAfter = 3
	}
	if c.RecoverAfter <= 0 {
		c.RecoverAfter = 2
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = time.Second
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = 30 * time.Second
		if c.BackoffMax < c.BackoffMin {
			c.BackoffMax = c.BackoffMin
		}
	}
}

var probeBody = []byte(`{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`)

// errProbeAnswer marks an answer that was not a usable last block.
var errProbeAnswer = errors.New("probe: unusable icx_getLastBlock answer")

// probe asks the node for its last block and returns the height.
func probe(ctx context.Context, n *Node, path string, timeout time.Duration) (int64, time.Duration, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(n.url + path)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.SetBodyRaw(probeBody)
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	start := time.Now()
	// Probes have connections of their own: traffic that fills the node's
	// pool (long waits, a burst) must not make a healthy node look dead.
	err := n.probeClient.DoDeadline(req, resp, deadline)
	took := time.Since(start)
	if err != nil {
		return 0, took, err
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return 0, took, fmt.Errorf("%w: HTTP %d", errProbeAnswer, resp.StatusCode())
	}
	v, err := fastjson.ParseBytes(resp.Body())
	if err != nil {
		return 0, took, fmt.Errorf("%w: %v", errProbeAnswer, err)
	}
	hv := v.Get("result", "height")
	if hv == nil || hv.Type() != fastjson.TypeNumber {
		return 0, took, fmt.Errorf("%w: no result.height", errProbeAnswer)
	}
	h, err := hv.Int64()
	if err != nil || h < 0 {
		return 0, took, fmt.Errorf("%w: bad height", errProbeAnswer)
	}
	return h, took, nil
}

// probeDue says whether an ejected node has waited out its backoff.
func (n *Node) probeDue(now time.Time) bool {
	if n.State() != StateEjected {
		return true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return !now.Before(n.ejectedUntil)
}

// markSuccess records a good probe or request. It returns true when the node
// became healthy because of it.
func (n *Node) markSuccess(fromProbe bool, hc *HealthConfig) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.consecFails = 0
	n.errRate -= ewmaWeight * n.errRate
	if fromProbe {
		n.lastProbe = time.Now()
	}
	switch n.State() {
	case StateStarting:
		if fromProbe {
			n.state.Store(int32(StateHealthy))
			return true
		}
	case StateEjected:
		if !fromProbe {
			return false
		}
		n.goodProbes++
		if n.goodProbes >= hc.RecoverAfter {
			n.goodProbes = 0
			n.state.Store(int32(StateHealthy))
			return true
		}
	}
	return false
}

// markFailure records a failed probe. It returns true when the node was
// ejected because of it: after EjectAfter probes in a row that got no
// answer, or three times as many that got an error answer (a node failing
// a share of requests keeps serving the rest; retries cover the others).
func (n *Node) markFailure(err error, answered bool, hc *HealthConfig, now time.Time) bool {
	n.failures.Add(1)
	n.mu.Lock()
	n.consecFails++
	n.goodProbes = 0
	n.errRate += ewmaWeight * (1 - n.errRate)
	if err != nil {
		n.lastError = err.Error()
	}
	fails := n.consecFails
	if n.State() == StateEjected {
		n.backoff = min(2*n.backoff, hc.BackoffMax)
		n.ejectedUntil = now.Add(n.backoff)
	}
	n.mu.Unlock()
	limit := hc.EjectAfter
	if answered {
		limit *= 3
	}
	if fails < limit {
		return false
	}
	return n.eject(hc, now, true)
}
