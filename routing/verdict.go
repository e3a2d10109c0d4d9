package routing

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/icon-edge/icon-edge/internal/confkey"
)

// VerdictConfig tunes the region's readiness (/readyz).
type VerdictConfig struct {
	// MinSyncedNodes is how many nodes must be in sync for the region to be
	// ready; default 1.
	MinSyncedNodes int `yaml:"min_synced_nodes"`
	// FlipAfter is how many consecutive observations must disagree with the
	// current verdict before it changes; default 3. With one observation
	// per probe round, a node that blinks out of sync for one round does not
	// make a monitor see the region flap.
	FlipAfter int `yaml:"flip_after"`
}

// Defaults fills unset fields.
func (c VerdictConfig) withDefaults() VerdictConfig {
	if c.MinSyncedNodes == 0 {
		c.MinSyncedNodes = 1
	}
	if c.FlipAfter == 0 {
		c.FlipAfter = 3
	}
	return c
}

// DefaultVerdictConfig is the readiness configuration when nothing is set.
func DefaultVerdictConfig() VerdictConfig { return VerdictConfig{}.withDefaults() }

// Validate checks the settings as written (a configuration file starts from
// DefaultVerdictConfig, so a zero there is the operator's and is refused).
func (c VerdictConfig) Validate() error {
	var errs []error
	if c.MinSyncedNodes < 1 {
		errs = append(errs, confkey.New("min_synced_nodes", "must be at least 1, got %d", c.MinSyncedNodes))
	}
	if c.FlipAfter < 1 || c.FlipAfter > 100 {
		errs = append(errs, confkey.New("flip_after", "must be between 1 and 100, got %d", c.FlipAfter))
	}
	return errors.Join(errs...)
}

// Verdict is the region's readiness with hysteresis. The first observation
// decides at once (there is nothing to flap from); after that the verdict
// changes only when FlipAfter observations in a row disagree with it. Draining
// is the exception: it makes the region not ready at the very observation
// that reports it, because an operator asked for it and balancers must
// move away during the drain delay.
type Verdict struct {
	cfg   VerdictConfig
	ready atomic.Bool // read on every /readyz

	mu       sync.Mutex
	observed bool
	streak   int // consecutive observations against the verdict
	last     Observation
}

// Observation is one look at the region.
type Observation struct {
	InSync   int  // nodes in sync with the tip
	Draining bool // the edge is shutting down or drained by an operator
}

// NewVerdict starts not ready, before any observation.
func NewVerdict(cfg VerdictConfig) *Verdict {
	return &Verdict{cfg: cfg.withDefaults()}
}

// Observe records one look and returns the verdict after it.
func (v *Verdict) Observe(o Observation) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.last = o
	want := o.InSync >= v.cfg.MinSyncedNodes && !o.Draining
	cur := v.ready.Load()
	switch {
	case !v.observed || o.Draining:
		v.observed = true
		v.streak = 0
		v.ready.Store(want)
	case want == cur:
		v.streak = 0
	default:
		v.streak++
		if v.streak >= v.cfg.FlipAfter {
			v.streak = 0
			v.ready.Store(want)
		}
	}
	return v.ready.Load()
}

// Ready is the current verdict.
func (v *Verdict) Ready() bool { return v.ready.Load() }

// Reason explains the verdict in one line, for the /readyz body and logs.
func (v *Verdict) Reason() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	ready := v.ready.Load()
	switch {
	case !v.observed:
		return "not ready: no observation yet"
	case v.last.Draining:
		return "not ready: draining"
	case ready && v.streak > 0:
		return fmt.Sprintf("ready: %d node(s) in sync (minimum %d); %d of %d observations toward not ready",
			v.last.InSync, v.cfg.MinSyncedNodes, v.streak, v.cfg.FlipAfter)
	case ready:
		return fmt.Sprintf("ready: %d node(s) in sync (minimum %d)", v.last.InSync, v.cfg.MinSyncedNodes)
	case v.streak > 0:
		return fmt.Sprintf("not ready: %d node(s) in sync (minimum %d); %d of %d observations toward ready",
			v.last.InSync, v.cfg.MinSyncedNodes, v.streak, v.cfg.FlipAfter)
	default:
		return fmt.Sprintf("not ready: %d node(s) in sync (minimum %d)", v.last.InSync, v.cfg.MinSyncedNodes)
	}
}
