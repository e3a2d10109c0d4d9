package snapshot

import (
	"math/rand/v2"
	"testing"

	"lukechampine.com/blake3/guts"
)

// The range-wise verification must agree with plain BLAKE3 for every length,
// including partial chunks, partial SIMD buffers and a single short range.
func TestPartRootMatchesBLAKE3(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 9*64<<10+777)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, rs := range []int64{MinRangeSize, 64 << 10} {
		lengths := []int64{1, 63, 64, 65, 1023, 1024, 1025, 16383, 16384, 16385,
			rs - 1, rs, rs + 1, 2 * rs, 3*rs + 5, 4*rs + 1024, 5*rs - 1, 8 * rs}
		for range 30 {
			lengths = append(lengths, 1+rng.Int64N(int64(len(data))))
		}
		for _, n := range lengths {
			if n > int64(len(data)) {
				continue
			}
			p := data[:n]
			var nodes []guts.Node
			for off := int64(0); off < n; off += rs {
				end := min(off+rs, n)
				nodes = append(nodes, rangeNode(p[off:end], uint64(off/guts.ChunkSize)))
			}
			if got, want := partRoot(nodes, rs, n), SumBytes(p); got != want {
				t.Fatalf("range %d, length %d: tree root %s, BLAKE3 %s", rs, n, got, want)
			}
		}
	}
}

func TestHashText(t *testing.T) {
	h := SumBytes([]byte("abc"))
	// BLAKE3("abc") from the reference test vectors.
	if h.String() != "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85" {
		t.Fatalf("BLAKE3(abc) = %s", h)
	}
	back, err := ParseHash(h.String())
	if err != nil || back != h {
		t.Fatalf("round trip: %v %v", back, err)
	}
	if _, err := ParseHash("zz"); err == nil {
		t.Fatal("short hash accepted")
	}
}

func BenchmarkRangeNode8MiB(b *testing.B) {
	p := make([]byte, 8<<20)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		rangeNode(p, 0)
	}
}
