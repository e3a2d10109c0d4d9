package monitoring

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// captureMetrics exist only while capture is on, so the scrape test does not
// see them; they are documented all the same.
var captureMetrics = []string{"icon_edge_capture_recorded_total", "icon_edge_capture_dropped_total"}

// TestDocsNameOnlyRealMetrics keeps one list of metrics: docs/observability.md
// has every metric the edge exports, and neither it, the README nor any other
// doc names an icon_edge_* metric that does not exist.
func TestDocsNameOnlyRealMetrics(t *testing.T) {
	known := map[string]bool{}
	for _, m := range append(append([]string(nil), exportedMetrics...), captureMetrics...) {
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
			if !known[base] {
				t.Errorf("%s names %s, which the edge does not export", filepath.Base(f), m)
			}
		}
	}
}
