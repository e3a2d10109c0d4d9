package upstream

import (
	"github.com/icon-edge/icon-edge/ratelimit"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// State is where a node stands in its health life cycle.
type State int32

const (
	// StateStarting: known but not yet probed successfully; gets no traffic.
	StateStarting State = iota
	// StateHealthy: probes pass; eligible for traffic subject to its height.
	StateHealthy
	// StateEjected: too many consecutive failures; waits out a backoff, then
	// must pass probes again before it gets traffic.
	StateEjected
	// StateDraining: its source no longer lists it; in-flight requests finish,
	// no new ones start.
	StateDraining
)

func (s State) String() string {
	switch s {
	case StateStarting:
		return "starting"
	case StateHealthy:
		return "healthy"
	case StateEjected:
		return "ejected"
	case StateDraining:
		return "draining"
	}
	return "unknown"
}

// ewmaWeight is the weight of a new latency sample. 0.2 follows a change within
// a handful of requests while smoothing single outliers.
const ewmaWeight = 0.2

// Node is one upstream ICON node and everything the edge knows about it. The
// fields read on every request are atomics; the failure bookkeeping, touched
// only on errors and probes, sits behind a mutex.
type Node struct {
	url    string // base URL without path, e.g. http://10.0.0.5:9000
	client *fasthttp.HostClient
	// pipe carries short reads pipelined (nil: off); pipeline.go.
	pipe *pipeline
	// probeClient is the probes' own small connection pool.
	probeClient *fasthttp.HostClient
	guard       atomic.Pointer[ratelimit.UpstreamGuard] // nil: no rate cap

	state    atomic.Int32
	height   atomic.Int64 // -1 until the first probe answers
	inflight atomic.Int64
	waits    atomic.Int64  // wait calls open on the node
	ewma     atomic.Uint64 // float64 bits, seconds

	requests atomic.Uint64
	failures atomic.Uint64
	outcomes [len(outcomeNames)]atomic.Uint64

	mu           sync.Mutex
	consecFails  int
	goodProbes   int
	ejectedUntil time.Time
	backoff      time.Duration
	lastError    string
	lastProbe    time.Time
	errRate      float64 // EWMA of failure (1) / success (0)
	window       outlierWindow
	// ejectedByProbe: the node failed its probes (down), not only live
	// requests (up but erroring); only the latter serve in panic mode.
	ejectedByProbe bool
}

func newNode(url string, client, probeClient *fasthttp.HostClient) *Node {
	n := &Node{url: url, client: client, probeClient: probeClient}
	n.height.Store(-1)
	return n
}

// URL is the node's base URL, as configured or resolved.
func (n *Node) URL() string { return n.url }

// Client is the keep-alive connection pool to this node.
func (n *Node) Client() *fasthttp.HostClient { return n.client }

// State is the node's current health state.
func (n *Node) State() State { return State(n.state.Load()) }

// Height is the last block height the node reported, -1 if unknown.
func (n *Node) Height() int64 { return n.height.Load() }

// InFlight is the number of requests the edge has open on the node.
func (n *Node) InFlight() int64 { return n.inflight.Load() }

// Latency is the smoothed request latency; zero before the first sample.
func (n *Node) Latency() time.Duration {
	return time.Duration(math.Float64frombits(n.ewma.Load()) * float64(time.Second))
}

// setState changes the state under the node's lock, so it cannot race with
// the health bookkeeping that also decides states.
func (n *Node) setState(s State) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.state.Store(int32(s))
}

// observeHeight raises (or lowers, after a node resets) the node's height.
func (n *Node) observeHeight(h int64) { n.height.Store(h) }

func (n *Node) observeLatency(d time.Duration) {
	sample := d.Seconds()
	for {
		old := n.ewma.Load()
		cur := math.Float64frombits(old)
		next := sample
		if cur != 0 {
			next = cur + ewmaWeight*(sample-cur)
		}
		if n.ewma.CompareAndSwap(old, math.Float64bits(next)) {
			return
		}
	}
}

// score orders nodes for selection: smoothed latency scaled by load, so a fast
// node that is already busy loses to a slightly slower idle one.
func (n *Node) score() float64 {
	lat := math.Float64frombits(n.ewma.Load())
	if lat == 0 {
		lat = 0.001
	}
	return lat * float64(n.inflight.Load()+1)
}

// ErrorRate is the smoothed share of failed requests and probes (0..1).
func (n *Node) ErrorRate() float64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.errRate
}

// LastError is the text of the node's most recent failure, for operators.
func (n *Node) LastError() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lastError
}
