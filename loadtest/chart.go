package loadtest

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// The report draws its charts as inline SVG built here, so the page needs
// no script, no CDN and no network: it opens offline as a single file.

type series struct {
	name, color string
	values      []float64
	dashed      bool
}

type marker struct {
	x     float64 // seconds
	tag   string  // drawn on the chart, short: "hook 1"
	label string  // the full hook, in the tooltip and the hooks table
}

// Rough text widths of the chart's fonts (DejaVu/Liberation sans at 10 and
// 11 px), for laying out labels without a browser: generous, so a label
// drawn from the estimate stays clear of its neighbours.
const (
	markCharW   = 6.2
	legendCharW = 7
)

const (
	chartW, chartH         = 900, 280
	padL, padR, padT, padB = 64, 16, 28, 40
)

func fmtTick(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 1000:
		return strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
	case math.Abs(v) < 1:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// niceMax rounds up to 1, 2 or 5 × 10^k.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*e {
			return m * e
		}
	}
	return 10 * e
}

// lineChart renders one SVG chart; with logY the y axis is log10, which keeps
// a single slow outlier from flattening the percentiles.
func lineChart(id, title, unit string, n int, ss []series, logY bool, marks []marker) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="%s" class="chart" role="img" aria-label="%s" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">`,
		id, html.EscapeString(title), chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="18" class="ct">%s</text>`, padL, html.EscapeString(title))
	// The legend sits on the title row, right-aligned, outside the plot: hook
	// labels inside the plot can never run into it.
	legendW := 0
	for _, s := range ss {
		legendW += 28 + legendCharW*len(s.name)
	}
	lx := chartW - padR - legendW
	b.WriteString(`<g class="legend">`)
	for _, s := range ss {
		fmt.Fprintf(&b, `<rect x="%d" y="11" width="12" height="3" fill="%s"/><text x="%d" y="16" class="lg">%s</text>`,
			lx, s.color, lx+16, html.EscapeString(s.name))
		lx += 28 + legendCharW*len(s.name)
	}
	b.WriteString(`</g>`)
	pw, ph := float64(chartW-padL-padR), float64(chartH-padT-padB)
	maxV, minPos := 0.0, math.Inf(1)
	for _, s := range ss {
		for _, v := range s.values {
			maxV = math.Max(maxV, v)
			if v > 0 {
				minPos = math.Min(minPos, v)
			}
		}
	}
	var lo, hi float64
	var ticks []float64
	if logY {
		if math.IsInf(minPos, 1) {
			minPos = 1
		}
		lo = math.Floor(math.Log10(minPos))
		hi = math.Ceil(math.Log10(math.Max(maxV, minPos*10)))
		if hi <= lo {
			hi = lo + 1
		}
		for e := lo; e <= hi; e++ {
			ticks = append(ticks, math.Pow(10, e))
		}
	} else {
		hi = niceMax(maxV)
		for i := 0; i <= 4; i++ {
			ticks = append(ticks, hi*float64(i)/4)
		}
	}
	y := func(v float64) float64 {
		if logY {
			if v <= 0 {
				return float64(padT) + ph
			}
			return float64(padT) + ph*(1-(math.Log10(v)-lo)/(hi-lo))
		}
		return float64(padT) + ph*(1-v/hi)
	}
	// Point i covers second [i, i+1): it is drawn at its middle, so a change
	// lines up with the moment (and hook marker) that caused it.
	xmax := math.Max(float64(n), 1)
	x := func(sec float64) float64 { return float64(padL) + pw*sec/xmax }
	for _, t := range ticks {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/><text x="%d" y="%.1f" class="yt">%s</text>`,
			padL, chartW-padR, y(t), y(t), padL-6, y(t)+4, fmtTick(t))
	}
	fmt.Fprintf(&b, `<text x="14" y="%d" class="ax" transform="rotate(-90 14 %d)">%s</text>`, padT+int(ph/2), padT+int(ph/2), html.EscapeString(unit))
	step := max(1, int(math.Ceil(xmax/10)))
	for i := 0; i <= n; i += step {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="xt">%ds</text>`, x(float64(i)), chartH-padB+16, i)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="ax">time since start</text>`, padL+int(pw/2), chartH-6)
	// Labels go right of their line, or left of it near the right edge so
	// they are never cut; a label that would touch an earlier one on its
	// row moves down a row.
	var rowEnd []float64 // right end of the last label on each row
	for _, m := range marks {
		if m.x < 0 || m.x > xmax {
			continue
		}
		mx := x(m.x)
		w := markCharW * float64(len(m.tag))
		left, anchor, tx := mx+3, "start", mx+3
		if left+w > float64(chartW-padR) {
			left, anchor, tx = mx-3-w, "end", mx-3
		}
		row := 0
		for row < len(rowEnd) && rowEnd[row]+4 > left {
			row++
		}
		if row == len(rowEnd) {
			rowEnd = append(rowEnd, 0)
		}
		rowEnd[row] = left + w
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" class="mark"><title>%s</title></line>`+
			`<text x="%.1f" y="%d" class="mt" text-anchor="%s"><title>%s</title>%s</text>`,
			mx, mx, padT, float64(padT)+ph, html.EscapeString(m.label),
			tx, padT+10+14*row, anchor, html.EscapeString(m.label), html.EscapeString(m.tag))
	}
	for _, s := range ss {
		if len(s.values) == 0 {
			continue
		}
		var pts strings.Builder
		for i, v := range s.values {
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(float64(i)+0.5), y(v))
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="5 3"`
		}
		fmt.Fprintf(&b, `<polyline class="series" data-series="%s" fill="none" stroke="%s" stroke-width="1.8"%s points="%s"><title>%s</title></polyline>`,
			html.EscapeString(s.name), s.color, dash, strings.TrimSpace(pts.String()), html.EscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every interpolated string above is escaped
}
