package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// StateDirName is the agent's directory inside the data directory: restore
// staging, journal, lock and status files. goloop ignores directories without
// a chain config, and snapshots never include it.
const StateDirName = ".icon-node-agent"

// Progress counts a running snapshot or restore; safe for concurrent use.
type Progress struct {
	TotalBytes  atomic.Int64 // bytes the operation covers
	DoneBytes   atomic.Int64 // bytes hashed+uploaded-or-skipped / fetched+verified or already restored
	Transferred atomic.Int64 // bytes moved over the network by this run
	TotalParts  atomic.Int64
	DoneParts   atomic.Int64
}

// Status is what a snapshot or restore publishes in the data directory, for
// the health sidecar (503 while a restore runs) and its /metrics.
type Status struct {
	Op               string     `json:"op"`    // "restore" or "snapshot"
	State            string     `json:"state"` // running, done, failed
	Snapshot         string     `json:"snapshot,omitempty"`
	PID              int        `json:"pid"`
	Started          time.Time  `json:"started"`
	Updated          time.Time  `json:"updated"`
	Finished         *time.Time `json:"finished,omitempty"`
	BytesTotal       int64      `json:"bytes_total"`
	BytesDone        int64      `json:"bytes_done"`
	BytesTransferred int64      `json:"bytes_transferred"`
	Error            string     `json:"error,omitempty"`
}

// Status states.
const (
	StateRunning = "running"
	StateDone    = "done"
	StateFailed  = "failed"
)

func statusPath(dataDir, op string) string {
	return filepath.Join(dataDir, StateDirName, op+".json")
}

// writeStatus replaces the status file atomically.
func writeStatus(dataDir string, s *Status) error {
	s.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	p := statusPath(dataDir, s.Op)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// statusWriter keeps a status file current from a Progress.
type statusWriter struct {
	dir string
	st  Status
	p   *Progress
}

func newStatusWriter(dataDir, op, id string, p *Progress) *statusWriter {
	return &statusWriter{dir: dataDir, p: p, st: Status{Op: op, State: StateRunning, Snapshot: id, PID: os.Getpid(), Started: time.Now().UTC()}}
}

func (w *statusWriter) update() error {
	w.st.BytesTotal = w.p.TotalBytes.Load()
	w.st.BytesDone = w.p.DoneBytes.Load()
	w.st.BytesTransferred = w.p.Transferred.Load()
	return writeStatus(w.dir, &w.st)
}

// keepUpdated rewrites the status every interval until stop returns.
func (w *statusWriter) keepUpdated(every time.Duration) (stop func()) {
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				_ = w.update()
			}
		}
	}()
	return func() { close(quit); <-exited }
}

func (w *statusWriter) finish(err error) error {
	now := time.Now().UTC()
	w.st.Finished = &now
	w.st.State = StateDone
	if err != nil {
		w.st.State = StateFailed
		w.st.Error = err.Error()
	}
	return w.update()
}

// ReadStatus returns the last status of op ("restore" or "snapshot") in
// dataDir, or nil when there is none.
func ReadStatus(dataDir, op string) (*Status, error) {
	b, err := os.ReadFile(statusPath(dataDir, op))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", statusPath(dataDir, op), err)
	}
	return &s, nil
}

// RestoreState tells the health check whether the data directory may be
// served from. An unfinished restore, running or interrupted, means no.
func RestoreState(dataDir string) (restoring bool, reason string) {
	s, err := ReadStatus(dataDir, "restore")
	if err != nil {
		return true, "restore status unreadable: " + err.Error()
	}
	if s == nil || s.State == StateDone {
		return false, ""
	}
	running := restoreLockHeld(dataDir)
	switch {
	case running:
		return true, fmt.Sprintf("restore of snapshot %s in progress (pid %d, %d of %d bytes)", s.Snapshot, s.PID, s.BytesDone, s.BytesTotal)
	case s.State == StateFailed:
		return true, fmt.Sprintf("restore of snapshot %s failed, data incomplete: %s", s.Snapshot, s.Error)
	default:
		return true, fmt.Sprintf("restore of snapshot %s interrupted (pid %d gone), data incomplete", s.Snapshot, s.PID)
	}
}

const restoreLockName = "restore.lock"

func restoreLockHeld(dataDir string) bool {
	held, err := lockHeld(filepath.Join(dataDir, StateDirName, restoreLockName))
	return err == nil && held
}
