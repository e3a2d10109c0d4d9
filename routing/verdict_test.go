package routing

import (
	"strings"
	"testing"
)

func TestVerdictNeedsKConsecutiveObservationsToFlip(t *testing.T) {
	v := NewVerdict(VerdictConfig{})
	if v.Ready() || !strings.Contains(v.Reason(), "no observation yet") {
		t.Fatalf("before any observation: %v %q", v.Ready(), v.Reason())
	}
	if !v.Observe(Observation{InSync: 2}) {
		t.Fatal("the first observation decides at once")
	}
	// One, two blinks out of sync, separated by a good one: no flip.
	for i, o := range []Observation{{InSync: 0}, {InSync: 0}, {InSync: 1}, {InSync: 0}, {InSync: 0}} {
		if !v.Observe(o) {
			t.Fatalf("observation %d flipped the verdict early", i)
		}
	}
	if !strings.Contains(v.Reason(), "2 of 3 observations toward not ready") {
		t.Fatalf("reason %q", v.Reason())
	}
	if v.Observe(Observation{InSync: 0}) {
		t.Fatal("third bad observation in a row must flip to not ready")
	}
	if v.Observe(Observation{InSync: 1}) || v.Observe(Observation{InSync: 1}) {
		t.Fatal("recovered after fewer than 3 good observations")
	}
	if !v.Observe(Observation{InSync: 1}) || !v.Ready() {
		t.Fatal("three good observations must flip back to ready")
	}
}

func TestDrainingIsImmediateAndMinSyncedNodesCounts(t *testing.T) {
	v := NewVerdict(VerdictConfig{MinSyncedNodes: 2, FlipAfter: 2})
	if v.Observe(Observation{InSync: 1}) {
		t.Fatal("1 node in sync with min_synced_nodes 2 is not ready")
	}
	v.Observe(Observation{InSync: 2})
	if !v.Observe(Observation{InSync: 3}) {
		t.Fatal("flip_after 2: two good observations make it ready")
	}
	if v.Observe(Observation{InSync: 3, Draining: true}) || v.Reason() != "not ready: draining" {
		t.Fatalf("draining must fail /readyz at once: %q", v.Reason())
	}
}

func TestVerdictConfigValidate(t *testing.T) {
	if err := (VerdictConfig{MinSyncedNodes: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "min_synced_nodes") {
		t.Fatalf("got %v", err)
	}
	if err := (VerdictConfig{FlipAfter: 1000}).Validate(); err == nil || !strings.Contains(err.Error(), "flip_after") {
		t.Fatalf("got %v", err)
	}
	if err := (VerdictConfig{}).Validate(); err == nil {
		t.Error("a zero min_synced_nodes written in a file was accepted")
	}
	if err := DefaultVerdictConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}
