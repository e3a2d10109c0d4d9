package monitoring

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The global view (infra/monitoring/global): the federating Prometheus's
// config, rules and unit tests with promtool. Its rule and dashboard
// expressions are also parsed by TestEveryExpressionParsesAndUsesKnownMetrics.
func TestGlobalPrometheusPromtool(t *testing.T) {
	promtool := needTool(t, "promtool", "prometheus")
	dir := filepath.Join(monitoringDir(t), "global", "prometheus")
	rules := glob(t, filepath.Join(dir, "rules", "*.yml"))
	run(t, dir, promtool, append([]string{"check", "rules"}, rules...)...)
	run(t, dir, promtool, "check", "config", "prometheus.yml")
	for _, f := range glob(t, filepath.Join(dir, "tests", "*.yml")) {
		run(t, filepath.Dir(f), promtool, "test", "rules", filepath.Base(f))
	}
}

// What the global Prometheus federates is what the regional rules record,
// and the global rules use only federated or global series.
func TestGlobalUsesFederatedSeries(t *testing.T) {
	_, alerts, records := loadRules(t)
	for _, a := range []string{"IconEdgeRegionDown", "IconEdgeRegionTipDiverging"} {
		found := false
		for _, x := range alerts {
			found = found || x == a
		}
		if !found {
			t.Errorf("alert %s missing", a)
		}
	}
	for _, want := range []string{"region:icon_edge_requests:rate5m", "region:icon_edge_request_server_errors:ratio_rate5m",
		"region:icon_edge_request_duration_seconds:p99_5m", "region:icon_edge_in_sync_upstreams:sum",
		"region:icon_edge_failovers:rate5m", "region:icon_edge_chain_tip_height:max", "region:icon_edge_ready_edges:count"} {
		found := false
		for _, r := range records {
			found = found || r == want
		}
		if !found {
			t.Errorf("recording rule %s missing", want)
		}
	}
	b, err := os.ReadFile(filepath.Join(monitoringDir(t), "global", "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `{__name__=~"region:icon_edge_.*"}`) || !strings.Contains(string(b), "honor_labels: true") {
		t.Error("the global Prometheus must federate region:icon_edge_* with honor_labels")
	}
}

// Cross-cluster search: one remote per region, and the Kibana view's index
// pattern covers every remote's access-log indices.
func TestGlobalKibanaAndCrossClusterSearch(t *testing.T) {
	pattern, fields := mappedFields(t)
	b, err := os.ReadFile(filepath.Join(monitoringDir(t), "global", "elk", "cross-cluster-search.json"))
	if err != nil {
		t.Fatal(err)
	}
	var settings struct {
		Persistent struct {
			Cluster struct {
				Remote map[string]struct {
					Seeds           []string `json:"seeds"`
					SkipUnavailable *bool    `json:"skip_unavailable"`
				} `json:"remote"`
			} `json:"cluster"`
		} `json:"persistent"`
	}
	if err := json.Unmarshal(b, &settings); err != nil {
		t.Fatal(err)
	}
	var remotes []string
	for name, r := range settings.Persistent.Cluster.Remote {
		remotes = append(remotes, name)
		if len(r.Seeds) == 0 || r.SkipUnavailable == nil || !*r.SkipUnavailable {
			t.Errorf("remote %s: want seeds and skip_unavailable: true (a region down must not break searches)", name)
		}
	}
	sort.Strings(remotes)
	if strings.Join(remotes, ",") != "asia,eu,us" {
		t.Errorf("remotes %v, want asia, eu, us", remotes)
	}
	var global []string
	for _, r := range []string{"us", "eu", "asia"} {
		global = append(global, r+":"+pattern)
	}
	checkKibanaObjects(t, filepath.Join(monitoringDir(t), "global", "elk", "kibana", "icon-edge-global-access.ndjson"),
		strings.Join(global, ","), fields)
}
