package upstream

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports per-node state at scrape time. Reading the atomics when
// Prometheus asks keeps the request path free of metric updates, and nodes
// that leave the pool leave the metrics with it.
type Collector struct {
	pool *Pool

	height, lag, inSync, up, latency, inflight, requests *prometheus.Desc
	tip, inSyncCount, count                              *prometheus.Desc
}

// NewCollector describes the pool's metrics; register it on a registry.
func NewCollector(p *Pool) *Collector {
	l := []string{"upstream"}
	return &Collector{
		pool:        p,
		height:      prometheus.NewDesc("icon_edge_upstream_height", "Last block height the node reported.", l, nil),
		lag:         prometheus.NewDesc("icon_edge_upstream_lag_blocks", "Blocks the node is behind the chain tip.", l, nil),
		inSync:      prometheus.NewDesc("icon_edge_upstream_in_sync", "1 when the node may serve latest-state reads.", l, nil),
		up:          prometheus.NewDesc("icon_edge_upstream_up", "1 when the node is healthy (probed and not ejected).", l, nil),
		latency:     prometheus.NewDesc("icon_edge_upstream_latency_seconds", "Smoothed (EWMA) request latency to the node.", l, nil),
		inflight:    prometheus.NewDesc("icon_edge_upstream_inflight", "Requests open on the node.", l, nil),
		requests:    prometheus.NewDesc("icon_edge_upstream_requests_total", "Attempts sent to the node by outcome.", []string{"upstream", "outcome"}, nil),
		tip:         prometheus.NewDesc("icon_edge_chain_tip_height", "Highest block height among healthy nodes.", nil, nil),
		inSyncCount: prometheus.NewDesc("icon_edge_in_sync_upstreams", "Nodes that may serve latest-state reads.", nil, nil),
		count:       prometheus.NewDesc("icon_edge_upstreams", "Nodes the edge knows, in any state.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.height, c.lag, c.inSync, c.up, c.latency, c.inflight, c.requests, c.tip, c.inSyncCount, c.count} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	p := c.pool
	tip := p.Tip()
	nodes := p.Nodes()
	synced := 0
	for _, n := range nodes {
		u := n.URL()
		h := n.Height()
		in := p.InSync(n)
		if in {
			synced++
		}
		ch <- prometheus.MustNewConstMetric(c.height, prometheus.GaugeValue, float64(h), u)
		if h >= 0 && tip >= 0 {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(max(tip-h, 0)), u)
		}
		ch <- prometheus.MustNewConstMetric(c.inSync, prometheus.GaugeValue, b2f(in), u)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, b2f(n.State() == StateHealthy), u)
		ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, n.Latency().Seconds(), u)
		ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(n.InFlight()), u)
		for o := range n.outcomes {
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(n.outcomes[o].Load()), u, Outcome(o).String())
		}
	}
	ch <- prometheus.MustNewConstMetric(c.tip, prometheus.GaugeValue, float64(tip))
	ch <- prometheus.MustNewConstMetric(c.inSyncCount, prometheus.GaugeValue, float64(synced))
	ch <- prometheus.MustNewConstMetric(c.count, prometheus.GaugeValue, float64(len(nodes)))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Status is one node's state for /status.json and the status page.
type Status struct {
	URL       string  `json:"url"`
	State     string  `json:"state"`
	Height    int64   `json:"height"`
	Lag       int64   `json:"lag"`
	InSync    bool    `json:"in_sync"`
	LatencyMS float64 `json:"latency_ms"`
	InFlight  int64   `json:"in_flight"`
	ErrorRate float64 `json:"error_rate"`
	Requests  uint64  `json:"requests"`
	Failures  uint64  `json:"failures"`
	LastError string  `json:"last_error,omitempty"`
}

// Snapshot reports every node's state.
func (p *Pool) Snapshot() []Status {
	tip := p.Tip()
	nodes := p.Nodes()
	out := make([]Status, 0, len(nodes))
	for _, n := range nodes {
		lag := int64(-1)
		if n.Height() >= 0 && tip >= 0 {
			lag = max(tip-n.Height(), 0)
		}
		out = append(out, Status{
			URL: n.URL(), State: n.State().String(), Height: n.Height(), Lag: lag, InSync: p.InSync(n),
			LatencyMS: float64(n.Latency().Microseconds()) / 1000, InFlight: n.InFlight(),
			ErrorRate: n.ErrorRate(), Requests: n.requests.Load(), Failures: n.failures.Load(), LastError: n.LastError(),
		})
	}
	return out
}
