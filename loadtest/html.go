package loadtest

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
)

var pageTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":  fmtMs,
	"inc": func(i int) int { return i + 1 },
	"f0":  func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) },
	"f1":  func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>icon-loadtest: {{.R.Mode}} {{.R.Target}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:960px;color:#1d2330;padding:0 12px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.sub{color:#5b6475;margin-bottom:16px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #dde2ea;border-radius:6px;padding:8px 12px;min-width:110px}
.card b{display:block;font-size:18px}.card span{color:#5b6475;font-size:12px}
.bad b{color:#c62828}.ok b{color:#2e7d32}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #e6e9ef;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}
th{background:#f5f7fa;font-weight:600}
.warn{background:#fff4e5;border:1px solid #ffb74d;border-radius:6px;padding:8px 12px;margin:8px 0}
svg.chart{border:1px solid #e6e9ef;border-radius:6px;margin:6px 0;background:#fff}
svg .grid{stroke:#eef0f4}svg .yt{font-size:11px;text-anchor:end;fill:#5b6475}
svg .xt{font-size:11px;text-anchor:middle;fill:#5b6475}svg .ax{font-size:11px;fill:#5b6475;text-anchor:middle}
svg .ct{font-size:13px;font-weight:600;fill:#1d2330}svg .lg{font-size:11px;fill:#1d2330}
svg .mark{stroke:#c62828;stroke-dasharray:4 3}svg .mt{font-size:10px;fill:#c62828;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
footer{color:#8a93a3;font-size:12px;margin-top:24px}
</style></head><body>
<h1>icon-loadtest report: {{.R.Mode}}</h1>
<div class="sub">target <code>{{.R.Target}}</code>{{if .R.Workload}} · {{.R.Workload}}{{end}} · started {{.R.Started.UTC.Format "2006-01-02 15:04:05 UTC"}} · {{f1 .R.DurationS}} s</div>
{{range .R.Warnings}}<div class="warn">{{.}}</div>{{end}}
<div class="cards" id="summary">
<div class="card"><b>{{f0 .R.Throughput}}</b><span>req/s completed</span></div>
<div class="card"><b>{{f0 .R.OfferedRate}}</b><span>req/s offered</span></div>
<div class="card"><b>{{ms .R.Latency.P50}}</b><span>p50</span></div>
<div class="card"><b>{{ms .R.Latency.P90}}</b><span>p90</span></div>
<div class="card"><b>{{ms .R.Latency.P99}}</b><span>p99</span></div>
<div class="card"><b>{{ms .R.Latency.P999}}</b><span>p99.9</span></div>
<div class="card"><b>{{ms .R.Latency.Max}}</b><span>max</span></div>
<div class="card {{if .R.Failed}}bad{{else}}ok{{end}}"><b>{{.R.Failed}}</b><span>failed (transport/HTTP)</span></div>
<div class="card"><b>{{.R.RPCErrors}}</b><span>JSON-RPC errors</span></div>
<div class="card {{if .R.KeptUp}}ok{{else}}bad{{end}}"><b>{{.R.Late}}</b><span>late sends (&gt;{{.R.LateThreshold}}ms)</span></div>
</div>
<h2>Latency over time</h2>
{{.Latency}}
<h2>Throughput over time</h2>
{{.Throughput}}
<h2>Per method</h2>
<table id="methods"><thead><tr><th>method</th><th>count</th><th>failed</th><th>rpc errors</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr></thead><tbody>
{{range .R.Methods}}<tr><td>{{.Method}}</td><td>{{.Count}}</td><td>{{.Failed}}</td><td>{{.RPCErrors}}</td><td>{{ms .Latency.P50}}</td><td>{{ms .Latency.P90}}</td><td>{{ms .Latency.P99}}</td><td>{{ms .Latency.P999}}</td><td>{{ms .Latency.Max}}</td></tr>
{{end}}<tr><th>all</th><th>{{.R.Completed}}</th><th>{{.R.Failed}}</th><th>{{.R.RPCErrors}}</th><th>{{ms .R.Latency.P50}}</th><th>{{ms .R.Latency.P90}}</th><th>{{ms .R.Latency.P99}}</th><th>{{ms .R.Latency.P999}}</th><th>{{ms .R.Latency.Max}}</th></tr>
</tbody></table>
{{if .Errors}}<h2>Errors by kind</h2>
<table id="errors"><thead><tr><th>kind</th><th>count</th></tr></thead><tbody>
{{range .Errors}}<tr><td>{{.K}}</td><td>{{.V}}</td></tr>{{end}}
</tbody></table>{{end}}
{{if .R.Hooks}}<h2>Chaos hooks</h2>
<table id="hooks"><thead><tr><th>hook</th><th>at</th><th style="text-align:left">action</th><th>result</th></tr></thead><tbody>
{{range $i, $h := .R.Hooks}}<tr><td>{{inc $i}}</td><td>{{ms .AtMs}}</td><td style="text-align:left"><code>{{.Spec}}</code></td><td>{{if .Error}}{{.Error}}{{else}}HTTP {{.Status}}{{end}}</td></tr>{{end}}
</tbody></table>{{end}}
<h2>Schedule</h2>
<p>Open loop: requests are sent on the clock, not when responses come back. Latency is measured from each request's
scheduled time, so a slow server (or tester) cannot hide queueing. Send lag p50 {{ms .R.SendLag.P50}}, p99 {{ms .R.SendLag.P99}},
max {{ms .R.SendLag.Max}}; service time (from the actual send) p50 {{ms .R.Service.P50}}, p99 {{ms .R.Service.P99}}.
{{.R.Scheduled}} scheduled, {{.R.NotSent}} not sent.</p>
<footer>generated by icon-loadtest · self-contained: no scripts, no network</footer>
<script type="application/json" id="report-data">{{.JSON}}</script>
</body></html>
`))

type kv64 struct {
	K string
	V int64
}

// WriteHTML writes the self-contained HTML report.
func (r *Report) WriteHTML(w io.Writer) error {
	n := len(r.Timeline)
	// A last second that the run covered for less than half holds only
	// stragglers; charting it would show a false drop in throughput.
	if n > 1 && r.DurationS-float64(n-1) < 0.5 {
		n--
	}
	p50, p90, p99, mx := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	sent, done, failed, rpc := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i, p := range r.Timeline[:n] {
		p50[i], p90[i], p99[i], mx[i] = p.P50, p.P90, p.P99, p.Max
		sent[i], done[i], failed[i], rpc[i] = float64(p.Sent), float64(p.Completed), float64(p.Failed), float64(p.RPCErrors)
	}
	var marks []marker
	for i, h := range r.Hooks {
		marks = append(marks, marker{x: h.AtMs / 1000, tag: hookTag(i+1, h.Spec), label: h.Spec})
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	var errs []kv64
	for _, k := range sortedKeys(r.Errors) {
		errs = append(errs, kv64{k, r.Errors[k]})
	}
	return pageTmpl.Execute(w, map[string]any{
		"R": r,
		"Latency": lineChart("latency-chart", "Latency per second (log scale)", "ms", n, []series{
			{name: "p50", color: "#1e88e5", values: p50},
			{name: "p90", color: "#43a047", values: p90},
			{name: "p99", color: "#fb8c00", values: p99},
			{name: "max", color: "#8e24aa", values: mx, dashed: true},
		}, true, marks),
		"Throughput": lineChart("throughput-chart", "Requests per second", "req/s", n, []series{
			{name: "sent", color: "#90a4ae", values: sent, dashed: true},
			{name: "completed", color: "#1e88e5", values: done},
			{name: "failed", color: "#c62828", values: failed},
			{name: "rpc errors", color: "#f9a825", values: rpc},
		}, false, marks),
		"Errors": errs,
		"JSON":   template.JS(data), // json.Marshal escapes < > &, so no "</script>" can end the block
	})
}

// WriteHTMLFile writes the HTML report to path.
func (r *Report) WriteHTMLFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.WriteHTML(f); err != nil {
		f.Close()
		return fmt.Errorf("loadtest: html report: %w", err)
	}
	return f.Close()
}

// hookTag is the short label of a hook on the charts: its number in the
// hooks table, method, port and path, and the start of its body.
func hookTag(n int, spec string) string {
	tag := fmt.Sprintf("hook %d", n)
	h, err := ParseHook(spec)
	if err != nil {
		return tag
	}
	where := h.URL
	if u, err := url.Parse(h.URL); err == nil {
		where = ":" + u.Port() + u.Path
	}
	body := h.Body
	if r := []rune(body); len(r) > 24 {
		body = string(r[:23]) + "…"
	}
	return strings.TrimSpace(fmt.Sprintf("%s: %s %s %s", tag, h.Method, where, body))
}
