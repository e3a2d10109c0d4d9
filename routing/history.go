package routing

import (
	"sync"
	"time"
)

// History keeps each region's availability per minute for the last hours,
// for the status page's chart. Memory is fixed: hours×60 samples of 16
// bytes per region, for at most MaxHistoryRegions regions.
type History struct {
	mu      sync.Mutex
	minutes int
	regions map[string]*ring
	order   []string
}

// MaxHistoryRegions bounds how many regions a History tracks; regions come
// from configuration, so this is a guard, not a limit anyone should reach.
const MaxHistoryRegions = 64

// Sample is one minute of one region: how many observations found it up,
// out of how many. Total 0: no data for that minute.
type Sample struct {
	Minute time.Time // start of the minute, UTC
	Up     uint32
	Total  uint32
}

// Availability is Up/Total; ok false without data.
func (s Sample) Availability() (float64, bool) {
	if s.Total == 0 {
		return 0, false
	}
	return float64(s.Up) / float64(s.Total), true
}

type ring struct {
	minute []int64 // unix minute held by each cell
	up     []uint32
	total  []uint32
}

// NewHistory keeps the last hours (default 6, at most 7 days).
func NewHistory(hours int) *History {
	if hours <= 0 {
		hours = 6
	}
	hours = min(hours, 7*24)
	return &History{minutes: hours * 60, regions: map[string]*ring{}}
}

// Hours is how far back the history reaches.
func (h *History) Hours() int { return h.minutes / 60 }

// Record counts one observation of a region at a time. Observations older
// than the history, or of a region past MaxHistoryRegions, are dropped.
func (h *History) Record(region string, at time.Time, up bool) {
	m := at.Unix() / 60
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.regions[region]
	if r == nil {
		if len(h.regions) >= MaxHistoryRegions {
			return
		}
		r = &ring{minute: make([]int64, h.minutes), up: make([]uint32, h.minutes), total: make([]uint32, h.minutes)}
		for i := range r.minute {
			r.minute[i] = -1
		}
		h.regions[region] = r
		h.order = append(h.order, region)
	}
	i := int(m % int64(h.minutes))
	switch {
	case r.minute[i] == m:
	case r.minute[i] > m:
		return // the cell already holds a later minute
	default:
		r.minute[i], r.up[i], r.total[i] = m, 0, 0
	}
	r.total[i]++
	if up {
		r.up[i]++
	}
}

// Regions lists the regions recorded, in first-seen order.
func (h *History) Regions() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.order...)
}

// Series returns one sample per minute, oldest first, ending with the
// minute of now; minutes without observations have Total 0.
func (h *History) Series(region string, now time.Time) []Sample {
	end := now.Unix() / 60
	out := make([]Sample, h.minutes)
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.regions[region]
	for k := range out {
		m := end - int64(h.minutes-1-k)
		out[k].Minute = time.Unix(m*60, 0).UTC()
		if r == nil {
			continue
		}
		if i := int(m % int64(h.minutes)); r.minute[i] == m {
			out[k].Up, out[k].Total = r.up[i], r.total[i]
		}
	}
	return out
}

// Availability over the whole history: observations up / observations.
func (h *History) Availability(region string, now time.Time) (float64, bool) {
	var up, total uint64
	for _, s := range h.Series(region, now) {
		up += uint64(s.Up)
		total += uint64(s.Total)
	}
	if total == 0 {
		return 0, false
	}
	return float64(up) / float64(total), true
}
