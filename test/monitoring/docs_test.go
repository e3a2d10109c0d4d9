package monitoring

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// conditionalMetrics exist only with capture, peers, Cloudflare pool
// health or micro-batching configured, so the scrape test does not see
// them; they are documented all the same.
var conditionalMetrics = []string{
	"icon_edge_capture_recorded_total", "icon_edge_capture_dropped_total",
	"icon_edge_microbatch_node_requests_total", "icon_edge_microbatch_calls_total",
	"icon_edge_peer_up", "icon_edge_peer_tip_height", "icon_edge_peer_polls_total", "icon_edge_region_failover_total",
	"icon_edge_cloudflare_pool_healthy",
}

// notMetrics share the prefix but name other things. A doc that names a new
// one adds it here, so a misspelt metric can never pass for one of these.
var notMetrics = map[string]bool{
	// Cloudflare objects, named after the hostname (docs/geo.md).
	"icon_edge_rpc_example_org": true, "icon_edge_rpc_example_org_eu": true,
	// Ansible variables (docs/deploy.md).
	"icon_edge_tls_domain": true, "icon_edge_acme_email": true, "icon_edge_binary_src": true,
	"icon_edge_redis_url": true, "icon_edge_root": true,
	// Series derived from icon_edge_requests_total: the prometheus-adapter
	// metric and the middle of the recording rule region:icon_edge_requests:rate5m.
	"icon_edge_requests_per_second": true, "icon_edge_requests": true,
}

// TestDocsNameOnlyRealMetrics keeps one list of metrics: docs/observability.md
// has every metric the edge exports, and neither it, the README nor any other
// doc names an icon_edge_* metric that does not exist.
func TestDocsNameOnlyRealMetrics(t *testing.T) {
	known := map[string]bool{}
	for _, m := range append(append([]string(nil), exportedMetrics...), conditionalMetrics...) {
		known[m] = true
	}
	obs, err := os.ReadFile("../../docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	for m := range known {
		if !strings.Contains(string(obs), "`"+m+"`") {
			t.Errorf("docs/observability.md does not list %s", m)
		}
	}
	docs, _ := filepath.Glob("../../docs/*.md")
	name := regexp.MustCompile(`icon_edge_[a-z0-9_]*[a-z0-9]`)
	for _, f := range append(docs, "../../README.md") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllString(string(b), -1) {
			base := m
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if strings.HasSuffix(m, suffix) && known[strings.TrimSuffix(m, suffix)] {
					base = strings.TrimSuffix(m, suffix)
				}
			}
			if !known[base] && !notMetrics[base] {
				t.Errorf("%s names %s, which the edge does not export", filepath.Base(f), m)
			}
		}
	}
}
