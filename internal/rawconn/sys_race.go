//go:build race || msan || asan

package rawconn

import (
	"errors"
	"syscall"
)

// Under the race detector (and the memory sanitizers) the reads and writes
// go through package syscall, which tells the detector that a write on a
// socket happens before the read that receives it, and checks the buffers.
// Raw calls would skip both: a test reading what a handler set before it
// answered would be reported as a race, and real buffer races would go
// unseen. The scheduler's bookkeeping this costs does not matter there.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), p)
	return max(n, 0), errnoOf(err)
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), p)
	return max(n, 0), errnoOf(err)
}

func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if err != nil && !errors.As(err, &errno) {
		return syscall.EIO
	}
	return errno
}
