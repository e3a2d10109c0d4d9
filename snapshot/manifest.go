// Package snapshot stores a goloop chain directory in S3 as content-addressed
// objects and restores it at disk speed.
//
// Layout under the store's prefix (see docs/node-agent.md):
//
//	objects/<blake3 hex>        one file, or one 64 MiB part of a larger file, uncompressed
//	snapshots/<ID>.json.gz      a manifest: metadata and every file's parts
//	expired/<ID>.json.gz        a manifest dropped by retention, kept for the grace period
//	LATEST                      the ID of the newest complete snapshot, written last
//
// Objects never change once written, manifests are written after all their
// objects, and LATEST after its manifest, so a reader never sees half a
// snapshot.
package snapshot

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
)

// DefaultPartSize splits large files: each part is one object.
const DefaultPartSize = 64 << 20

// FormatVersion is the manifest format this code reads and writes.
const FormatVersion = 1

// Manifest describes one snapshot.
type Manifest struct {
	Format  int       `json:"format"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	// Chain metadata, as far as it is known (see Meta).
	Meta
	Hash     string `json:"hash"` // object hash function: "blake3"
	PartSize int64  `json:"part_size"`
	Size     int64  `json:"size"` // bytes in all files
	Dirs     []Dir  `json:"dirs"`
	Files    []File `json:"files"`
}

// Meta is what a snapshot records about the chain it holds.
type Meta struct {
	Height        int64  `json:"height,omitempty"`
	BlockHash     string `json:"block_hash,omitempty"`
	CID           string `json:"cid,omitempty"`
	NID           string `json:"nid,omitempty"`
	DBType        string `json:"db_type,omitempty"`
	GoloopVersion string `json:"goloop_version,omitempty"`
}

// Dir is a directory of the snapshot (so empty ones come back too).
type Dir struct {
	Path string      `json:"path"`
	Mode fs.FileMode `json:"mode"`
}

// File is a regular file and the objects that hold it, in order.
type File struct {
	Path  string      `json:"path"`
	Size  int64       `json:"size"`
	Mode  fs.FileMode `json:"mode"`
	Parts []Hash      `json:"parts"`
}

// partLen is the length of part i of f.
func (m *Manifest) partLen(f *File, i int) int64 {
	return min(m.PartSize, f.Size-int64(i)*m.PartSize)
}

// Objects returns every object the manifest references, once each.
func (m *Manifest) Objects() map[Hash]int64 {
	objs := make(map[Hash]int64)
	for i := range m.Files {
		f := &m.Files[i]
		for j, h := range f.Parts {
			objs[h] = m.partLen(f, j)
		}
	}
	return objs
}

// validate rejects manifests the restore could not apply safely.
func (m *Manifest) validate() error {
	if m.Format != FormatVersion {
		return fmt.Errorf("manifest %s: format %d, this agent reads %d", m.ID, m.Format, FormatVersion)
	}
	if m.Hash != "blake3" {
		return fmt.Errorf("manifest %s: hash %q, want blake3", m.ID, m.Hash)
	}
	if m.PartSize <= 0 {
		return fmt.Errorf("manifest %s: part_size %d", m.ID, m.PartSize)
	}
	var total int64
	for i := range m.Files {
		f := &m.Files[i]
		if err := safeRelPath(f.Path); err != nil {
			return fmt.Errorf("manifest %s: %w", m.ID, err)
		}
		if f.Size < 0 || int64(len(f.Parts)) != (f.Size+m.PartSize-1)/m.PartSize {
			return fmt.Errorf("manifest %s: %s: %d parts for %d bytes", m.ID, f.Path, len(f.Parts), f.Size)
		}
		total += f.Size
	}
	for _, d := range m.Dirs {
		if err := safeRelPath(d.Path); err != nil {
			return fmt.Errorf("manifest %s: %w", m.ID, err)
		}
	}
	if total != m.Size {
		return fmt.Errorf("manifest %s: files add up to %d bytes, header says %d", m.ID, total, m.Size)
	}
	return nil
}

// safeRelPath refuses paths that would escape the data directory.
func safeRelPath(p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "\\") {
		return fmt.Errorf("unsafe path %q", p)
	}
	return nil
}

// Encode writes the manifest as gzip-compressed JSON.
func (m *Manifest) Encode() ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	enc := json.NewEncoder(zw)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeManifest reads what Encode wrote and checks it.
func DecodeManifest(b []byte) (*Manifest, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var m Manifest
	dec := json.NewDecoder(zr)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	// Reading to the end checks the gzip CRC.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Store keys.
const (
	latestKey       = "LATEST"
	objectsPrefix   = "objects/"
	snapshotsPrefix = "snapshots/"
	expiredPrefix   = "expired/"
	manifestSuffix  = ".json.gz"
)

// ObjectKey is where the object with hash h lives: the hash comes right
// after a fixed prefix, so S3 spreads the keys over its partitions.
func ObjectKey(h Hash) string { return objectsPrefix + h.String() }

func manifestKey(id string) string { return snapshotsPrefix + id + manifestSuffix }
func expiredKey(id string) string  { return expiredPrefix + id + manifestSuffix }

// idLayout makes IDs that sort in time order (retention relies on it).
const idLayout = "20060102T150405.000Z"

// NewID names a snapshot taken at t.
func NewID(t time.Time) string { return t.UTC().Format(idLayout) }

// ValidID reports whether id could name a snapshot (it becomes part of keys).
func ValidID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ErrNoSnapshot means the store has no LATEST yet.
var ErrNoSnapshot = errors.New("the store holds no snapshot yet (no LATEST)")
