package statuspage

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/icon-edge/icon-edge/routing"
)

// groupDigits writes 12345678 as 12,345,678.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func percent(f float64) string {
	switch v := f * 100; {
	case v == 0:
		return "0 %"
	case v < 0.01:
		return "<0.01 %"
	case v < 10:
		return fmt.Sprintf("%.2f %%", v)
	default:
		return fmt.Sprintf("%.1f %%", v)
	}
}

func millis(v float64) string {
	switch {
	case v == 0:
		return "–"
	case v < 10:
		return fmt.Sprintf("%.1f ms", v)
	case v < 1000:
		return fmt.Sprintf("%.0f ms", v)
	default:
		return fmt.Sprintf("%.1f s", v/1000)
	}
}

func rate(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.1f/s", v)
	}
	return fmt.Sprintf("%.0f/s", v)
}

func ago(d time.Duration) string {
	switch {
	case d < 2*time.Second:
		return "just now"
	case d < 2*time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	default:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
}

// uptime is the availability over the whole history, or "" without data.
func uptime(samples []routing.Sample) string {
	var up, total uint64
	for _, s := range samples {
		up += uint64(s.Up)
		total += uint64(s.Total)
	}
	if total == 0 {
		return ""
	}
	v := 100 * float64(up) / float64(total)
	if v < 100 && v >= 99.995 {
		return "99.99 %"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " %"
}

// barCount is how many bars the availability chart has; minutes are
// grouped into them (6 hours: 5 minutes a bar).
const barCount = 72

// chart draws availability as a row of bars, one per group of minutes:
// green when fully up, amber when partly, red when down, grey without data.
// Each bar has a title with its time range and availability.
func chart(samples []routing.Sample) template.HTML {
	if len(samples) == 0 {
		return ""
	}
	per := (len(samples) + barCount - 1) / barCount
	n := (len(samples) + per - 1) / per
	const w, h, gap = 4.0, 28.0, 1.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" preserveAspectRatio="none" role="img" aria-label="availability, one bar per %d minutes">`,
		float64(n)*(w+gap)-gap, h, per)
	for i := 0; i < n; i++ {
		group := samples[i*per : min((i+1)*per, len(samples))]
		var up, total uint32
		for _, s := range group {
			up += s.Up
			total += s.Total
		}
		class, label := "none", "no data"
		if total > 0 {
			a := float64(up) / float64(total)
			label = strconv.FormatFloat(100*a, 'f', 1, 64) + " % available"
			switch {
			case a >= 0.999:
				class = "ok"
			case a >= 0.5:
				class = "partial"
			default:
				class = "bad"
			}
		}
		from := group[0].Minute.UTC().Format("15:04")
		to := group[len(group)-1].Minute.Add(time.Minute).UTC().Format("15:04")
		fmt.Fprintf(&b, `<rect class="%s" x="%g" y="0" width="%g" height="%g"><title>%s–%s UTC: %s</title></rect>`,
			class, float64(i)*(w+gap), w, h, from, to, label)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built only from numbers and fixed strings
}
