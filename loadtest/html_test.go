package loadtest_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/internal/chromium"
	"github.com/icon-edge/icon-edge/loadtest"
)

// The HTML report of a real run (with a chaos hook) renders in headless
// Chromium with no console errors and no network requests, and shows both
// charts with one point per second. LOADTEST_SCREENSHOT=path also saves
// the screenshot used in the README.
func TestHTMLReportRendersInChromium(t *testing.T) {
	if chromium.Find() == "" {
		t.Skip("chromium not installed: apt-get install chromium (Debian) to check the HTML report in a browser")
	}
	sim := startSim(t, 1)
	url := sim.URLs()[0] + "/api/v3"
	// The README screenshot gets a longer run so the charts show a shape.
	run, at := 3*time.Second, "1500ms"
	if os.Getenv("LOADTEST_SCREENSHOT") != "" {
		run, at = 12*time.Second, "6s"
	}
	hook, err := loadtest.ParseHook(at + ":POST:" + sim.URLs()[0] + `/_sim/faults:{"latency_ms":25,"error_rate":0.05}`)
	if err != nil {
		t.Fatal(err)
	}
	rep := synthRun(t, url, nil, 300, run, hook)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := rep.WriteHTMLFile(page); err != nil {
		t.Fatal(err)
	}
	const (
		charts    = `document.querySelectorAll('svg.chart').length`
		latLines  = `document.querySelectorAll('#latency-chart polyline.series').length`
		thrLines  = `document.querySelectorAll('#throughput-chart polyline.series').length`
		points    = `document.querySelector('#latency-chart polyline[data-series="p99"]').getAttribute('points').trim().split(/\s+/).length`
		marks     = `document.querySelectorAll('#latency-chart .mark').length`
		rows      = `document.querySelectorAll('#methods tbody tr').length`
		completed = `JSON.parse(document.getElementById('report-data').textContent).completed`
		chartW    = `document.getElementById('latency-chart').getBoundingClientRect().width`
	)
	res, err := chromium.Load(context.Background(), page, chromium.Options{
		Width: 1000, Height: 800, Screenshot: true,
		Eval: []string{charts, latLines, thrLines, points, marks, rows, completed, chartW},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Errorf("console errors: %q", res.Errors)
	}
	if len(res.External) > 0 {
		t.Errorf("the report fetched %q: it must be self-contained", res.External)
	}
	num := func(expr string) int {
		v, ok := res.Values[expr].(float64)
		if !ok {
			t.Fatalf("%s = %v", expr, res.Values[expr])
		}
		return int(v)
	}
	if num(charts) != 2 || num(latLines) != 4 || num(thrLines) != 4 || num(marks) != 1 {
		t.Errorf("charts %v", res.Values)
	}
	if n := num(points); (n != len(rep.Timeline) && n != len(rep.Timeline)-1) || n < 3 {
		t.Errorf("p99 line has %d points, timeline %d seconds", n, len(rep.Timeline))
	}
	if num(rows) != len(rep.Methods)+1 || int64(num(completed)) != rep.Completed {
		t.Errorf("tables/data: %v, report %d methods %d completed", res.Values, len(rep.Methods), rep.Completed)
	}
	if num(chartW) < 500 {
		t.Errorf("chart is %dpx wide", num(chartW))
	}
	img, err := png.Decode(bytes.NewReader(res.Screenshot))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1000 || b.Dy() < 800 {
		t.Errorf("screenshot %v", b)
	}
	if out := os.Getenv("LOADTEST_SCREENSHOT"); out != "" {
		// The README shows the top of the page (summary and both charts),
		// compressed hard to keep the committed file small.
		top := img.Bounds()
		top.Max.Y = min(top.Max.Y, 1040)
		sub := img.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(top)
		var buf bytes.Buffer
		enc := png.Encoder{CompressionLevel: png.BestCompression}
		if err := enc.Encode(&buf, sub); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot written to %s (%d bytes)", out, buf.Len())
	}
	if !strings.Contains(rep.String(), "hook at") {
		t.Errorf("text report does not show the hook:\n%s", rep)
	}
}
