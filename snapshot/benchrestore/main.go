// Command benchrestore measures restore throughput against the same run's
// raw ceilings (make bench-restore). It generates a chain-like directory
// (BENCH_RESTORE_BYTES, default 2GiB) under a temporary directory
// (BENCH_RESTORE_DIR or $TMPDIR), snapshots it into an in-process S3 server
// (plain HTTP; BENCH_RESTORE_TLS=1 for HTTPS), then times:
//
//   - ceiling 1: the same ranged GETs, as many in flight, into /dev/null;
//   - ceiling 2: one sequential write of the same size, then fsync;
//   - the restore itself (preallocate, GET, verify, write, journal, sync, rename),
//
// and prints the restore's throughput as a ratio of the lower ceiling
// (target ≥ 0.8) and a projection for a 1.5 TB chain at 25 Gbps with NVMe.
// Everything it wrote is removed at the end.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icon-edge/icon-edge/snapshot"
	"github.com/icon-edge/icon-edge/snapshot/s3test"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-restore:", err)
		os.Exit(1)
	}
}

func envSize(name string, def int64) (int64, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	mult := int64(1)
	for _, u := range []struct {
		s string
		m int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"G", 1 << 30}, {"M", 1 << 20}} {
		if t, ok := strings.CutSuffix(v, u.s); ok {
			v, mult = t, u.m
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: want a size like 2GiB", name, os.Getenv(name))
	}
	return n * mult, nil
}

func gbps(n int64, d time.Duration) float64 { return float64(n) / 1e9 / d.Seconds() }

func run() error {
	size, err := envSize("BENCH_RESTORE_BYTES", 2<<30)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(os.Getenv("BENCH_RESTORE_DIR"), "bench-restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_CA_BUNDLE": ""} {
		os.Setenv(k, v)
	}
	ctx := context.Background()

	src := filepath.Join(tmp, "src")
	files, err := generate(src, size)
	if err != nil {
		return err
	}
	fmt.Printf("generated %d files, %.2f GB, in %s\n", files, float64(size)/1e9, src)

	srv, err := s3test.New(s3test.Options{PlainHTTP: os.Getenv("BENCH_RESTORE_TLS") != "1"})
	if err != nil {
		return err
	}
	defer srv.Close()
	st, err := snapshot.NewS3Store(ctx, snapshot.S3Options{URL: "s3://" + srv.Bucket + "/bench", Endpoint: srv.URL, HTTPClient: srv.HTTPClient})
	if err != nil {
		return err
	}
	t0 := time.Now()
	res, err := snapshot.Create(ctx, st, src, snapshot.CreateOptions{Concurrency: 8})
	if err != nil {
		return err
	}
	upload := time.Since(t0)
	m := res.Manifest
	fmt.Printf("snapshot  %s: %d objects uploaded in %s (%.2f GB/s)\n", m.ID, res.Uploaded, upload.Round(time.Millisecond), gbps(m.Size, upload))
	if err := os.RemoveAll(src); err != nil { // free the disk and the page cache it held
		return err
	}

	// A local server answers at once, so fewer GETs in flight fill the pipe
	// than against S3 (where the agent defaults to 64); both ceilings and
	// the restore use the same number.
	conc, rng := 16, int64(snapshot.DefaultRangeSize)
	if v, err := strconv.Atoi(os.Getenv("BENCH_RESTORE_CONCURRENCY")); err == nil && v > 0 {
		conc = v
	}
	getDur, err := parallelGets(ctx, st, m, conc, rng)
	if err != nil {
		return err
	}
	diskDur, err := sequentialWrite(filepath.Join(tmp, "seq"), m.Size)
	if err != nil {
		return err
	}
	dst := filepath.Join(tmp, "restore")
	t0 = time.Now()
	rr, err := snapshot.Restore(ctx, st, dst, snapshot.RestoreOptions{Concurrency: conc, RangeSize: rng})
	if err != nil {
		return err
	}
	restoreDur := time.Since(t0)
	if rr.FetchedBytes != m.Size {
		return fmt.Errorf("restore fetched %d of %d bytes", rr.FetchedBytes, m.Size)
	}

	get, disk, rest := gbps(m.Size, getDur), gbps(m.Size, diskDur), gbps(m.Size, restoreDur)
	ceiling, which := get, "parallel GETs"
	if disk < get {
		ceiling, which = disk, "sequential disk write"
	}
	ratio := rest / ceiling
	verdict := "PASS"
	if ratio < 0.8 {
		verdict = "FAIL"
	}
	fmt.Printf("ceiling   parallel GETs into /dev/null (%d in flight, %d MiB ranges): %.2f GB/s\n", conc, rng>>20, get)
	fmt.Printf("ceiling   sequential write + fsync:                              %.2f GB/s\n", disk)
	fmt.Printf("restore   %.2f GB in %s: %.2f GB/s (GET, BLAKE3 verify, write, journal, fsync, rename)\n", float64(m.Size)/1e9, restoreDur.Round(time.Millisecond), rest)
	fmt.Printf("ratio     restore / lower ceiling (%s) = %.2f (target >= 0.80): %s\n", which, ratio, verdict)
	// 25 Gbps is 3.125 GB/s on the wire; S3 goodput over many connections
	// reaches ~93% of it, and an instance NVMe writes faster than that.
	const chain, link = 1.5e12, 25e9 / 8 * 0.93
	// A ratio above 1 is noise in the ceilings; the link is the limit.
	eff := min(ratio, 1)
	proj := time.Duration(chain / (eff * link) * float64(time.Second))
	fmt.Printf("projection 1.5 TB chain at 25 Gbps/NVMe (%.2f GB/s usable) × %.2f = %s (goal < 10m)\n", link/1e9, eff, proj.Round(time.Second))
	return nil
}

