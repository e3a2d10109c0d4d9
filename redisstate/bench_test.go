package redisstate

import (
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/redisstate/redistest"
)

// benchTake measures what one GCRA round trip adds to an admitted call, with
// `callers` calls in flight at once (1: a moderately loaded edge, where each
// call finds the connection idle); it reports the latency quantiles.
func benchTake(b *testing.B, callers int, batch bool) {
	srv := redistest.Start(b)
	c, err := Open(Config{URL: srv.URL(), KeyPrefix: "bench:", Timeout: time.Second, HealthInterval: 10 * time.Millisecond}, nil, quiet)
	if err != nil {
		b.Fatal(err)
	}
	c.noBatch = !batch
	cpu0 := redisCPU(b, srv)
	defer func() {
		b.ReportMetric(float64((redisCPU(b, srv)-cpu0).Nanoseconds())/float64(b.N)/1000, "redis-cpu-µs/op")
	}()
	defer c.Close()
	for !c.Available() {
		time.Sleep(5 * time.Millisecond)
	}
	var mu sync.Mutex
	var all []time.Duration
	take := func(i int) time.Duration {
		start := time.Now()
		// Many clients: a different budget each call, a full round trip each.
		if _, err := c.Take("rl:{ip:"+strconv.Itoa(i%10000)+"}:r", 1, 1, 20*time.Millisecond, 100); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	b.ResetTimer()
	if callers == 1 {
		for i := range b.N {
			all = append(all, take(i))
		}
		report(b, all)
		return
	}
	b.SetParallelism(max(callers/2, 1)) // GOMAXPROCS (2 here) × this goroutines
	b.RunParallel(func(pb *testing.PB) {
		var lat []time.Duration
		i := 0
		for pb.Next() {
			i++
			lat = append(lat, take(i))
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	report(b, all)
}

func report(b *testing.B, all []time.Duration) {
	b.StopTimer()
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
}

func BenchmarkTakeOneCaller(b *testing.B)               { benchTake(b, 1, true) }
func BenchmarkTakeSixteenCallers(b *testing.B)          { benchTake(b, 16, true) }
func BenchmarkTakeSixteenCallersUnbatched(b *testing.B) { benchTake(b, 16, false) }

// redisCPU is the CPU time redis-server has used (INFO cpu).
func redisCPU(b *testing.B, srv *redistest.Server) time.Duration {
	var total float64
	for _, f := range []string{"used_cpu_sys", "used_cpu_user"} {
		out, err := srv.Do("EVAL", "return redis.call('INFO','cpu'):match('"+f+":([%d%.]+)')", "0")
		if err != nil {
			b.Fatal(err)
		}
		v, _ := strconv.ParseFloat(out, 64)
		total += v
	}
	return time.Duration(total * float64(time.Second))
}
