//go:build !linux

package snapshot

import (
	"errors"
	"os"
)

// The agent runs next to goloop on Linux; elsewhere it builds (for
// development) but refuses to restore rather than skip durability.
var errNotLinux = errors.New("restore needs Linux (fallocate, syncfs, statfs)")

func preallocate(f *os.File, size int64) error { return f.Truncate(size) }
func syncFS(dir string) error                  { return errNotLinux }
func freeBytes(dir string) (int64, error)      { return 0, errNotLinux }
func allocatedBytes(fi os.FileInfo) int64      { return fi.Size() }
func lockHeld(path string) (bool, error)       { return false, nil }
func tryLock(f *os.File) (bool, error)         { return true, nil }
