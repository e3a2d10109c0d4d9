package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// make demo-geo as a newcomer runs it: exit 0, a region taken down under
// traffic with no failed request, the Cloudflare objects applied once.
func TestGeoDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds icon-edge and runs three regions")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "icon-edge")
	if b, err := exec.Command("go", "build", "-o", bin, "../icon-edge").CombinedOutput(); err != nil {
		t.Fatalf("building icon-edge: %v\n%s", err, b)
	}
	var out strings.Builder
	if code := run([]string{"--icon-edge", bin, "--out", dir}, &out); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	for _, want := range []string{"us /readyz 503", "failed: 0", `icon_edge_region_failover_total{peer="eu",result="ok"}`,
		"no changes: Cloudflare matches the configuration", "(the second apply changed nothing: 5 API writes in all)"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "edge.yaml")); err != nil {
		t.Fatal(err)
	}
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	if code := run([]string{"--help"}, &out); code != 0 || !strings.Contains(out.String(), "--icon-edge") {
		t.Fatalf("--help: exit %d\n%s", code, out.String())
	}
}
