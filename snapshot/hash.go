package snapshot

import (
	"encoding/hex"
	"fmt"
	"io"
	"math/bits"

	"lukechampine.com/blake3"
	"lukechampine.com/blake3/guts"
)

// Hash is a BLAKE3-256 digest, the address of an object in the store.
type Hash [32]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText writes the hash as lowercase hex (the manifest's encoding).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads 64 hex digits.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("hash %q: want 64 hex digits", b)
	}
	if _, err := hex.Decode(h[:], b); err != nil {
		return fmt.Errorf("hash %q: %w", b, err)
	}
	return nil
}

// ParseHash reads 64 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	err := h.UnmarshalText([]byte(s))
	return h, err
}

// SumReader hashes everything r yields.
func SumReader(r io.Reader) (Hash, int64, error) {
	h := blake3.New(32, nil)
	n, err := io.CopyBuffer(h, r, make([]byte, 1<<20))
	if err != nil {
		return Hash{}, n, err
	}
	var out Hash
	h.Sum(out[:0])
	return out, n, nil
}

// SumBytes hashes p.
func SumBytes(p []byte) Hash { return Hash(blake3.Sum256(p)) }

// The restore verifies a part from the ranges it fetched in any order, without
// reading the part back: BLAKE3 is a Merkle tree over 1 KiB chunks whose left
// subtrees are always a power of two chunks, so a range of 2^k chunks aligned
// to its size is a complete subtree (and the last, shorter range is the right
// edge). Each range is hashed to its subtree node by the worker that fetched it;
// joining the nodes gives the part's root, which must equal the part's hash.

const simdBuf = guts.MaxSIMD * guts.ChunkSize

// MinRangeSize is the smallest ranged GET: a range must cover whole SIMD
// buffers so its subtree lines up with BLAKE3's tree.
const MinRangeSize = simdBuf

// validRangeSize reports whether n can split parts into verifiable subtrees.
func validRangeSize(n int64) bool {
	return n >= MinRangeSize && n&(n-1) == 0
}

// rangeNode is the (non-root) tree node of p, a subtree that starts at chunk
// number counter of the part.
func rangeNode(p []byte, counter uint64) guts.Node {
	var stack [54][8]uint32
	var sc uint64 // full SIMD buffers pushed so far; bit i set = stack[i] used
	for len(p) > simdBuf {
		cv := guts.ChainingValue(guts.CompressBuffer((*[simdBuf]byte)(p[:simdBuf]), simdBuf, &guts.IV, counter+sc*guts.MaxSIMD, 0))
		i := 0
		for sc&(1<<i) != 0 {
			cv = guts.ChainingValue(guts.ParentNode(stack[i], cv, &guts.IV, 0))
			i++
		}
		stack[i] = cv
		sc++
		p = p[simdBuf:]
	}
	var buf [simdBuf]byte
	copy(buf[:], p)
	n := guts.CompressBuffer(&buf, len(p), &guts.IV, counter+sc*guts.MaxSIMD, 0)
	for i := bits.TrailingZeros64(sc); i < bits.Len64(sc); i++ {
		if sc&(1<<i) != 0 {
			n = guts.ParentNode(stack[i], guts.ChainingValue(n), &guts.IV, 0)
		}
	}
	return n
}

// chunks is the number of BLAKE3 chunks in n bytes (at least one).
func chunks(n int64) uint64 {
	if n <= 0 {
		return 1
	}
	return uint64((n + guts.ChunkSize - 1) / guts.ChunkSize)
}

// partRoot joins the nodes of a part's ranges (each rangeSize bytes except
// the last, partSize in all) and returns the part's BLAKE3-256 hash.
func partRoot(nodes []guts.Node, rangeSize, partSize int64) Hash {
	rc := uint64(rangeSize / guts.ChunkSize)
	last := chunks(partSize - int64(len(nodes)-1)*rangeSize)
	var rec func(lo, hi int) guts.Node
	rec = func(lo, hi int) guts.Node {
		if hi-lo == 1 {
			return nodes[lo]
		}
		total := uint64(hi-lo) * rc
		if hi == len(nodes) {
			total = uint64(hi-lo-1)*rc + last
		}
		left := uint64(1) << (bits.Len64(total-1) - 1) // largest power of two < total
		mid := lo + int(left/rc)
		return guts.ParentNode(guts.ChainingValue(rec(lo, mid)), guts.ChainingValue(rec(mid, hi)), &guts.IV, 0)
	}
	root := rec(0, len(nodes))
	root.Flags |= guts.FlagRoot
	out := guts.WordsToBytes(guts.CompressNode(root))
	var h Hash
	copy(h[:], out[:32])
	return h
}
