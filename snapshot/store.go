package snapshot

import (
	"context"
	"errors"
	"io"
	"time"
)

// Store is the narrow view of an object store the snapshots need (like
// litestream's replica client): whole small objects, ranges of large ones,
// listing and deleting. Keys are relative to the store's prefix.
type Store interface {
	// Get reads a whole (small) object. A missing key is ErrNotExist.
	Get(ctx context.Context, key string) ([]byte, error)
	// ReadRange fills p from the object at byte offset off; fewer bytes than
	// len(p) is an error.
	ReadRange(ctx context.Context, key string, off int64, p []byte) error
	// Put writes size bytes from body. body is seekable so a failed attempt
	// can be retried.
	Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error
	// List calls fn for every object whose key starts with prefix, in key order.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	// Delete removes the keys (missing ones are not an error).
	Delete(ctx context.Context, keys []string) error
	// String names the store for logs (s3://bucket/prefix).
	String() string
}

// ObjectInfo is one listed object.
type ObjectInfo struct {
	Key          string
	Size         int64
	LastModified time.Time
}

// ErrNotExist is returned by Store.Get for a missing key.
var ErrNotExist = errors.New("object does not exist")
