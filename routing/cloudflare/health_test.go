package cloudflare

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/icon-edge/icon-edge/routing/cloudflare/cffake"
)

func newPoller(t *testing.T, h *harness, reg prometheus.Registerer, regions ...string) *HealthPoller {
	t.Helper()
	p, err := NewHealthPoller(HealthPollerConfig{
		Options: Options{Token: cffake.DefaultToken, BaseURL: h.fake.URL()}, Config: h.cfg,
		Regions: regions, Interval: time.Second, Registry: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHealthPollerReadsPoolHealthIntoTheGauge(t *testing.T) {
	h := newHarness(t, cffake.Options{})
	if _, err := h.client.Apply(ctx(t), h.cfg); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	p := newPoller(t, h, reg, "eu")
	if p.interval != time.Minute {
		t.Fatalf("interval %v: polling more than once a minute must not be possible", p.interval)
	}
	if _, known := p.Healthy("eu"); known {
		t.Fatal("known before the first poll")
	}
	if err := p.PollOnce(ctx(t)); err != nil {
		t.Fatal(err)
	}
	const eu = "icon_edge_rpc_example_org_eu"
	if v := testutil.ToFloat64(p.gauge.WithLabelValues(eu)); v != 1 {
		t.Fatalf("gauge %v, want 1", v)
	}
	h.fake.SetPoolHealth(eu, false)
	if err := p.PollOnce(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if healthy, known := p.Healthy("eu"); healthy || !known {
		t.Fatalf("Healthy = %v, %v after the pool went down", healthy, known)
	}
	out, err := testutil.GatherAndCount(reg, "icon_edge_cloudflare_pool_healthy")
	if err != nil || out != 1 {
		t.Fatalf("registered series: %d %v (only this edge's pool is watched)", out, err)
	}
	if v := testutil.ToFloat64(p.gauge.WithLabelValues(eu)); v != 0 {
		t.Fatalf("gauge %v, want 0", v)
	}
}

func TestHealthPollerBacksOffOn429(t *testing.T) {
	h := newHarness(t, cffake.Options{})
	if _, err := h.client.Apply(ctx(t), h.cfg); err != nil {
		t.Fatal(err)
	}
	p := newPoller(t, h, nil)
	if err := p.PollOnce(ctx(t)); err != nil {
		t.Fatal(err)
	}
	before := len(h.fake.Requests())
	h.fake.FailNext(1, 429, "300")
	err := p.PollOnce(ctx(t))
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 429 {
		t.Fatalf("got %v", err)
	}
	if n := len(h.fake.Requests()) - before; n != 1 {
		t.Fatalf("after a 429 the poller made %d calls in the same round, want 1", n)
	}
	if d := p.nextDelay(err, 1); d != 5*time.Minute {
		t.Fatalf("after Retry-After 300 the next poll is in %v", d)
	}
	for failures, want := range map[int]time.Duration{0: time.Minute, 1: 2 * time.Minute, 2: 4 * time.Minute, 6: 10 * time.Minute} {
		if d := p.nextDelay(errors.New("x"), failures); d != want {
			t.Errorf("%d failures: %v, want %v", failures, d, want)
		}
	}
	if _, err := NewHealthPoller(HealthPollerConfig{Options: Options{Token: "t"}, Config: h.cfg, Regions: []string{"mars"}}); err == nil ||
		!strings.Contains(err.Error(), `region "mars"`) {
		t.Fatalf("unknown region: %v", err)
	}
}

func TestHealthPollerStartRunsUntilCancelled(t *testing.T) {
	h := newHarness(t, cffake.Options{})
	if _, err := h.client.Apply(ctx(t), h.cfg); err != nil {
		t.Fatal(err)
	}
	p := newPoller(t, h, nil, "us")
	p.interval = 10 * time.Millisecond // a minute is too long for a test
	c, cancel := context.WithCancel(context.Background())
	p.Start(c)
	const us = "icon_edge_rpc_example_org_us"
	waitFor := func(want bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if healthy, known := p.Healthy("us"); known && healthy == want {
				return
			}
		}
		t.Fatalf("pool health never became %v", want)
	}
	waitFor(true)
	h.fake.SetPoolHealth(us, false)
	waitFor(false)
	cancel()
	// Once stopped, the count of requests stays put.
	time.Sleep(50 * time.Millisecond)
	n := len(h.fake.Requests())
	time.Sleep(50 * time.Millisecond)
	if m := len(h.fake.Requests()); m != n {
		t.Fatalf("still polling after cancel: %d -> %d requests", n, m)
	}
}
