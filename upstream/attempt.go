package upstream

import (
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// Policy is how one request is sent: the failure rules of a method, as data
// (routing's method table decides them, the proxy fills them in). Every
// request to a node — reads, writes, chunks of a batch, tx-landed checks —
// goes through Send with one.
type Policy struct {
	// Retries bounds the extra attempts on other nodes.
	Retries int
	// AttemptTimeout bounds one attempt so a stuck node leaves time to try
	// another (0: each attempt may use the whole deadline).
	AttemptTimeout time.Duration
	// NotFound says whether a -31004 answer is worth asking another node.
	NotFound NotFoundRule
	// SentOnce: the request changes state (a write). Another node is tried
	// only when nothing was sent; once the node may have it, Send stops and
	// reports Uncertain instead of risking a second delivery.
	SentOnce bool
	// Long: the node holds the call open on purpose (wait methods), so its
	// duration says nothing about the node's speed, running out of time says
	// nothing about its health, and the attempt gets the whole deadline.
	Long bool
	// Hedge sends a slow first attempt's request to a second node as well
	// (hedge.go). Ignored for SentOnce and Long requests: a write must never
	// arrive twice, and a wait is slow on purpose.
	Hedge HedgePolicy
}

// NotFoundRule says what a -31004 ("not found") answer means.
type NotFoundRule uint8

const (
	// NotFoundIsAnswer: the answer stands.
	NotFoundIsAnswer NotFoundRule = iota
	// NotFoundAskAhead: ask another node when the answering one was behind
	// the tip (it may lack the block yet). A node at the tip speaks for the
	// chain, so unknown hashes cost one node request, not one per node.
	NotFoundAskAhead
	// NotFoundAskAny: ask another node whatever its height (a transaction
	// that just arrived at one node may not have reached the others).
	NotFoundAskAny
)

// Result is what Send did.
type Result struct {
	// Outcome of the last attempt (OutcomeOK also when a saved not-found
	// answer is what resp holds).
	Outcome Outcome
	// Err is the last attempt's error, for logs.
	Err error
	// Node is the URL of the last node tried, "" when none qualified.
	Node string
	// Tried counts the nodes tried; Retries the attempts after the first
	// (a hedge is not one).
	Tried, Retries int
	// Hedged: the first attempt's request went to a second node as well.
	Hedged bool
	// Uncertain: a SentOnce request may have reached Node but no answer
	// came. resp holds nothing useful; the caller must settle it.
	Uncertain bool
}

// Answered reports whether resp holds a node's answer (a JSON-RPC answer, or
// the node's own 5xx) rather than nothing.
func (r Result) Answered() bool {
	return r.Tried > 0 && !r.Uncertain && (r.Outcome == OutcomeOK || r.Outcome == OutcomeHTTP5xx)
}

// Send delivers req to a node that meets need and leaves the answer in resp,
// following pol: reads move on after a connection error, timeout, 5xx or a
// not-found worth a second opinion; writes move on only when nothing was
// sent. It never runs past deadline.
func (p *Pool) Send(need Need, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, pol Policy) Result {
	var triedBuf [4]*Node
	tried := triedBuf[:0]
	var saved *fasthttp.Response // a not-found answer, kept in case no other node knows better
	defer func() {
		if saved != nil {
			fasthttp.ReleaseResponse(saved)
		}
	}()
	var res Result
	hedge := !pol.SentOnce && !pol.Long && pol.Hedge.On()
	if hedge {
		p.earnHedge(pol.Hedge.MaxShare)
	}
	for attempt := 0; ; attempt++ {
		n := p.Pick(need, tried)
		if n == nil {
			break
		}
		tried = append(tried, n)
		res.Node, res.Tried = n.url, len(tried)
		now := time.Now() // the attempt's start as well: one clock read
		a := Attempt{Deadline: deadline, Start: now, Long: pol.Long, Pipelined: !pol.Long && !pol.SentOnce}
		if !pol.Long && pol.AttemptTimeout > 0 {
			a.Deadline = earlier(deadline, now.Add(pol.AttemptTimeout))
		}
		if hedge && attempt == 0 {
			var second *Node
			res.Outcome, res.Err, n, second = p.sendHedged(n, need, tried, req, resp, a, &pol, deadline)
			if second != nil {
				tried = append(tried, second)
				res.Hedged = true
				attempt++ // the hedge used one of the retries
			}
			res.Node, res.Tried = n.url, len(tried)
		} else {
			res.Outcome, res.Err = p.Do(n, req, resp, a)
		}
		// Whether another attempt may follow; the clock is read only when
		// the answer leaves that question open.
		more := func() bool { return attempt < pol.Retries && time.Now().Before(deadline) }
		switch {
		case res.Outcome == OutcomeOK:
			if !p.askAnother(pol.NotFound, n, resp) || !more() {
				return res
			}
			if saved == nil {
				saved = fasthttp.AcquireResponse()
				resp.CopyTo(saved)
			}
			p.retried("not_found")
		case pol.SentOnce && res.Outcome == OutcomeHTTP5xx:
			return res // the node refused it with an answer of its own
		case pol.SentOnce && res.Outcome.Sent():
			res.Uncertain = true
			return res
		case !more():
			if saved != nil {
				saved.CopyTo(resp)
				res.Outcome = OutcomeOK
			}
			return res
		case pol.SentOnce:
			p.retried("write_not_sent")
		default:
			p.retried(res.Outcome.String())
		}
		res.Retries++
	}
	if saved != nil {
		saved.CopyTo(resp)
		res.Outcome = OutcomeOK
	}
	return res
}

// askAnother decides whether an answer from n is worth a second opinion.
func (p *Pool) askAnother(rule NotFoundRule, n *Node, resp *fasthttp.Response) bool {
	switch rule {
	case NotFoundAskAhead:
		return n.Height() < p.Tip() && notFound(resp)
	case NotFoundAskAny:
		return notFound(resp)
	}
	return false
}

// notFound reports a -31004 answer. goloop answers every JSON-RPC error with
// HTTP 400, so a 200 is never parsed.
func notFound(resp *fasthttp.Response) bool {
	return resp.StatusCode() != fasthttp.StatusOK &&
		fastjson.GetInt(resp.Body(), "error", "code") == icon.CodeNotFound
}

func (p *Pool) retried(reason string) {
	if p.retries != nil {
		p.retries.WithLabelValues(reason).Inc()
	}
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
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
	// ErrWaitBudget: the node already holds its share of waiting calls.
	ErrWaitBudget = errors.New("node at its budget of waiting calls")
	errShed       = errors.New("node at its request-rate cap")
	errExpired    = errors.New("no time left for another attempt")
)

// Attempt describes one request to a node beyond its bytes.
type Attempt struct {
	// Deadline bounds the attempt.
	Deadline time.Time
	// Start is when the attempt began, if the caller has just read the
	// clock (zero: Do reads it).
	Start time.Time
	// Long marks a call the node holds open on purpose (wait methods): its
	// duration says nothing about the node's speed, and running out of time
	// says nothing about its health.
	Long bool
	// Pipelined: a short read, which may share a pipelined connection
	// (pipeline.go). Never set for writes or waits.
	Pipelined bool
}

// Do sends req to n and books the result into the node's health: latency on
// success, a failure (which may eject it) otherwise. Attempts that never
// leave the edge (shed at the node's rate cap or its connection limit, or
// started with no time left) book nothing: the node is busy, not broken.
func (p *Pool) Do(n *Node, req *fasthttp.Request, resp *fasthttp.Response, a Attempt) (Outcome, error) {
	deadline := a.Deadline
	start := a.Start // clock reads show in the profile
	if start.IsZero() {
		start = time.Now()
	}
	if !start.Before(deadline) {
		n.outcomes[OutcomeShed].Add(1)
		return OutcomeShed, errExpired
	}
	if g := n.guard.Load(); g != nil && !g.Acquire(deadline) {
		n.outcomes[OutcomeShed].Add(1)
		return OutcomeShed, errShed
	}
	cfg := p.conf()
	if a.Long && cfg.MaxWaitsPerNode > 0 {
		// Waits hold a connection for seconds: they get a share of the node's
		// connections, so they can never crowd out quick reads.
		if n.waits.Add(1) > int64(cfg.MaxWaitsPerNode) {
			n.waits.Add(-1)
			n.outcomes[OutcomeShed].Add(1)
			return OutcomeShed, ErrWaitBudget
		}
		defer n.waits.Add(-1)
	}
	// The same request may go to several nodes in turn; each gets its own Host.
	req.SetHost(n.client.Addr)
	n.inflight.Add(1)
	n.requests.Add(1)
	err, sent := n.pipelined(a, req, resp, deadline)
	if !sent {
		err = n.client.DoDeadline(req, resp, deadline)
	}
	end := time.Now()
	took := end.Sub(start)
	n.inflight.Add(-1)
	outcome := classify(err, resp)
	switch {
	case outcome == OutcomeShed:
	case outcome == OutcomeOK:
		if !a.Long {
			n.observeLatency(took)
		}
		n.markSuccess(false, &cfg.Health)
		p.observeLive(n, false, nil, end)
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
		if p.observeLive(n, true, err, end) {
			p.log.Warn("upstream node ejected: its failure rate on live requests is over the threshold",
				"upstream", n.url, "err", err, "window", cfg.Health.OutlierWindow.String())
			p.shareEjection(n, false)
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
