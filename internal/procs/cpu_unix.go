//go:build unix

package procs

import (
	"syscall"
	"time"
)

const canMeasure = true

// cpuTime is the user and system CPU time the whole process has used: time
// in system calls counts, as it holds a processor too.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
