package confkey

import (
	"os"
	"path/filepath"
)

// WritableFile checks that the file at path can be opened for writing (or,
// when it does not exist, created in its directory), so a path the process
// cannot write is refused when the configuration is read rather than when the
// first line is written. It changes nothing it finds: an existing file is
// opened for appending and closed; a missing one is tried with a temporary
// file in the same directory, removed at once.
func WritableFile(key, path string) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return New(key, "%q is a directory; name a file in it", path)
	case err == nil:
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return New(key, "%q cannot be written: %v", path, unwrapPath(err))
		}
		return f.Close()
	case !os.IsNotExist(err):
		return New(key, "%q cannot be used: %v", path, unwrapPath(err))
	}
	dir := filepath.Dir(path)
	if di, err := os.Stat(dir); err != nil || !di.IsDir() {
		return New(key, "%q cannot be created: directory %s does not exist", path, dir)
	}
	f, err := os.CreateTemp(dir, ".icon-edge-check-*")
	if err != nil {
		return New(key, "%q cannot be created: %v", path, unwrapPath(err))
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// unwrapPath drops the path an *os.PathError repeats, since the message
// names it already.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
