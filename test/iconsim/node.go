package iconsim

import (
	"context"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Faults changes a node's behaviour at run time. Nil fields are "not given"
// and keep their current value.
type Faults struct {
	// LagBlocks makes the node see the chain this many blocks behind the tip.
	LagBlocks *int64 `json:"lag_blocks,omitempty"`
	// LatencyMS delays every JSON-RPC answer (and websocket handshake).
	LatencyMS *int64 `json:"latency_ms,omitempty"`
	// SlowMS delays a SlowRate fraction (0..1) of JSON-RPC HTTP requests by
	// this much more: a node with slow moments, as hedged reads are for.
	SlowMS   *int64   `json:"slow_ms,omitempty"`
	SlowRate *float64 `json:"slow_rate,omitempty"`
	// ErrorRate is the fraction (0..1) of JSON-RPC HTTP requests answered
	// with HTTP 500 and a -32603 JSON-RPC error instead of being served.
	ErrorRate *float64 `json:"error_rate,omitempty"`
	// Down resets JSON-RPC connections (TCP RST), refuses new ones the same
	// way and drops websockets; /_sim/* keeps answering.
	Down *bool `json:"down,omitempty"`
	// Stall freezes the node's view height where it is.
	Stall *bool `json:"stall,omitempty"`
}

// FaultState is the node's current faults, all fields set.
type FaultState struct {
	LagBlocks int64   `json:"lag_blocks"`
	LatencyMS int64   `json:"latency_ms"`
	SlowMS    int64   `json:"slow_ms"`
	SlowRate  float64 `json:"slow_rate"`
	ErrorRate float64 `json:"error_rate"`
	Down      bool    `json:"down"`
	Stall     bool    `json:"stall"`
}

// Stats is what GET /_sim/stats answers.
type Stats struct {
	// Total counts JSON-RPC requests served (batch items one by one).
	Total int64 `json:"total"`
	// HTTPRequests counts JSON-RPC HTTP requests (a batch is one): what a
	// proxy's pipelining and micro-batching save the node.
	HTTPRequests int64 `json:"http_requests"`
	// Methods counts per method name; names beyond the first 64 distinct
	// ones are counted under "_other" to bound memory.
	Methods    map[string]int64 `json:"methods"`
	WSSessions int64            `json:"ws_sessions"`
	Height     int64            `json:"height"`
	Faults     FaultState       `json:"faults"`
}

const maxStatMethods = 64

// Node is one simulated goloop node: its own listener, view height and faults.
type Node struct {
	index   int
	cluster *Cluster
	ln      net.Listener
	srv     *http.Server
	url     string

	lag       atomic.Int64
	stalledAt atomic.Int64 // -1 when not stalled
	latency   atomic.Int64 // ms
	slowMS    atomic.Int64
	slowRate  atomic.Uint64 // float64 bits
	errRate   atomic.Uint64
	down      atomic.Bool

	statMu  sync.Mutex
	total   int64
	posts   int64 // JSON-RPC HTTP requests, under statMu
	perMeth map[string]int64

	connMu sync.Mutex
	conns  map[net.Conn]*connInfo
	ws     map[*wsSession]struct{}
}

type connInfo struct {
	c   net.Conn
	sim atomic.Bool // last request on it was /_sim/*: survives "down"
}

type ctxKey struct{}

func newNode(c *Cluster, i int, ln net.Listener) *Node {
	n := &Node{index: i, cluster: c, ln: ln, url: "http://" + ln.Addr().String(),
		perMeth: make(map[string]int64), conns: make(map[net.Conn]*connInfo), ws: make(map[*wsSession]struct{})}
	n.stalledAt.Store(-1)
	n.srv = &http.Server{
		Handler:           n,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ConnContext: func(ctx context.Context, conn net.Conn) context.Context {
			ci := &connInfo{c: conn}
			n.connMu.Lock()
			n.conns[conn] = ci
			n.connMu.Unlock()
			return context.WithValue(ctx, ctxKey{}, ci)
		},
		ConnState: func(conn net.Conn, st http.ConnState) {
			if st != http.StateClosed && st != http.StateHijacked {
				return
			}
			n.connMu.Lock()
			delete(n.conns, conn)
			n.connMu.Unlock()
		},
	}
	return n
}

// URL is the node's base URL ("http://127.0.0.1:PORT").
func (n *Node) URL() string { return n.url }

// Height is the node's view of the chain height.
func (n *Node) Height() int64 {
	v := n.cluster.chain.Height() - n.lag.Load()
	if s := n.stalledAt.Load(); s >= 0 && s < v {
		v = s
	}
	return max(v, 0)
}

// SetFaults applies the given faults; nil fields keep their value.
func (n *Node) SetFaults(f Faults) {
	if f.Stall != nil {
		if *f.Stall {
			n.stalledAt.CompareAndSwap(-1, n.Height())
		} else {
			n.stalledAt.Store(-1)
		}
	}
	if f.LagBlocks != nil {
		n.lag.Store(max(*f.LagBlocks, 0))
	}
	if f.LatencyMS != nil {
		n.latency.Store(max(*f.LatencyMS, 0))
	}
	if f.ErrorRate != nil {
		n.errRate.Store(math.Float64bits(fraction(*f.ErrorRate)))
	}
	if f.SlowMS != nil {
		n.slowMS.Store(max(*f.SlowMS, 0))
	}
	if f.SlowRate != nil {
		n.slowRate.Store(math.Float64bits(fraction(*f.SlowRate)))
	}
	if f.Down != nil {
		n.down.Store(*f.Down)
		if *f.Down {
			n.dropConnections()
		}
	}
}

// fraction clamps r to [0, 1] (NaN: 0).
func fraction(r float64) float64 {
	if math.IsNaN(r) || r < 0 {
		return 0
	}
	return min(r, 1)
}

// Faults returns the node's current faults.
func (n *Node) Faults() FaultState {
	return FaultState{
		LagBlocks: n.lag.Load(), LatencyMS: n.latency.Load(),
		SlowMS: n.slowMS.Load(), SlowRate: math.Float64frombits(n.slowRate.Load()),
		ErrorRate: math.Float64frombits(n.errRate.Load()),
		Down:      n.down.Load(), Stall: n.stalledAt.Load() >= 0,
	}
}

// Stats returns the request counts, open websocket sessions and faults.
func (n *Node) Stats() Stats {
	n.statMu.Lock()
	m := make(map[string]int64, len(n.perMeth))
	for k, v := range n.perMeth {
		m[k] = v
	}
	s := Stats{Total: n.total, HTTPRequests: n.posts, Methods: m}
	n.statMu.Unlock()
	n.connMu.Lock()
	s.WSSessions = int64(len(n.ws))
	n.connMu.Unlock()
	s.Height = n.Height()
	s.Faults = n.Faults()
	return s
}

func (n *Node) count(method string) {
	n.statMu.Lock()
	n.total++
	if _, ok := n.perMeth[method]; !ok && len(n.perMeth) >= maxStatMethods {
		method = "_other"
	}
	n.perMeth[method]++
	n.statMu.Unlock()
}

// dropConnections resets every JSON-RPC connection and websocket of the node.
func (n *Node) dropConnections() {
	n.connMu.Lock()
	var victims []net.Conn
	for _, ci := range n.conns {
		if !ci.sim.Load() {
			victims = append(victims, ci.c)
		}
	}
	for s := range n.ws {
		victims = append(victims, s.conn.NetConn())
	}
	n.connMu.Unlock()
	for _, c := range victims {
		resetConn(c)
	}
}

// resetConn closes with SO_LINGER 0 so the peer sees a TCP reset, as it
// would when a node process dies.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// failDown resets the request's connection instead of answering.
func failDown(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // net/http closes the connection for us
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	resetConn(conn)
}

// injectFaults applies latency and error rate to a JSON-RPC or websocket
// request; it reports false when the request has been dealt with.
func (n *Node) injectFaults(w http.ResponseWriter, r *http.Request) bool {
	if ci, ok := r.Context().Value(ctxKey{}).(*connInfo); ok {
		ci.sim.Store(false)
	}
	if n.down.Load() {
		failDown(w)
		return false
	}
	ms := n.latency.Load()
	if rate := math.Float64frombits(n.slowRate.Load()); rate > 0 && r.Header.Get("Upgrade") == "" && rand.Float64() < rate {
		ms += n.slowMS.Load()
	}
	if ms > 0 {
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false
		}
		if n.down.Load() {
			failDown(w)
			return false
		}
	}
	if rate := math.Float64frombits(n.errRate.Load()); rate > 0 && rand.Float64() < rate {
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","error":{"code":-32603,"message":"InternalError: iconsim injected fault"},"id":null}` + "\n"))
		return false
	}
	return true
}
