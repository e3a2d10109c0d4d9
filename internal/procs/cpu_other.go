//go:build !unix

package procs

import "time"

// Without getrusage the process's CPU time is unknown: adaptive falls back to all.
const canMeasure = false

func cpuTime() time.Duration { return 0 }
