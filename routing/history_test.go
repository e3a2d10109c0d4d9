package routing

import (
	"fmt"
	"testing"
	"time"
)

func TestHistoryKeepsPerMinuteAvailabilityForTheLastHours(t *testing.T) {
	h := NewHistory(2)
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	// 3 hours of observations every 10 s; the region is down from minute
	// 150 to 159 and half up in minute 170.
	for s := 0; s < 3*3600; s += 10 {
		m := s / 60
		up := m < 150 || m >= 160
		if m == 170 {
			up = s%20 == 0
		}
		h.Record("eu", t0.Add(time.Duration(s)*time.Second), up)
	}
	now := t0.Add(3*time.Hour - time.Second)
	series := h.Series("eu", now)
	if len(series) != 120 {
		t.Fatalf("%d samples for 2 hours", len(series))
	}
	if series[0].Minute != t0.Add(time.Hour) || series[119].Minute != t0.Add(179*time.Minute) {
		t.Fatalf("series spans %v .. %v", series[0].Minute, series[119].Minute)
	}
	for i, s := range series {
		m := 60 + i
		a, ok := s.Availability()
		want := 1.0
		switch {
		case m >= 150 && m < 160:
			want = 0
		case m == 170:
			want = 0.5
		}
		if !ok || s.Total != 6 || a != want {
			t.Fatalf("minute %d: %+v availability %v, want %v", m, s, a, want)
		}
	}
	a, _ := h.Availability("eu", now)
	if want := (120.0 - 10 - 0.5) / 120; fmt.Sprintf("%.4f", a) != fmt.Sprintf("%.4f", want) {
		t.Fatalf("availability %v, want %v", a, want)
	}
	// Minutes without data, and unknown regions, have no samples.
	later := h.Series("eu", now.Add(30*time.Minute))
	if later[119].Total != 0 || later[89].Total != 6 {
		t.Fatalf("gap not empty: %+v %+v", later[119], later[89])
	}
	if _, ok := h.Availability("mars", now); ok {
		t.Fatal("an unknown region has availability")
	}
	// An observation older than what a cell holds is dropped.
	h.Record("eu", t0, false)
	if s := h.Series("eu", now)[0]; s.Up != 6 {
		t.Fatalf("old observation landed in a newer minute: %+v", s)
	}
}

func TestHistoryMemoryIsBounded(t *testing.T) {
	h := NewHistory(10_000)
	if h.Hours() != 7*24 {
		t.Fatalf("hours %d", h.Hours())
	}
	for i := range MaxHistoryRegions + 10 {
		h.Record(fmt.Sprintf("r%d", i), time.Now(), true)
	}
	if n := len(h.Regions()); n != MaxHistoryRegions {
		t.Fatalf("%d regions kept", n)
	}
}
