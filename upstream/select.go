package upstream

import (
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// Pick chooses the node for a request: among healthy nodes that meet need and
// are not in tried, the better of two random ones by latency × (in-flight+1)
// ("power of two choices": near-best choices without herding every request
// onto the one node that looked fastest a moment ago).
//
// A read pinned at or above the tip that no node qualifies for goes to an
// in-sync node: the block may have been made since the last probe, and the
// node that was at the tip may just have left. Pick returns nil when nothing
// qualifies.
func (p *Pool) Pick(need Need, tried []*Node) *Node {
	nodes := *p.nodes.Load()
	tip := p.tip.Load()
	var buf [16]*Node
	eligible := buf[:0]
	for _, n := range nodes {
		if p.qualifies(n, need, tip) && !slices.Contains(tried, n) {
			eligible = append(eligible, n)
		}
	}
	if len(eligible) == 0 && need.MinHeight > 0 && need.MinHeight >= tip {
		return p.Pick(Need{Latest: true}, tried)
	}
	switch len(eligible) {
	case 0:
		return nil
	case 1:
		return eligible[0]
	}
	i := rand.IntN(len(eligible))
	j := rand.IntN(len(eligible) - 1)
	if j >= i {
		j++
	}
	a, b := eligible[i], eligible[j]
	if b.score() < a.score() {
		return b
	}
	return a
}

func (p *Pool) qualifies(n *Node, need Need, tip int64) bool {
	if n.State() != StateHealthy {
		return false
	}
	h := n.Height()
	if h < 0 || h < need.MinHeight {
		return false
	}
	return !need.Latest || tip-h <= p.cfg.MaxLag
}

// Outcome classifies what happened to one attempt on a node.
type Outcome int

const (
	// OutcomeOK: the node answered (any HTTP status below 500).
	OutcomeOK Outcome = iota
	// OutcomeDial: no connection could be made; the request never left the edge.
	OutcomeDial
	// OutcomeConn: the connection broke; the node may have seen the request.
	OutcomeConn
	// OutcomeTimeout: no answer before the deadline; the node may have seen it.
	OutcomeTimeout
	// OutcomeHTTP5xx: the node answered with a server error.
	OutcomeHTTP5xx
	// OutcomeShed: the request was not sent: the node was at its rate cap
	// or connection limit, or no time was left for the attempt.
	OutcomeShed
)

var outcomeNames = [...]string{"ok", "dial", "conn", "timeout", "http_5xx", "shed"}

func (o Outcome) String() string { return outcomeNames[o] }

// Sent reports whether the node may have received the request: only a failed
// dial or a shed request proves it did not, which makes resending a write safe.
func (o Outcome) Sent() bool { return o != OutcomeDial && o != OutcomeShed }

// Errors of attempts that never left the edge.
var (
	errShed    = errors.New("node at its request-rate cap")
	errExpired = errors.New("no time left for another attempt")
)

// Attempt describes one request to a node beyond its bytes.
type Attempt struct {
	// Deadline bounds the attempt.
	Deadline time.Time
	// Long marks a call the node holds open on purpose (wait methods): its
	// duration says nothing about the node's speed, and running out of time
	// says nothing about its health.
	Long bool
}

// Do sends req to n and books the result into the node's health: latency on
// success, a failure (which may eject it) otherwise. Attempts that never
// leave the edge (shed at the node's rate cap or its connection limit, or
// started with no time left) book nothing: the node is busy, not broken.
func (p *Pool) Do(n *Node, req *fasthttp.Request, resp *fasthttp.Response, a Attempt) (Outcome, error) {
	deadline := a.Deadline
	if !time.Now().Before(deadline) {
		n.outcomes[OutcomeShed].Add(1)
		return OutcomeShed, errExpired
	}
	if n.guard != nil && !n.guard.Acquire(deadline) {
		n.outcomes[OutcomeShed].Add(1)
		return OutcomeShed, errShed
	}
	// The same request may go to several nodes in turn; each gets its own Host.
	req.SetHost(n.client.Addr)
	n.inflight.Add(1)
	n.requests.Add(1)
	start := time.Now()
	err := n.client.DoDeadline(req, resp, deadline)
	took := time.Since(start)
	n.inflight.Add(-1)
	outcome := classify(err, resp)
	switch {
	case outcome == OutcomeShed:
	case outcome == OutcomeOK:
		if !a.Long {
			n.observeLatency(took)
		}
		n.markSuccess(false, &p.cfg.Health)
	case outcome == OutcomeTimeout && a.Long:
		// The client's own wait ran out; the node did nothing wrong.
	default:
		if outcome == OutcomeTimeout {
			// A timeout says the node is slow; the EWMA must learn it even
			// though no answer came, or selection keeps preferring it.
			n.observeLatency(took)
		}
		if err == nil {
			err = errors.New("HTTP " + strconv.Itoa(resp.StatusCode()))
		}
		if n.markFailure(err, &p.cfg.Health, time.Now()) {
			p.log.Warn("upstream node ejected after failed requests", "upstream", n.url, "err", err)
			p.updateTip()
		}
	}
	n.outcomes[outcome].Add(1)
	return outcome, err
}

func classify(err error, resp *fasthttp.Response) Outcome {
	if err == nil {
		if resp.StatusCode() >= 500 {
			return OutcomeHTTP5xx
		}
		return OutcomeOK
	}
	if errors.Is(err, fasthttp.ErrTimeout) {
		return OutcomeTimeout
	}
	if errors.Is(err, fasthttp.ErrNoFreeConns) {
		return OutcomeShed // every connection to the node is busy: nothing was sent
	}
	var opErr *net.OpError
	if errors.Is(err, fasthttp.ErrDialTimeout) || errors.As(err, &opErr) && opErr.Op == "dial" {
		return OutcomeDial
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return OutcomeTimeout
	}
	return OutcomeConn
}
