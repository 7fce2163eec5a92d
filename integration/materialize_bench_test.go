package integration

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/ossserver/ossservertest"
	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/materialize"
	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

// Shape of BenchmarkMaterialize: every GET waits matBenchFirstByte before
// answering and streams at matBenchPerStream; the SDK baselines use
// matBenchWorkers streams of matBenchPart bytes, materialize its defaults.
const (
	matBenchFirstByte = 15 * time.Millisecond
	matBenchPerStream = 32 << 20
	matBenchWorkers   = 16
	matBenchPart      = 8 << 20
	matBenchKey       = "bench/object.bin"
)

// BenchmarkMaterialize compares, against one shaped server, materialize
// of an uncached object (cold: with its default threads, and with as many
// as the SDK gets), of a fully cached one (moved out of the cache, and with
// --keep-cache), the SDK's DownloadFile and bare parallel SDK GETs. Each
// method runs $OSSMOUNT_BENCH_ROUNDS times (default 3, interleaved) and
// reports the median time, the median CPU time of the process (server and
// client together) and the object bytes the server sent for it; every
// round is also printed on stderr. Run it with -benchtime 1x;
// bench/materialize.sh prints the table. $OSSMOUNT_BENCH_METHODS
// (comma-separated names) runs only those methods, for profiling one at a
// time; $OSSMOUNT_BENCH_CPUPROFILE names a file for a CPU profile of the
// timed rounds alone.
func BenchmarkMaterialize(b *testing.B) {
	size := int64(1024)
	if s := os.Getenv("OSSMOUNT_BENCH_MB"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v <= 0 {
			b.Fatalf("OSSMOUNT_BENCH_MB=%q: want a positive number of MiB", s)
		}
		size = v
	}
	size <<= 20
	rounds := 3
	if s := os.Getenv("OSSMOUNT_BENCH_ROUNDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("OSSMOUNT_BENCH_ROUNDS=%q: want a positive number", s)
		}
		rounds = v
	}
	dir := matBenchDir(b)

	srv, mem, creds := ossservertest.Start(b)
	data := testutil.RandomBytes(60, int(size))
	mem.Put(matBucket, matBenchKey, data)
	srv.SetFaults(ossserver.Faults{FirstByteLatency: matBenchFirstByte, BytesPerSecond: matBenchPerStream})

	client, err := rangefetch.New(rangefetch.Config{
		Endpoint: srv.Endpoint,
		Credentials: rangefetch.Credentials{AccessKeyID: creds.AccessKeyID, AccessKeySecret: creds.AccessKeySecret,
			SessionToken: creds.SessionToken},
		// What the command gives its default threads and part size.
		MaxConns: materialize.Connections(materialize.DefaultThreads),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	// The SDK with its own defaults (its transport, CRC on), as a user of
	// DownloadFile would have it.
	sdk, err := oss.New(srv.Endpoint, creds.AccessKeyID, creds.AccessKeySecret,
		oss.AuthVersion(oss.AuthV4), oss.Region(client.Region()))
	if err != nil {
		b.Fatal(err)
	}
	bucket, err := sdk.Bucket(matBucket)
	if err != nil {
		b.Fatal(err)
	}

	ctx := context.Background()
	run := func(cacheDir, dst string, keep bool, threads int) (materialize.Result, error) {
		c, err := cache.Open(cache.Options{Dir: cacheDir, MaxBytes: 4 * size}, client)
		if err != nil {
			return materialize.Result{}, err
		}
		defer c.Close()
		return materialize.Materialize(ctx, c, client,
			materialize.Request{Bucket: matBucket, Key: matBenchKey, Dest: dst, KeepCache: keep, Threads: threads}, nil)
	}
	// A cache that holds the whole object, refilled before each cached run
	// (a move takes the file out of it).
	warmCache := filepath.Join(dir, "warm-cache")
	fill := func() {
		if _, err := run(warmCache, filepath.Join(dir, "fill.out"), true, 0); err != nil {
			b.Fatal(err)
		}
		os.Remove(filepath.Join(dir, "fill.out"))
	}

	methods := []matBenchMethod{
		{name: "materialize-cold", download: func(dst string) error {
			coldCache := filepath.Join(dir, "cold-cache")
			defer os.RemoveAll(coldCache)
			_, err := run(coldCache, dst, false, 0)
			return err
		}},
		// As many GETs at once as the SDK: what is left of the gain
		// without the extra parallelism.
		{name: "materialize-cold-16-threads", download: func(dst string) error {
			coldCache := filepath.Join(dir, "cold-cache")
			defer os.RemoveAll(coldCache)
			_, err := run(coldCache, dst, false, matBenchWorkers)
			return err
		}},
		{name: "materialize-cached-move", prepare: fill, download: func(dst string) error {
			_, err := run(warmCache, dst, false, 0)
			return err
		}},
		{name: "materialize-cached-keep", prepare: fill, download: func(dst string) error {
			_, err := run(warmCache, dst, true, 0)
			return err
		}},
		{name: "sdk-downloadfile", download: func(dst string) error {
			return bucket.DownloadFile(matBenchKey, dst, matBenchPart, oss.Routines(matBenchWorkers),
				oss.Checkpoint(true, dst+".cp"))
		}},
		{name: "sdk-bare-gets", download: func(dst string) error {
			return matBareGets(bucket, dst, size)
		}},
	}

	if only := os.Getenv("OSSMOUNT_BENCH_METHODS"); only != "" {
		// For profiling one method at a time.
		keep := strings.Split(only, ",")
		methods = slices.DeleteFunc(methods, func(m matBenchMethod) bool { return !slices.Contains(keep, m.name) })
	}
	// One untimed, checked run of each warms memory and connection pools.
	for _, m := range methods {
		dst := filepath.Join(dir, m.name+".out")
		if _, _, _, err := m.timed(srv, dst); err != nil {
			b.Fatalf("%s: %v", m.name, err)
		}
		matCheckFile(b, dst, data)
	}
	if path := os.Getenv("OSSMOUNT_BENCH_CPUPROFILE"); path != "" {
		// The timed rounds only, without the setup's copies of the object.
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	times := make([][]time.Duration, len(methods))
	cpus := make([][]time.Duration, len(methods))
	fetched := make([]int64, len(methods))
	for r := range rounds {
		for i := range methods {
			k := (i + r) % len(methods)
			dst := filepath.Join(dir, methods[k].name+".out")
			d, n, cpu, err := methods[k].timed(srv, dst)
			if err != nil {
				b.Fatalf("%s: %v", methods[k].name, err)
			}
			if r == rounds-1 {
				matCheckFile(b, dst, data)
			}
			os.Remove(dst)
			times[k] = append(times[k], d)
			cpus[k] = append(cpus[k], cpu)
			fmt.Fprintf(os.Stderr, "round %d: %-28s %6.3f s, CPU %6.3f s (server and client)\n",
				r+1, methods[k].name, d.Seconds(), cpu.Seconds())
			fetched[k] = max(fetched[k], n)
		}
	}
	for k, m := range methods {
		sec := matMedian(times[k]).Seconds()
		cpu := matMedian(cpus[k]).Seconds()
		b.Run(m.name, func(b *testing.B) {
			b.ReportMetric(sec*1e9, "ns/op")
			b.ReportMetric(float64(size)/1e6/sec, "MB/s")
			b.ReportMetric(sec, "sec")
			b.ReportMetric(cpu, "cpu-sec")
			b.ReportMetric(float64(fetched[k]), "fetched-bytes")
			b.ReportMetric(float64(size), "object-bytes")
		})
	}
	fmt.Fprintf(os.Stderr, "materialize benchmark: %d MiB object, %d rounds, output in %s\n", size>>20, rounds, dir)
}

// matBenchMethod is one way of getting the object into a file.
type matBenchMethod struct {
	name     string
	prepare  func() // untimed, before each run
	download func(dst string) error
}

// timed runs prepare, then times one download and counts the object
// bytes the server sent for it and the CPU time the process used.
func (m matBenchMethod) timed(srv *ossserver.Running, dst string) (time.Duration, int64, time.Duration, error) {
	os.Remove(dst)
	os.Remove(dst + ".cp")
	if m.prepare != nil {
		m.prepare()
	}
	before := srv.Stats().BodyBytes
	cpu0 := processCPU()
	start := time.Now()
	err := m.download(dst)
	d := time.Since(start)
	cpu := processCPU() - cpu0
	os.Remove(dst + ".cp")
	return d, srv.Stats().BodyBytes - before, cpu, err
}

// processCPU is the CPU time (user and system) this process has used: the
// server's and the client's, since both run here.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// matBenchDir is where caches and outputs live: $OSSMOUNT_BENCH_DIR, else
// /dev/shm (so that disk writeback of one method does not slow the next),
// else a temp dir. Caches and outputs share it, as they would share a disk.
func matBenchDir(b *testing.B) string {
	parent := os.Getenv("OSSMOUNT_BENCH_DIR")
	if parent == "" {
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			parent = "/dev/shm"
		}
	}
	if parent == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(parent, "ossmount-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// matBareGets is the floor of what the SDK can do: ranged GetObject calls
// in matBenchWorkers goroutines copied straight to the file, no checks.
func matBareGets(bucket *oss.Bucket, dst string, size int64) error {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	next := make(chan object.Range)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range matBenchWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range next {
				body, err := bucket.GetObject(matBenchKey, oss.Range(r.Off, r.End()-1))
				if err == nil {
					_, err = io.Copy(io.NewOffsetWriter(f, r.Off), body)
					body.Close()
				}
				if err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
				}
			}
		}()
	}
	for off := int64(0); off < size; off += matBenchPart {
		next <- object.Range{Off: off, Len: min(matBenchPart, size-off)}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return f.Close()
}

func matCheckFile(b *testing.B, path string, want []byte) {
	b.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		b.Fatalf("%s: %d bytes differ from the %d-byte object", path, len(got), len(want))
	}
	os.Remove(path)
}

func matMedian(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