// generate writes a chain-like tree: half the bytes in 2 MiB table files
// (LevelDB's default), half in large files that split into 64 MiB parts.
func generate(dir string, size int64) (int, error) {
	type job struct {
		path string
		n    int64
	}
	var jobs []job
	rem := size
	for i := 0; rem > size/2; i++ {
		n := min(int64(2<<20), rem)
		jobs = append(jobs, job{filepath.Join(dir, "db", fmt.Sprintf("%06d.ldb", i)), n})
		rem -= n
	}
	for i := 0; rem > 0; i++ {
		n := min(int64(300<<20), rem)
		jobs = append(jobs, job{filepath.Join(dir, "db", fmt.Sprintf("big-%03d.bin", i)), n})
		rem -= n
	}
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o755); err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.NewChaCha8([32]byte{byte(w)})
			buf := make([]byte, 1<<20)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				f, err := os.Create(jobs[i].path)
				if err != nil {
					errs <- err
					return
				}
				for left := jobs[i].n; left > 0; {
					k := min(int64(len(buf)), left)
					r.Read(buf[:k])
					if _, err := f.Write(buf[:k]); err != nil {
						errs <- err
						return
					}
					left -= k
				}
				if err := f.Close(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return len(jobs), <-errs
}

// parallelGets fetches every range of every object, conc at a time, and
// throws the bytes away: what the network path alone can do.
func parallelGets(ctx context.Context, st snapshot.Store, m *snapshot.Manifest, conc int, rng int64) (time.Duration, error) {
	type r struct {
		key    string
		off, n int64
	}
	var ranges []r
	for _, f := range m.Files {
		for i, h := range f.Parts {
			pn := min(m.PartSize, f.Size-int64(i)*m.PartSize)
			for off := int64(0); off < pn; off += rng {
				ranges = append(ranges, r{snapshot.ObjectKey(h), off, min(rng, pn-off)})
			}
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var first atomic.Value
	t0 := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, rng)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ranges) {
					return
				}
				if err := st.ReadRange(ctx, ranges[i].key, ranges[i].off, buf[:ranges[i].n]); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// sequentialWrite writes n bytes in 8 MiB writes and fsyncs: what the disk
// alone can do.
func sequentialWrite(path string, n int64) (time.Duration, error) {
	buf := make([]byte, 8<<20)
	rand.NewChaCha8([32]byte{9}).Read(buf)
	t0 := time.Now()
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	for left := n; left > 0; {
		k := min(int64(len(buf)), left)
		if _, err := f.Write(buf[:k]); err != nil {
			f.Close()
			return 0, err
		}
		left -= k
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, err
	}
	d := time.Since(t0)
	f.Close()
	return d, os.Remove(path)
}
