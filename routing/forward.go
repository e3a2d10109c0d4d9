package routing

import (
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// HopHeader marks a request one edge forwarded to another region. A request
// that carries it is never forwarded again, so two regions with every node
// down answer 503 at once instead of passing a request back and forth.
const HopHeader = "X-Icon-Edge-Hop"

// Forwarder sends a request this region cannot serve to the first healthy
// peer region, once, and relays the peer's answer unchanged.
type Forwarder struct {
	self    string
	peers   *PeerPoller
	mu      sync.Mutex
	clients map[string]*fasthttp.HostClient // by peer base URL
	results *prometheus.CounterVec
}

// NewForwarder forwards to peers's healthy regions in order of preference.
// It registers icon_edge_region_failover_total{peer,result} on reg (nil: not registered).
func NewForwarder(self string, peers *PeerPoller, reg prometheus.Registerer) (*Forwarder, error) {
	f := &Forwarder{self: self, peers: peers, clients: map[string]*fasthttp.HostClient{},
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "icon_edge_region_failover_total",
			Help: "Requests forwarded to a peer region because no local node could serve them, by peer and result (ok, error, no_peer).",
		}, []string{"peer", "result"})}
	if reg != nil {
		if err := reg.Register(f.results); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Forward sends req (path, headers and body as the node would get them) to
// the first healthy peer and leaves the peer's answer in resp. It reports
// the peer's name, and false when no peer was healthy or the peer could not
// be reached: then resp holds nothing useful.
func (f *Forwarder) Forward(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) (string, bool) {
	peer, ok := f.peers.FirstHealthy()
	if !ok {
		peer, ok = f.recentlyReady()
	}
	if !ok {
		f.results.WithLabelValues("", "no_peer").Inc()
		return "", false
	}
	hc, err := f.client(peer.URL)
	if err != nil {
		f.results.WithLabelValues(peer.Name, "error").Inc()
		return peer.Name, false
	}
	req.Header.Set(HopHeader, f.self)
	req.SetHost(hc.Addr)
	if err := hc.DoDeadline(req, resp, deadline); err != nil {
		f.results.WithLabelValues(peer.Name, "error").Inc()
		return peer.Name, false
	}
	f.results.WithLabelValues(peer.Name, "ok").Inc()
	return peer.Name, true
}

// lateAnswer is how old a peer's last "ready" may be and still be tried when
// no peer is fresh: a poll delayed on a busy edge must not turn a request a
// peer could serve into a failure (the peer answers 503 itself if it cannot,
// and never forwards a hopped request on).
const lateAnswer = 30 * time.Second

// recentlyReady is the first peer whose last answer, though stale, said ready.
func (f *Forwarder) recentlyReady() (PeerState, bool) {
	for _, p := range f.peers.Peers() {
		if p.HasSummary && p.Summary.Ready && p.Age <= lateAnswer {
			return p, true
		}
	}
	return PeerState{}, false
}

func (f *Forwarder) client(base string) (*fasthttp.HostClient, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if hc := f.clients[base]; hc != nil {
		return hc, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("peer URL %s: give scheme://host[:port] without a path", base)
	}
	isTLS := u.Scheme == "https"
	addr := u.Host
	if u.Port() == "" {
		addr += map[bool]string{true: ":443", false: ":80"}[isTLS]
	}
	hc := &fasthttp.HostClient{Addr: addr, IsTLS: isTLS, MaxConns: 256, MaxIdleConnDuration: 30 * time.Second,
		NoDefaultUserAgentHeader: true, DisableHeaderNamesNormalizing: true,
		// At most once: a write must never reach two regions.
		RetryIfErr: func(*fasthttp.Request, int, error) (bool, bool) { return false, false }}
	f.clients[base] = hc
	return hc, nil
}
