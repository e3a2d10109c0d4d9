package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultExcludes are never part of a snapshot: matched against every path
// element (and the whole relative path). Keys and credentials must not leave
// the node, sockets and caches are not data, and LevelDB's LOG is a text log.
var DefaultExcludes = []string{
	StateDirName,
	"*keystore*", "*.ks", "*secret*", "*password*", "auth", "auth.json",
	"*.sock", "cache", "*.cache", "tmp", "*.tmp",
	"LOG", "LOG.old", "LOG.old.*",
}

// immutable reports files a LevelDB/RocksDB never changes once written (table
// and blob files): a hard link captures them at no cost.
func immutable(name string) bool {
	switch filepath.Ext(name) {
	case ".ldb", ".sst", ".blob":
		return true
	}
	return false
}

// Excluder matches paths against exclude patterns.
type Excluder []string

// Excluded reports whether rel (slash-separated, relative to the data dir)
// or any of its elements matches a pattern.
func (e Excluder) Excluded(rel string) bool {
	elems := strings.Split(rel, "/")
	for _, pat := range e {
		if ok, _ := filepath.Match(pat, rel); ok {
			return true
		}
		for _, el := range elems {
			if ok, _ := filepath.Match(pat, el); ok {
				return true
			}
		}
	}
	return false
}

// CaptureStats says what a capture did.
type CaptureStats struct {
	Linked, Copied           int
	LinkedBytes, CopiedBytes int64
	Skipped                  []string // excluded or not regular files
}

// Capture makes a consistent copy of src in dst (same filesystem for the
// links to work): immutable table files are hard-linked, everything else
// (MANIFEST, CURRENT, the journal .log, WAL, config) copied. Run it while the
// database is closed (goloop chain backup --manual); the node may go on as
// soon as it returns, since its later writes touch neither the links' inodes
// (LevelDB writes new files and deletes old names) nor the copies.
func Capture(src, dst string, excl Excluder) (CaptureStats, error) {
	var st CaptureStats
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return st, err
	}
	if ents, err := os.ReadDir(dst); err != nil {
		return st, err
	} else if len(ents) > 0 {
		return st, fmt.Errorf("capture: %s is not empty", dst)
	}
	absDst, _ := filepath.Abs(dst)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if abs, _ := filepath.Abs(p); abs == absDst || excl.Excluded(rel) {
			st.Skipped = append(st.Skipped, rel)
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, filepath.FromSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case !info.Mode().IsRegular():
			st.Skipped = append(st.Skipped, rel)
			return nil
		case immutable(d.Name()):
			if err := os.Link(p, target); err == nil {
				st.Linked++
				st.LinkedBytes += info.Size()
				return nil
			}
			// Another filesystem, or links not allowed: copy instead.
		}
		if err := copyFile(p, target, info.Mode().Perm()); err != nil {
			return err
		}
		st.Copied++
		st.CopiedBytes += info.Size()
		return nil
	})
	return st, err
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode|0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil { // copy_file_range on Linux
		out.Close()
		return err
	}
	return out.Close()
}

// CheckNotInUse refuses a directory whose LevelDB/RocksDB databases are open:
// copying a live database gives a snapshot that may not open.
func CheckNotInUse(dir string, excl Excluder) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel != "." && excl.Excluded(filepath.ToSlash(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() != "LOCK" || !d.Type().IsRegular() {
			return nil
		}
		held, err := lockHeld(p)
		if err != nil {
			return fmt.Errorf("checking %s: %w", p, err)
		}
		if held {
			return fmt.Errorf("database %s is open (its LOCK is held): stop the chain first (goloop chain backup CID --manual) or pass --capture-cmd", filepath.Dir(p))
		}
		return nil
	})
}

// DetectMeta reads goloop's chain config (<node_dir>/<cid hex>/config.json,
// or config.json in dir itself) for the chain id, network id and DB type.
func DetectMeta(dir string) Meta {
	var m Meta
	try := func(chainDir string) bool {
		b, err := os.ReadFile(filepath.Join(chainDir, "config.json"))
		if err != nil {
			return false
		}
		var cfg struct {
			NID    *int64 `json:"nid"`
			DBType string `json:"db_type"`
		}
		if json.Unmarshal(b, &cfg) != nil || cfg.DBType == "" {
			return false
		}
		m.DBType = cfg.DBType
		if cfg.NID != nil {
			m.NID = "0x" + strconv.FormatInt(*cfg.NID, 16)
		}
		if cid, err := strconv.ParseInt(filepath.Base(chainDir), 16, 64); err == nil {
			m.CID = "0x" + strconv.FormatInt(cid, 16)
		}
		return true
	}
	if try(dir) {
		return m
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() && try(filepath.Join(dir, e.Name())) {
			return m
		}
	}
	return m
}

// ReadMetaFile reads the JSON a capture hook may leave (height, block_hash,
// goloop_version, …). A missing or empty file is no metadata.
func ReadMetaFile(p string) (Meta, error) {
	var m Meta
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) || err == nil && len(strings.TrimSpace(string(b))) == 0 {
		return m, nil
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("metadata file %s: %w", p, err)
	}
	return m, nil
}

// Merge fills m's empty fields from o.
func (m *Meta) Merge(o Meta) {
	if m.Height == 0 {
		m.Height = o.Height
	}
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&m.BlockHash, o.BlockHash}, {&m.CID, o.CID}, {&m.NID, o.NID}, {&m.DBType, o.DBType}, {&m.GoloopVersion, o.GoloopVersion},
	} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
}
