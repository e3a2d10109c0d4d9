package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latency summarizes a histogram, in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
}

func summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Count: h.TotalCount(),
		Min:   ms(h.Min()),
		Mean:  h.Mean() / 1000,
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
	}
}

// MethodReport is the per-method part of a report.
type MethodReport struct {
	Method    string           `json:"method"`
	Count     int64            `json:"count"`
	Failed    int64            `json:"failed"`
	RPCErrors int64            `json:"rpc_errors"`
	Errors    map[string]int64 `json:"errors,omitempty"`
	Latency   Latency          `json:"latency"`
}

// Report is the outcome of a run. Latency is measured from each request's
// scheduled send time (so a tester or server that falls behind cannot hide
// it); Service is measured from the actual send.
type Report struct {
	Mode          string           `json:"mode"`
	Target        string           `json:"target"`
	Workload      string           `json:"workload,omitempty"`
	Started       time.Time        `json:"started"`
	DurationS     float64          `json:"duration_s"`
	Scheduled     int64            `json:"scheduled"`
	Completed     int64            `json:"completed"`
	NotSent       int64            `json:"not_sent"`
	Throughput    float64          `json:"throughput_rps"`
	OfferedRate   float64          `json:"offered_rps"`
	Failed        int64            `json:"failed"`
	RPCErrors     int64            `json:"rpc_errors"`
	Errors        map[string]int64 `json:"errors"`
	Late          int64            `json:"late_sends"`
	PeakInflight  int64            `json:"peak_inflight"`
	LateThreshold float64          `json:"late_threshold_ms"`
	KeptUp        bool             `json:"tester_kept_up"`
	SendLag       Latency          `json:"send_lag"`
	Latency       Latency          `json:"latency"`
	Service       Latency          `json:"service_time"`
	Methods       []MethodReport   `json:"methods"`
	Timeline      []Point          `json:"timeline"`
	Hooks         []HookEvent      `json:"hooks,omitempty"`
	Warnings      []string         `json:"warnings,omitempty"`
}

// keptUpLateFraction: a run where more than this fraction of sends were
// late says the tester (or its machine) could not hold the schedule.
const keptUpLateFraction = 0.01

func (c *collector) report(cfg Config, runs ...*runInfo) *Report {
	_ = cfg.defaults()
	r := &Report{
		Mode: cfg.Mode, Target: cfg.Target, Workload: cfg.Description,
		Completed: c.count, Failed: c.failed, RPCErrors: c.rpc, Late: c.late,
		LateThreshold: float64(cfg.LateThreshold.Microseconds()) / 1000,
		SendLag:       summarize(c.lag), Latency: summarize(c.overall), Service: summarize(c.service),
		Errors: c.errors, Timeline: c.timeline,
	}
	var elapsed time.Duration
	for i, ri := range runs {
		if i == 0 {
			r.Started = ri.started
		}
		elapsed += ri.elapsed
		r.Scheduled += ri.scheduled
		r.NotSent += ri.notSent
		r.Hooks = append(r.Hooks, ri.hooks...)
		r.Warnings = append(r.Warnings, ri.warnings...)
	}
	r.DurationS = elapsed.Seconds()
	if elapsed > 0 {
		r.Throughput = float64(c.count) / elapsed.Seconds()
		r.OfferedRate = float64(r.Scheduled) / elapsed.Seconds()
	}
	r.KeptUp = float64(c.late) <= keptUpLateFraction*float64(max(c.count, 1))
	r.PeakInflight = c.peakInflight
	if !r.KeptUp {
		r.Warnings = append(r.Warnings, keepUpAdvice(c, cfg, r))
	}
	for name, m := range c.methods {
		r.Methods = append(r.Methods, MethodReport{
			Method: name, Count: m.count, Failed: m.failed, RPCErrors: m.rpc,
			Errors: m.errors, Latency: summarize(m.hist),
		})
	}
	sort.Slice(r.Methods, func(i, j int) bool {
		if r.Methods[i].Count != r.Methods[j].Count {
			return r.Methods[i].Count > r.Methods[j].Count
		}
		return r.Methods[i].Method < r.Methods[j].Method
	})
	return r
}

