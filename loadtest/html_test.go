package loadtest_test

import (
	"bytes"
	"context"
	"fmt"
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
// a screenshot of a 12 s run against one node slowed at 6 s (the README's
// and docs/loadtest.md's picture is made by make report-screenshot).
func TestHTMLReportRendersInChromium(t *testing.T) {
	if chromium.Find() == "" {
		t.Skip("chromium not installed: apt-get install chromium (Debian) to check the HTML report in a browser")
	}
	sim := startSim(t, 1)
	url := sim.URLs()[0] + "/api/v3"
	// A screenshot gets a longer run so the charts show a shape.
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
		// The top of the page (summary and both charts),
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

// Hook labels must stay inside the chart and clear of the legend wherever
// the hooks fall: at the very start (where a left legend would be), close
// together, and at the very end (where a label would be cut).
func TestHTMLHookLabelsStayClearAndUncut(t *testing.T) {
	if chromium.Find() == "" {
		t.Skip("chromium not installed: apt-get install chromium (Debian) to check the HTML report in a browser")
	}
	rep := &loadtest.Report{Mode: "synth", Target: "http://127.0.0.1:1/api/v3", DurationS: 12, Completed: 12}
	for i := 0; i < 12; i++ {
		rep.Timeline = append(rep.Timeline, loadtest.Point{T: i, Sent: 300, Completed: 300, P50: 1, P90: 2, P99: 5, Max: 9})
	}
	long := `:POST:http://127.0.0.1:19282/_sim/faults:{"down":true,"latency_ms":250,"error_rate":0.5}`
	for _, at := range []float64{0, 200, 400, 6000, 11900, 12000} {
		rep.Hooks = append(rep.Hooks, loadtest.HookEvent{AtMs: at, Spec: fmt.Sprint(at) + "ms" + long, Status: 200})
	}
	page := filepath.Join(t.TempDir(), "report.html")
	if err := rep.WriteHTMLFile(page); err != nil {
		t.Fatal(err)
	}
	// Every label's box must lie inside its chart's plot width and intersect
	// no legend and no other label.
	const check = `(() => {
	  const bad = [];
	  const meet = (a, b) => !(a.right <= b.left || a.left >= b.right || a.bottom <= b.top || a.top >= b.bottom);
	  for (const svg of document.querySelectorAll('svg.chart')) {
	    const box = svg.getBoundingClientRect();
	    const legend = svg.querySelector('g.legend').getBoundingClientRect();
	    const labels = [...svg.querySelectorAll('text.mt')];
	    labels.forEach((t, i) => {
	      const r = t.getBoundingClientRect();
	      if (r.left < box.left || r.right > box.right) bad.push(svg.id + ': "' + t.textContent + '" cut');
	      if (meet(r, legend)) bad.push(svg.id + ': "' + t.textContent + '" on the legend');
	      labels.slice(i + 1).forEach(u => { if (meet(r, u.getBoundingClientRect())) bad.push(svg.id + ': "' + t.textContent + '" on "' + u.textContent + '"'); });
	    });
	    if (labels.length !== 6) bad.push(svg.id + ': ' + labels.length + ' labels');
	  }
	  return bad.join('; ');
	})()`
	const hookRows = `document.querySelectorAll('#hooks tbody tr').length`
	for _, width := range []int{1000, 700} {
		res, err := chromium.Load(context.Background(), page, chromium.Options{Width: width, Height: 900, Eval: []string{check, hookRows}})
		if err != nil {
			t.Fatal(err)
		}
		if bad, _ := res.Values[check].(string); bad != "" || res.Values[check] == nil {
			t.Errorf("width %d: %v", width, res.Values[check])
		}
		if n, _ := res.Values[hookRows].(float64); n != 6 {
			t.Errorf("hooks table has %v rows", res.Values[hookRows])
		}
	}
}
