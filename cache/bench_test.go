package cache

import (
	"fmt"
	"sync"
	"testing"

	"github.com/valyala/fastjson"
)

const benchParams = `{"to":"cx0000000000000000000000000000000000000000","dataType":"call","data":{"method":"balanceOf","params":{"_owner":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"}},"height":"0x10"}`

func BenchmarkAppendKey(b *testing.B) {
	v := fastjson.MustParse(benchParams)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendKey(buf[:0], "icx_call", v)
	}
}

// Baseline for key building: what the proxy pays anyway to re-serialize params.
func BenchmarkBaselineMarshalParams(b *testing.B) {
	v := fastjson.MustParse(benchParams)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = v.MarshalTo(buf[:0])
	}
}

func benchKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = AppendKey(nil, "icx_getBlockByHeight", fastjson.MustParse(fmt.Sprintf(`{"height":"0x%x"}`, i)))
	}
	return keys
}

func BenchmarkGetHit(b *testing.B) {
	c := newTestCache(b, Config{})
	keys := benchKeys(1024)
	res := blockJSON(1)
	for _, k := range keys {
		c.Put(k, "icx_getBlockByHeight", Final, 1<<20, res)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := c.Get(keys[i&1023], 1<<20); !ok {
			b.Fatal("miss")
		}
		i++
	}
}

func BenchmarkGetHitParallel(b *testing.B) {
	c := newTestCache(b, Config{})
	keys := benchKeys(1024)
	res := blockJSON(1)
	for _, k := range keys {
		c.Put(k, "icx_getBlockByHeight", Final, 1<<20, res)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := c.Get(keys[i&1023], 1<<20); !ok {
				b.Error("miss")
				return
			}
			i++
		}
	})
}

// Baseline for Get: one mutex-guarded Go map, no LRU order, no bound.
func BenchmarkBaselineMapGetParallel(b *testing.B) {
	var mu sync.Mutex
	m := map[string][]byte{}
	keys := benchKeys(1024)
	for _, k := range keys {
		m[string(k)] = blockJSON(1)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			mu.Lock()
			_, ok := m[string(keys[i&1023])]
			mu.Unlock()
			if !ok {
				b.Error("miss")
				return
			}
			i++
		}
	})
}

func BenchmarkPut(b *testing.B) {
	c := newTestCache(b, Config{MaxBytes: 4 << 20})
	keys := benchKeys(64 << 10)
	res := blockJSON(1)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Put(keys[i&(64<<10-1)], "icx_getBlockByHeight", Final, 1<<20, res)
		i++
	}
}