// keepUpAdvice says why sends were late. With every worker busy they waited
// for the target: more in flight helps. With workers free they waited for
// the CPU (the tester shares cores with the target, or the machine is busy):
// more in flight changes nothing.
func keepUpAdvice(c *collector, cfg Config, r *Report) string {
	head := fmt.Sprintf("the tester could not keep up: %d of %d sends were more than %v behind schedule (p99 send lag %s)",
		c.late, c.count, cfg.LateThreshold, fmtMs(r.SendLag.P99))
	if c.lateBusy*2 >= c.late {
		return head + fmt.Sprintf("; all %d workers were busy (the target is slower than the rate): raise --max-inflight or lower the rate", cfg.MaxInflight)
	}
	return head + fmt.Sprintf("; most late sends found free workers (peak %d of --max-inflight %d in flight), so nothing "+
		"waited on the target: the tester was starved of CPU (it shares the cores with the target, or the machine is busy). "+
		"Run it on other cores or another machine (taskset, a second host), lower the rate, or try --pipeline; "+
		"raising --max-inflight will not help", r.PeakInflight, cfg.MaxInflight)
}

func fmtMs(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 1:
		return strconv.FormatFloat(v*1000, 'f', 0, 64) + "µs"
	case v < 100:
		return strconv.FormatFloat(v, 'f', 2, 64) + "ms"
	case v < 10000:
		return strconv.FormatFloat(v, 'f', 0, 64) + "ms"
	}
	return strconv.FormatFloat(v/1000, 'f', 1, 64) + "s"
}

// WriteText writes the summary table.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "%s against %s", r.Mode, r.Target)
	if r.Workload != "" {
		fmt.Fprintf(w, " (%s)", r.Workload)
	}
	fmt.Fprintf(w, "\n%.1fs: %d scheduled, %d completed, %.0f req/s (offered %.0f req/s), %d failed, %d JSON-RPC errors, %d not sent\n",
		r.DurationS, r.Scheduled, r.Completed, r.Throughput, r.OfferedRate, r.Failed, r.RPCErrors, r.NotSent)
	fmt.Fprintf(w, "schedule: %d late sends (> %gms); send lag p50 %s p99 %s max %s; tester kept up: %v\n\n",
		r.Late, r.LateThreshold, fmtMs(r.SendLag.P50), fmtMs(r.SendLag.P99), fmtMs(r.SendLag.Max), r.KeptUp)
	// tabwriter aligns every column right; names read better left-aligned.
	w0 := len("method")
	for _, m := range r.Methods {
		w0 = max(w0, len(m.Method))
	}
	fmt.Fprintf(tw, "%-*s\tcount\tfailed\trpc err\tp50\tp90\tp99\tp99.9\tmax\t\n", w0, "method")
	row := func(name string, count, failed, rpc int64, l Latency) {
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", w0, name, count, failed, rpc,
			fmtMs(l.P50), fmtMs(l.P90), fmtMs(l.P99), fmtMs(l.P999), fmtMs(l.Max))
	}
	for _, m := range r.Methods {
		row(m.Method, m.Count, m.Failed, m.RPCErrors, m.Latency)
	}
	row("ALL", r.Completed, r.Failed, r.RPCErrors, r.Latency)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "\nerrors:")
		for _, k := range sortedKeys(r.Errors) {
			fmt.Fprintf(w, "  %-28s %d\n", k, r.Errors[k])
		}
	}
	for _, h := range r.Hooks {
		res := strconv.Itoa(h.Status)
		if h.Error != "" {
			res = h.Error
		}
		fmt.Fprintf(w, "hook at %s: %s -> %s\n", fmtMs(h.AtMs), h.Spec, res)
	}
	for _, s := range r.Warnings {
		fmt.Fprintln(w, "WARNING:", s)
	}
	return nil
}

func sortedKeys(m map[string]int64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if m[ks[i]] != m[ks[j]] {
			return m[ks[i]] > m[ks[j]]
		}
		return ks[i] < ks[j]
	})
	return ks
}

// String is the text summary.
func (r *Report) String() string {
	var b strings.Builder
	_ = r.WriteText(&b)
	return b.String()
}

// WriteJSONFile writes the report as indented JSON.
func (r *Report) WriteJSONFile(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
