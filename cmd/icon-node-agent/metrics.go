package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/icon-edge/icon-edge/snapshot"
	"github.com/icon-edge/icon-edge/version"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// agentMetrics is the agent's own registry.
type agentMetrics struct {
	reg                                      *prometheus.Registry
	healthy, local, ref, lag, sinceBlock, up prometheus.Gauge
	latency                                  prometheus.Histogram
	checks                                   *prometheus.CounterVec
	refUp                                    *prometheus.GaugeVec
}

func newAgentMetrics(cfg healthConfig) *agentMetrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "icon_node_agent_" + name, Help: help})
	}
	m := &agentMetrics{
		reg:        prometheus.NewRegistry(),
		healthy:    g("healthy", "1 when /health answers 200"),
		local:      g("local_height", "last height the local node reported"),
		ref:        g("reference_height", "highest height among the reachable references"),
		lag:        g("lag_blocks", "reference height minus local height (0 when ahead)"),
		sinceBlock: g("seconds_since_last_block", "seconds since the local height last advanced"),
		up:         g("node_up", "1 when the local node answered icx_getLastBlock"),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "icon_node_agent_rpc_latency_seconds",
			Help: "icx_getLastBlock latency of the local node", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "icon_node_agent_checks_total",
			Help: "health evaluations by raw result (before hysteresis)"}, []string{"result"}),
		refUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "icon_node_agent_reference_up",
			Help: "1 when the reference answered the last check"}, []string{"reference"}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "icon_node_agent_build_info", Help: "1",
		ConstLabels: prometheus.Labels{"version": version.Version, "goversion": runtime.Version()}})
	build.Set(1)
	m.reg.MustRegister(m.healthy, m.local, m.ref, m.lag, m.sinceBlock, m.up, m.latency, m.checks, m.refUp, build)
	if cfg.dataDir != "" {
		m.reg.MustRegister(&statusCollector{dir: cfg.dataDir})
	}
	return m
}

func (m *agentMetrics) observe(v verdict, nodeOK bool, latency time.Duration, pass bool) {
	b := func(x bool) float64 {
		if x {
			return 1
		}
		return 0
	}
	m.healthy.Set(b(v.Healthy))
	m.up.Set(b(nodeOK))
	if nodeOK {
		m.local.Set(float64(v.LocalHeight))
		m.latency.Observe(latency.Seconds())
	}
	m.ref.Set(float64(v.ReferenceHeight))
	m.lag.Set(float64(v.Lag))
	m.sinceBlock.Set(v.SinceLastBlock)
	m.checks.WithLabelValues(map[bool]string{true: "pass", false: "fail"}[pass]).Inc()
	for _, r := range v.References {
		m.refUp.WithLabelValues(r.URL).Set(b(r.Error == ""))
	}
}

// statusCollector exports the restore and snapshot status files at scrape
// time: a restore at boot and an hourly snapshot are short-lived processes,
// the sidecar is what Prometheus scrapes.
type statusCollector struct{ dir string }

var (
	descInProgress = prometheus.NewDesc("icon_node_agent_operation_in_progress", "1 while a restore or snapshot runs (or was interrupted)", []string{"op"}, nil)
	descBytesTotal = prometheus.NewDesc("icon_node_agent_operation_bytes_total", "bytes the last restore or snapshot covers", []string{"op"}, nil)
	descBytesDone  = prometheus.NewDesc("icon_node_agent_operation_bytes_done", "bytes done by the last restore or snapshot", []string{"op"}, nil)
	descTransfer   = prometheus.NewDesc("icon_node_agent_operation_bytes_transferred", "bytes moved over the network by the last run", []string{"op"}, nil)
	descFinished   = prometheus.NewDesc("icon_node_agent_operation_last_success_timestamp_seconds", "when the last successful restore or snapshot finished", []string{"op"}, nil)
	descFailed     = prometheus.NewDesc("icon_node_agent_operation_failed", "1 when the last restore or snapshot failed", []string{"op"}, nil)
)

func (s *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInProgress, descBytesTotal, descBytesDone, descTransfer, descFinished, descFailed} {
		ch <- d
	}
}

func (s *statusCollector) Collect(ch chan<- prometheus.Metric) {
	for _, op := range []string{"restore", "snapshot"} {
		st, err := snapshot.ReadStatus(s.dir, op)
		if err != nil || st == nil {
			continue
		}
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, op)
		}
		running := 0.0
		if st.State == snapshot.StateRunning {
			running = 1
		}
		g(descInProgress, running)
		g(descBytesTotal, float64(st.BytesTotal))
		g(descBytesDone, float64(st.BytesDone))
		g(descTransfer, float64(st.BytesTransferred))
		g(descFailed, map[bool]float64{true: 1, false: 0}[st.State == snapshot.StateFailed])
		if st.State == snapshot.StateDone && st.Finished != nil {
			g(descFinished, float64(st.Finished.Unix()))
		}
	}
}

// goloopGatherer re-exports the interesting part of the node's own /metrics
// (goloop serves it on the RPC port without auth), so that port need not be
// scraped or exposed.
type goloopGatherer struct {
	url      string
	prefixes []string
	client   *http.Client
	up       prometheus.Gauge
}

// goloopMetricsURL is <scheme>://<host>/metrics of the node's RPC URL.
func goloopMetricsURL(node string) (string, error) {
	u, err := url.Parse(node)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("node URL %q", node)
	}
	return u.Scheme + "://" + u.Host + "/metrics", nil
}

func (g *goloopGatherer) Gather() ([]*dto.MetricFamily, error) {
	fams, err := g.fetch()
	if err != nil {
		g.up.Set(0)
		return nil, nil // the agent's own metrics still go out; goloop_scrape_up says why not these
	}
	g.up.Set(1)
	return fams, nil
}

func (g *goloopGatherer) fetch() ([]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), g.client.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	all, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	var out []*dto.MetricFamily
	for name, f := range all {
		for _, pre := range g.prefixes {
			if strings.HasPrefix(name, pre) {
				out = append(out, f)
				break
			}
		}
	}
	return out, nil
}
