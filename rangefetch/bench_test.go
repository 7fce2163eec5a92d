package rangefetch_test

import (
	"bytes"
	"context"

	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	oss2 "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"golang.org/x/sync/errgroup"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/ossserver/ossservertest"
	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

// Shape of the benchmark: a large object behind a server that answers
// every GET after benchFirstByte and streams each response at
// benchPerStream, fetched with benchWorkers streams of benchPart bytes.
const (
	benchFirstByte = 15 * time.Millisecond
	benchPerStream = 32 << 20
	benchWorkers   = 16
	benchPart      = 8 << 20
	benchKey       = "bench/object.bin"
)

// benchSize is the object size: $OSSMOUNT_BENCH_MB MiB, default 1 GiB.
func benchSize(b *testing.B) int64 {
	mb := int64(1024)
	if s := os.Getenv("OSSMOUNT_BENCH_MB"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v <= 0 {
			b.Fatalf("OSSMOUNT_BENCH_MB=%q: want a positive number of MiB", s)
		}
		mb = v
	}
	return mb << 20
}

// benchDir is where downloads land: $OSSMOUNT_BENCH_DIR, else /dev/shm
// when it exists, so that disk writeback from one method's output does not
// throttle the next method, else the test's temp dir.
func benchDir(b *testing.B) string {
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

// BenchmarkFetch compares, in one run against one shaped server, parallel
// rangefetch ReadRange calls (fetchParallel) with the SDK's DownloadFile, bare parallel SDK GETs, the v2
// SDK's Downloader, and the ideal time size/(workers*rate)+first byte.
// Every method is timed OSSMOUNT_BENCH_ROUNDS times, interleaved; each
// sub-benchmark reports the median as ns/op, MB/s and sec. Run it with
// -benchtime 1x (bench/fetch.sh does).
func BenchmarkFetch(b *testing.B) {
	size := benchSize(b)
	srv, store, creds := ossservertest.Start(b)
	data := testutil.RandomBytes(42, int(size))
	store.Put(testBucket, benchKey, data)
	srv.SetFaults(ossserver.Faults{FirstByteLatency: benchFirstByte, BytesPerSecond: benchPerStream})
	dir := benchDir(b)

	ours, err := rangefetch.New(rangefetch.Config{
		Endpoint: srv.Endpoint,
		Credentials: rangefetch.Credentials{AccessKeyID: creds.AccessKeyID, AccessKeySecret: creds.AccessKeySecret,
			SessionToken: creds.SessionToken},
		MaxConns: benchWorkers,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer ours.Close()
	// The SDK with its own defaults (its transport, CRC on), as a user
	// of DownloadFile would have it.
	sdkOpts := []oss.ClientOption{oss.AuthVersion(oss.AuthV4), oss.Region(ours.Region())}
	if creds.SessionToken != "" {
		sdkOpts = append(sdkOpts, oss.SecurityToken(creds.SessionToken))
	}
	sdk, err := oss.New(srv.Endpoint, creds.AccessKeyID, creds.AccessKeySecret, sdkOpts...)
	if err != nil {
		b.Fatal(err)
	}
	sdkBucket, err := sdk.Bucket(testBucket)
	if err != nil {
		b.Fatal(err)
	}
	v2 := oss2.NewClient(oss2.LoadDefaultConfig().
		WithCredentialsProvider(credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.AccessKeySecret, creds.SessionToken)).
		WithRegion(ours.Region()).
		WithEndpoint(srv.Endpoint).
		WithUsePathStyle(true))

	ctx := context.Background()
	info, err := ours.Stat(ctx, testBucket, benchKey)
	if err != nil {
		b.Fatal(err)
	}
	// Warm the server: a HEAD and one GET with every client.
	warm := func() {
		if _, err := sdkBucket.GetObjectDetailedMeta(benchKey); err != nil {
			b.Fatal(err)
		}
		if err := ours.ReadRange(ctx, info.Ref(), 0, 4096, newObjectBuffer(4096)); err != nil {
			b.Fatal(err)
		}
		r, err := sdkBucket.GetObject(benchKey, oss.Range(0, 4095))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, r)
		r.Close()
		if _, err := v2.HeadObject(ctx, &oss2.HeadObjectRequest{Bucket: oss2.Ptr(testBucket), Key: oss2.Ptr(benchKey)}); err != nil {
			b.Fatal(err)
		}
	}
	warm()

	methods := []benchMethod{
		{"rangefetch", func(dst string) error {
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			if err := fetchParallel(ctx, ours, info.Ref(), size, f); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}},
		{"sdk-downloadfile", func(dst string) error {
			return sdkBucket.DownloadFile(benchKey, dst, benchPart, oss.Routines(benchWorkers))
		}},
		{"sdk-bare-gets", func(dst string) error {
			return bareParallelGets(sdkBucket, dst, size)
		}},
		{"sdk-v2-downloader", func(dst string) error {
			d := v2.NewDownloader(func(o *oss2.DownloaderOptions) {
				o.ParallelNum = benchWorkers
				o.PartSize = benchPart
			})
			_, err := d.DownloadFile(ctx, &oss2.GetObjectRequest{Bucket: oss2.Ptr(testBucket), Key: oss2.Ptr(benchKey)}, dst)
			return err
		}},
	}

	// One untimed, checked run of each method warms memory, the page cache
	// of the output directory and every connection pool alike.
	for _, m := range methods {
		dst := filepath.Join(dir, m.name+".out")
		if _, err := m.timed(dst); err != nil {
			b.Fatalf("%s: %v", m.name, err)
		}
		checkFile(b, dst, data)
	}
	// Timed rounds; each round starts with the next method so that no
	// method always runs right after the same other one.
	rounds := benchRounds(b)
	times := make([][]time.Duration, len(methods))
	for r := range rounds {
		for i := range methods {
			k := (i + r) % len(methods)
			dst := filepath.Join(dir, methods[k].name+".out")
			d, err := methods[k].timed(dst)
			if err != nil {
				b.Fatalf("%s: %v", methods[k].name, err)
			}
			if r == rounds-1 {
				checkFile(b, dst, data)
			}
			os.Remove(dst)
			times[k] = append(times[k], d)
		}
	}
	report := func(name string, sec float64) {
		b.Run(name, func(b *testing.B) {
			b.ReportMetric(sec*1e9, "ns/op")
			b.ReportMetric(float64(size)/1e6/sec, "MB/s")
			b.ReportMetric(sec, "sec")
		})
	}
	for k, m := range methods {
		report(m.name, median(times[k]).Seconds())
	}
	report("ideal", float64(size)/(benchWorkers*benchPerStream)+benchFirstByte.Seconds())
}

// benchMethod is one way of downloading the benchmark object to a file.
type benchMethod struct {
	name     string
	download func(dst string) error
}

// timed removes leftovers of an earlier run, then times one download.
func (m benchMethod) timed(dst string) (time.Duration, error) {
	os.Remove(dst)
	os.Remove(dst + ".temp")
	start := time.Now()
	err := m.download(dst)
	return time.Since(start), err
}

// benchRounds is $OSSMOUNT_BENCH_ROUNDS, default 3.
func benchRounds(b *testing.B) int {
	n := 3
	if s := os.Getenv("OSSMOUNT_BENCH_ROUNDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("OSSMOUNT_BENCH_ROUNDS=%q: want a positive number", s)
		}
		n = v
	}
	return n
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// benchParts cuts [0, size) into consecutive parts of benchPart bytes, the
// last one shorter when size is not a multiple of benchPart.
func benchParts(size int64) []object.Range {
	var parts []object.Range
	for off := int64(0); off < size; off += benchPart {
		parts = append(parts, object.Range{Off: off, Len: min(benchPart, size-off)})
	}
	return parts
}

// fetchParallel downloads [0, size) of ref the way a caller of rangefetch
// does: one ReadRange per part, benchWorkers at a time, each writing at its
// own offset. The first error cancels the other reads.
func fetchParallel(ctx context.Context, c *rangefetch.Client, ref object.Ref, size int64, w io.WriterAt) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(benchWorkers)
	for _, r := range benchParts(size) {
		g.Go(func() error { return c.ReadRange(gctx, ref, r.Off, r.Len, w) })
	}
	return g.Wait()
}

// bareParallelGets is the floor of what the SDK can do: ranged GetObject
// calls in benchWorkers goroutines, copied straight to the file, with no
// retries and no checks.
func bareParallelGets(bucket *oss.Bucket, dst string, size int64) error {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	parts := benchParts(size)
	next := make(chan object.Range)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	for range benchWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range next {
				body, err := bucket.GetObject(benchKey, oss.Range(r.Off, r.End()-1))
				if err != nil {
					fail(err)
					continue
				}
				_, err = io.Copy(io.NewOffsetWriter(f, r.Off), body)
				body.Close()
				if err != nil {
					fail(err)
				}
			}
		}()
	}
	for _, r := range parts {
		next <- r
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return f.Close()
}

func checkFile(b *testing.B, path string, want []byte) {
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
