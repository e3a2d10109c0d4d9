// Regions as one system: each region's public summary (/region.json, this
// file), the peer poller that tells every edge which other regions are
// healthy and which to fail over to first (peers.go), the region's readiness
// with hysteresis for /readyz (verdict.go), the one-minute traffic window
// behind the summary (window.go) and the availability history the status
// page draws (history.go). The Cloudflare side lives in routing/cloudflare.

package routing

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/valyala/fasthttp"
)

// RegionSummary is GET /region.json: one region as peers, the status page
// and people see it. It is public: it never carries a node address, and it
// has no field that could (node counts only).
type RegionSummary struct {
	Name        string    `json:"name"`
	Ready       bool      `json:"ready"`
	InSync      int       `json:"in_sync"`      // nodes in sync with the tip
	Total       int       `json:"total"`        // nodes known
	Tip         int64     `json:"tip"`          // highest block height seen
	RequestRate float64   `json:"request_rate"` // requests per second, last minute
	ErrorRate   float64   `json:"error_rate"`   // failed / all, last minute, 0..1
	P50Ms       float64   `json:"p50_ms"`       // latency percentiles, last minute
	P99Ms       float64   `json:"p99_ms"`
	Version     string    `json:"version"`
	PublicURL   string    `json:"public_url,omitempty"` // this region's own public URL, when configured
	ObservedAt  time.Time `json:"observed_at"`
}

// SetWindow fills the traffic figures from a window's stats.
func (s *RegionSummary) SetWindow(st WindowStats) {
	s.RequestRate = round(st.Rate, 3)
	s.ErrorRate = round(st.ErrorRate, 6)
	s.P50Ms = round(float64(st.P50)/float64(time.Millisecond), 3)
	s.P99Ms = round(float64(st.P99)/float64(time.Millisecond), 3)
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// Check rejects a summary no sane edge sends; a peer's answer is checked
// before anyone relies on it.
func (s *RegionSummary) Check() error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, errors.New("no name"))
	}
	if s.InSync < 0 || s.Total < 0 || s.InSync > s.Total {
		errs = append(errs, fmt.Errorf("node counts in_sync %d of total %d", s.InSync, s.Total))
	}
	if s.Tip < 0 {
		errs = append(errs, fmt.Errorf("tip %d", s.Tip))
	}
	if s.RequestRate < 0 || s.ErrorRate < 0 || s.ErrorRate > 1 || s.P50Ms < 0 || s.P99Ms < 0 {
		errs = append(errs, errors.New("negative or out-of-range traffic figures"))
	}
	return errors.Join(errs...)
}

// SummaryHandler serves /region.json from get, which is called per request.
// Anyone may read it, from any origin: it is public by design.
func SummaryHandler(get func() RegionSummary) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if !ctx.IsGet() && !ctx.IsHead() {
			ctx.Response.Header.Set("Allow", "GET, HEAD")
			ctx.Error("method not allowed", fasthttp.StatusMethodNotAllowed)
			return
		}
		body, err := json.Marshal(get())
		if err != nil {
			ctx.Error("cannot encode the summary", fasthttp.StatusInternalServerError)
			return
		}
		ctx.SetContentType("application/json")
		ctx.Response.Header.Set("Cache-Control", "no-store")
		ctx.Response.Header.Set("Access-Control-Allow-Origin", "*")
		ctx.SetBody(append(body, '\n'))
	}
}
