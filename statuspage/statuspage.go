// Package statuspage renders GET /status: every region of the edge (this
// one and its peers) with readiness, chain tip, lag behind the highest tip,
// traffic, latency and the last hours of availability, for the public. It
// is plain server-rendered HTML with its stylesheet inlined: readable
// without JavaScript (a small inline script only reloads it), nothing
// fetched from anywhere, and no node address — its inputs have none.
package statuspage

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/icon-edge/icon-edge/routing"
)

// Region is one card on the page.
type Region struct {
	Summary routing.RegionSummary // the last good summary (zero when none)
	Self    bool                  // the region serving the page
	Known   bool                  // a summary has been received (always true for Self)
	Up      bool                  // ready (Self) or healthy (a peer)
	Age     time.Duration         // age of Summary; 0 for Self
	History []routing.Sample      // per minute, oldest first; may be empty
}

// Page is everything the page shows.
type Page struct {
	Title        string        // default "icon-edge status"
	Generated    time.Time     // default now
	Regions      []Region      // in display order: this region first, then peers by preference
	HistoryHours int           // what History spans, for the chart's caption
	Refresh      time.Duration // the inline script reloads after this; 0: 30 s, negative: never
}

// Build assembles a page from this region's summary and verdict, the peer
// poller's states and the availability history.
func Build(self routing.RegionSummary, peers []routing.PeerState, hist *routing.History, now time.Time) Page {
	p := Page{Generated: now}
	if hist != nil {
		p.HistoryHours = hist.Hours()
	}
	series := func(name string) []routing.Sample {
		if hist == nil {
			return nil
		}
		return hist.Series(name, now)
	}
	p.Regions = append(p.Regions, Region{Summary: self, Self: true, Known: true, Up: self.Ready, History: series(self.Name)})
	for _, ps := range peers {
		r := Region{Summary: ps.Summary, Known: ps.HasSummary, Up: ps.Healthy, Age: ps.Age, History: series(ps.Name)}
		r.Summary.Name = ps.Name // the configured name, whatever the peer says
		p.Regions = append(p.Regions, r)
	}
	return p
}

//go:embed page.html.tmpl
var pageHTML string

//go:embed style.css
var styleCSS string

var tmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"css":       func() template.CSS { return template.CSS(styleCSS) },
	"num":       groupDigits,
	"pct":       percent,
	"ms":        millis,
	"rate":      rate,
	"ago":       ago,
	"utc":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"chart":     chart,
	"uptime":    uptime,
	"refreshS":  func(d time.Duration) int { return int(d / time.Second) },
	"refreshMs": func(d time.Duration) int64 { return d.Milliseconds() },
}).Parse(pageHTML))

// view is the template's data.
type view struct {
	Page
	Cards   []card
	Up      int
	MaxTip  int64
	Overall string
	Class   string
}

type card struct {
	Region
	Lag    int64
	Status string // Operational, Down, No answer
	Class  string // up, down, unknown
}

func (p Page) view() view {
	if p.Title == "" {
		p.Title = "icon-edge status"
	}
	if p.Generated.IsZero() {
		p.Generated = time.Now()
	}
	if p.Refresh == 0 {
		p.Refresh = 30 * time.Second
	}
	v := view{Page: p}
	for _, r := range p.Regions {
		if r.Known && r.Summary.Tip > v.MaxTip {
			v.MaxTip = r.Summary.Tip
		}
	}
	for _, r := range p.Regions {
		c := card{Region: r}
		switch {
		case !r.Known:
			c.Status, c.Class = "No answer", "unknown"
		case r.Up:
			c.Status, c.Class = "Operational", "up"
			v.Up++
		default:
			c.Status, c.Class = "Down", "down"
		}
		if r.Known {
			c.Lag = v.MaxTip - r.Summary.Tip
		}
		v.Cards = append(v.Cards, c)
	}
	switch n := len(v.Cards); {
	case n > 0 && v.Up == n:
		v.Overall, v.Class = "All regions operational", "up"
	case v.Up == 0:
		v.Overall, v.Class = "No region is operational", "down"
	default:
		v.Overall, v.Class = fmt.Sprintf("%d of %d regions operational", v.Up, n), "partial"
	}
	return v
}

// Render writes the page.
func Render(w io.Writer, p Page) error { return tmpl.Execute(w, p.view()) }

// Handler serves the page built by build for each request.
func Handler(build func() Page) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if !ctx.IsGet() && !ctx.IsHead() {
			ctx.Response.Header.Set("Allow", "GET, HEAD")
			ctx.Error("method not allowed", fasthttp.StatusMethodNotAllowed)
			return
		}
		var buf bytes.Buffer
		if err := Render(&buf, build()); err != nil {
			ctx.Error("cannot render the status page", fasthttp.StatusInternalServerError)
			return
		}
		h := &ctx.Response.Header
		h.SetContentType("text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		// Everything is inline; the policy makes sure nothing else loads.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		ctx.SetBody(buf.Bytes())
	}
}
