package promtest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSumMatchesLabelsAndKinds(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calls_total"}, []string{"method", "code"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "open"})
	reg.MustRegister(c, g)
	c.WithLabelValues("a", "0").Add(2)
	c.WithLabelValues("a", "1").Add(3)
	c.WithLabelValues("b", "0").Add(5)
	g.Set(7)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
		found  bool
	}{
		{"calls_total", nil, 10, true},
		{"calls_total", map[string]string{"method": "a"}, 5, true},
		{"calls_total", map[string]string{"method": "a", "code": "1"}, 3, true},
		{"calls_total", map[string]string{"method": "c"}, 0, false},
		{"open", nil, 7, true},
		{"missing", nil, 0, false},
	} {
		if got, found := Sum(t, reg, tc.name, tc.labels); got != tc.want || found != tc.found {
			t.Errorf("Sum(%s, %v) = %v, %v; want %v, %v", tc.name, tc.labels, got, found, tc.want, tc.found)
		}
	}
}
