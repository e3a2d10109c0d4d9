package loadtest_test

import (
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The shipped locustfile runs against a goloop-like node: a short headless
// Locust run completes requests of every kind, and the only failures are
// lookups of transaction hashes the chain does not have (-31004).
func TestLocustfileRuns(t *testing.T) {
	locust, err := exec.LookPath("locust")
	if err != nil {
		t.Skip("locust not installed (Debian: apt-get install python3-locust)")
	}
	sim := startSim(t, 1)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, locust, "-f", "locust/locustfile.py", "--host", sim.URLs()[0],
		"--headless", "-u", "4", "-r", "4", "-t", "3s", "--only-summary", "--csv", filepath.Join(dir, "lc"),
		"--loglevel", "WARNING")
	cmd.Env = append(os.Environ(), "ICON_WAIT=0.01")
	out, err := cmd.CombinedOutput()
	if err != nil && ctx.Err() != nil {
		t.Fatalf("locust did not finish: %s", out)
	}
	rows := readCSV(t, filepath.Join(dir, "lc_stats.csv"))
	counts := map[string]int{}
	for _, r := range rows {
		n, _ := strconv.Atoi(r["Request Count"])
		counts[r["Name"]] = n
	}
	if counts["Aggregated"] < 50 || counts["icx_call"] == 0 || counts["icx_getBalance"] == 0 || counts["icx_getLastBlock"] == 0 {
		t.Fatalf("locust stats %v\n%s", counts, out)
	}
	for _, f := range readCSV(t, filepath.Join(dir, "lc_failures.csv")) {
		name := f["Name"]
		if (name != "icx_getTransactionResult" && name != "icx_getTransactionByHash") || !strings.Contains(f["Error"], "jsonrpc -31004") {
			t.Errorf("locust failure %v", f)
		}
	}
}

func readCSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("%s: %v", path, err)
	}
	var out []map[string]string
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			if i < len(rec) {
				m[h] = rec[i]
			}
		}
		out = append(out, m)
	}
	return out
}
