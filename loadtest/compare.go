package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"
)

// CompareConfig runs the same workload against two targets in alternation:
// Rounds segments each of A then B, so drift on the machine (other load,
// thermal, a growing chain) hits both sides alike.
type CompareConfig struct {
	A, B   string
	Rounds int    // alternations (default 4)
	Base   Config // Duration is per side in total; Target is ignored
	// NewSource returns the workload for a segment. It is called with the
	// same round number for A and B so both get the same requests.
	NewSource func(round int, target string) (Source, func(), error)
}

// Comparison is the outcome of Compare: the two reports and B/A ratios.
type Comparison struct {
	A      *Report            `json:"a"`
	B      *Report            `json:"b"`
	Ratios map[string]float64 `json:"ratios_b_over_a"`
}

// Compare runs cfg and returns both reports with B/A ratios.
func Compare(ctx context.Context, cfg CompareConfig) (*Comparison, error) {
	if cfg.A == "" || cfg.B == "" || cfg.NewSource == nil {
		return nil, errors.New("loadtest: compare needs two targets and a workload")
	}
	if cfg.Rounds <= 0 {
		cfg.Rounds = 4
	}
	if cfg.Base.Duration <= 0 {
		return nil, errors.New("loadtest: compare needs a duration")
	}
	seg := cfg.Base.Duration / time.Duration(cfg.Rounds)
	if seg < 100*time.Millisecond {
		return nil, errors.New("loadtest: compare segments would be shorter than 100ms; fewer rounds or a longer duration")
	}
	sides := []struct {
		url   string
		coll  *collector
		runs  []*runInfo
		total time.Duration
	}{{url: cfg.A, coll: newCollector()}, {url: cfg.B, coll: newCollector()}}
	for round := 0; round < cfg.Rounds; round++ {
		for i := range sides {
			s := &sides[i]
			src, done, err := cfg.NewSource(round, s.url)
			if err != nil {
				return nil, err
			}
			c := cfg.Base
			c.Target, c.Duration = s.url, seg
			info, err := run(ctx, c, src, s.coll, s.total)
			if done != nil {
				done()
			}
			if err != nil {
				return nil, err
			}
			s.runs = append(s.runs, info)
			// The next segment's timeline continues on the next whole second.
			s.total += info.elapsed.Truncate(time.Second) + time.Second
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	out := &Comparison{Ratios: map[string]float64{}}
	for i := range sides {
		c := cfg.Base
		c.Target = sides[i].url
		c.Mode = cfg.Base.Mode + " (compare " + []string{"A", "B"}[i] + ")"
		rep := sides[i].coll.report(c, sides[i].runs...)
		if i == 0 {
			out.A = rep
		} else {
			out.B = rep
		}
	}
	ratio := func(name string, a, b float64) {
		if a > 0 {
			out.Ratios[name] = b / a
		}
	}
	a, b := out.A, out.B
	ratio("p50", a.Latency.P50, b.Latency.P50)
	ratio("p90", a.Latency.P90, b.Latency.P90)
	ratio("p99", a.Latency.P99, b.Latency.P99)
	ratio("p99_9", a.Latency.P999, b.Latency.P999)
	ratio("max", a.Latency.Max, b.Latency.Max)
	ratio("throughput", a.Throughput, b.Throughput)
	return out, nil
}

// WriteText prints both sides and the ratios.
func (c *Comparison) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "A = %s\nB = %s\n\n", c.A.Target, c.B.Target)
	fmt.Fprintln(tw, "\tA\tB\tB/A\t")
	row := func(name, key string, a, b float64, f func(float64) string) {
		r := "-"
		if v, ok := c.Ratios[key]; ok {
			r = fmt.Sprintf("%.2f", v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", name, f(a), f(b), r)
	}
	rps := func(v float64) string { return fmt.Sprintf("%.0f/s", v) }
	cnt := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	row("throughput", "throughput", c.A.Throughput, c.B.Throughput, rps)
	row("p50", "p50", c.A.Latency.P50, c.B.Latency.P50, fmtMs)
	row("p90", "p90", c.A.Latency.P90, c.B.Latency.P90, fmtMs)
	row("p99", "p99", c.A.Latency.P99, c.B.Latency.P99, fmtMs)
	row("p99.9", "p99_9", c.A.Latency.P999, c.B.Latency.P999, fmtMs)
	row("max", "max", c.A.Latency.Max, c.B.Latency.Max, fmtMs)
	row("failed", "", float64(c.A.Failed), float64(c.B.Failed), cnt)
	row("rpc errors", "", float64(c.A.RPCErrors), float64(c.B.RPCErrors), cnt)
	row("late sends", "", float64(c.A.Late), float64(c.B.Late), cnt)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range []*Report{c.A, c.B} {
		for _, s := range r.Warnings {
			fmt.Fprintf(w, "WARNING (%s): %s\n", r.Target, s)
		}
	}
	return nil
}

// WriteJSONFile writes the comparison as indented JSON.
func (c *Comparison) WriteJSONFile(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
