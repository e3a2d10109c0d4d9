package proxy

import (
	"fmt"
	"github.com/icon-edge/icon-edge/version"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// durationBuckets span cache hits (tens of µs) to wait methods (tens of s).
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	http      *prometheus.CounterVec
	settled   *prometheus.CounterVec
	invalid   *methodMetrics
	httpCache [600]atomic.Pointer[prometheus.Counter]
}

// methodMetrics holds one method's metric children, resolved once so the
// request path never builds label strings.
type methodMetrics struct {
	name   string
	ok     prometheus.Counter
	dur    prometheus.Observer
	parent *metrics
	errs   sync.Map // int code → prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "icon_edge_requests_total",
			Help: "JSON-RPC calls answered (batch items each) by method and JSON-RPC code (0 = success).",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "icon_edge_request_duration_seconds",
			Help:    "Time from receiving a JSON-RPC call to answering it, by method.",
			Buckets: durationBuckets,
		}, []string{"method"}),
		http: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "icon_edge_http_responses_total",
			Help: "HTTP responses by status code.",
		}, []string{"status"}),
		settled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "icon_edge_uncertain_writes_total",
			Help: "Writes whose node failed after the request may have arrived, by what the edge then learned (arrived|unknown).",
		}, []string{"result"}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "icon_edge_build_info",
		Help:        "Build of the running edge (always 1).",
		ConstLabels: prometheus.Labels{"version": version.Version, "goversion": runtime.Version()},
	})
	build.Set(1)
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.http, m.settled, build} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("proxy: registering metrics: %w", err)
		}
	}
	m.invalid = m.forMethod("invalid")
	return m, nil
}

func (m *metrics) forMethod(name string) *methodMetrics {
	return &methodMetrics{name: name, ok: m.requests.WithLabelValues(name, "0"),
		dur: m.duration.WithLabelValues(name), parent: m}
}

// observe books one answered call.
func (mm *methodMetrics) observe(code int, took time.Duration) {
	mm.dur.Observe(took.Seconds())
	if code == 0 {
		mm.ok.Inc()
		return
	}
	c, ok := mm.errs.Load(code)
	if !ok {
		c, _ = mm.errs.LoadOrStore(code, mm.parent.requests.WithLabelValues(mm.name, strconv.Itoa(code)))
	}
	c.(prometheus.Counter).Inc()
}

func (m *metrics) httpStatus(status int) {
	if status < 0 || status >= len(m.httpCache) {
		m.http.WithLabelValues(strconv.Itoa(status)).Inc()
		return
	}
	p := m.httpCache[status].Load()
	if p == nil {
		c := m.http.WithLabelValues(strconv.Itoa(status))
		m.httpCache[status].CompareAndSwap(nil, &c)
		p = m.httpCache[status].Load()
	}
	(*p).Inc()
}

func (m *metrics) writeSettled(result string) { m.settled.WithLabelValues(result).Inc() }
