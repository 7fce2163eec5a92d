package cache

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ossmount/ossmount/object"
	"golang.org/x/sys/unix"
)

// Benchmarks compare the cache with plain file I/O on the same disk:
// OSSMOUNT_BENCH_DIR picks the directory (default a temporary one),
// OSSMOUNT_BENCH_SIZE the object size (default 1 GiB). bench/cache.sh runs
// them and prints the ratios.

func benchDir(b *testing.B) string {
	if d := os.Getenv("OSSMOUNT_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "bench")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

func benchSize(b *testing.B) int64 {
	if s := os.Getenv("OSSMOUNT_BENCH_SIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 1 << 30
}

// ramSource serves every object from one RAM buffer repeated, streaming in
// 256 KiB writes as rangefetch does.
type ramSource struct{ buf []byte }

var benchRAM = sync.OnceValue(func() []byte {
	p := make([]byte, 64<<20)
	fillPattern(p, 99, 0)
	return p
})

func (s ramSource) ReadRange(ctx context.Context, _ object.Ref, off, n int64, w io.WriterAt) error {
	for end := off + n; off < end; {
		pos := off % int64(len(s.buf))
		k := min(end-off, 256<<10, int64(len(s.buf))-pos)
		if _, err := w.WriteAt(s.buf[pos:pos+k], off); err != nil {
			return err
		}
		off += k
	}
	return ctx.Err()
}

// peakRSS reports the process's peak resident set in MB (VmHWM).
func peakRSS(b *testing.B) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			b.ReportMetric(kb/1024, "peak-rss-MB")
		}
	}
}

// BenchmarkFillCache fills a whole object into a fresh cache from RAM with
// FetchAllWith: every block pwritten, fdatasynced and recorded.
func BenchmarkFillCache(b *testing.B) {
	size := benchSize(b)
	src := ramSource{benchRAM()}
	root := benchDir(b)
	info := object.Info{Bucket: "bench", Key: "fill", ETag: `"FILL"`, Size: size}
	b.SetBytes(size)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := filepath.Join(root, fmt.Sprint(i))
		unix.Sync()
		b.StartTimer()
		c, err := Open(Options{Dir: dir, MinFreeRatio: -1, MaxBytes: 4 * size}, src)
		if err != nil {
			b.Fatal(err)
		}
		h, err := c.Open(context.Background(), info)
		if err != nil {
			b.Fatal(err)
		}
		if err := h.FetchAllWith(context.Background(), FetchOptions{Workers: 8}); err != nil {
			b.Fatal(err)
		}
		h.Close()
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
	peakRSS(b)
}

// BenchmarkFillPwrite is the baseline of BenchmarkFillCache: the same bytes
// pwritten to one file in 1 MiB writes and fsynced once at the end.
func BenchmarkFillPwrite(b *testing.B) {
	size := benchSize(b)
	buf := benchRAM()
	root := benchDir(b)
	b.SetBytes(size)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		path := filepath.Join(root, fmt.Sprint(i))
		unix.Sync()
		b.StartTimer()
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			b.Fatal(err)
		}
		for off := int64(0); off < size; off += 1 << 20 {
			pos := off % int64(len(buf))
			if _, err := f.WriteAt(buf[pos:pos+min(1<<20, size-off)], off); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		b.StopTimer()
		os.Remove(path)
		b.StartTimer()
	}
}

// benchFilled returns an open cache holding a complete object.
func benchFilled(b *testing.B) (*Cache, object.Info) {
	size := benchSize(b)
	c, err := Open(Options{Dir: benchDir(b), MinFreeRatio: -1, MaxBytes: 4 * size}, ramSource{benchRAM()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	info := object.Info{Bucket: "bench", Key: "read", ETag: `"READ"`, Size: size}
	h, err := c.Open(context.Background(), info)
	if err != nil {
		b.Fatal(err)
	}
	if err := h.FetchAllWith(context.Background(), FetchOptions{Workers: 8}); err != nil {
		b.Fatal(err)
	}
	h.Close()
	return c, info
}

const benchReadSize = 128 << 10

func readAllAt(b *testing.B, read func(p []byte, off int64) (int, error), size int64) {
	p := make([]byte, benchReadSize)
	for off := int64(0); off < size; off += benchReadSize {
		if _, err := read(p, off); err != nil && err != io.EOF {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadCache reads present blocks through Handle.ReadAt in 128 KiB
// reads, with one Handle open throughout: each block's CRC is checked on
// its first read (in the warm-up pass) and trusted afterwards.
func BenchmarkReadCache(b *testing.B) {
	c, info := benchFilled(b)
	h, err := c.Open(context.Background(), info)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	read := func(p []byte, off int64) (int, error) { return h.ReadAt(ctx, p, off) }
	readAllAt(b, read, info.Size) // warm-up: verifies every block
	b.SetBytes(info.Size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		readAllAt(b, read, info.Size)
	}
}

// BenchmarkReadCacheVerify is BenchmarkReadCache with the version loaded
// afresh for every pass, so every block's CRC is checked: the cost of the
// first read of an object after it was opened.
func BenchmarkReadCacheVerify(b *testing.B) {
	c, info := benchFilled(b)
	ctx := context.Background()
	b.SetBytes(info.Size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h, err := c.Open(ctx, info)
		if err != nil {
			b.Fatal(err)
		}
		readAllAt(b, func(p []byte, off int64) (int, error) { return h.ReadAt(ctx, p, off) }, info.Size)
		h.Close()
	}
}

// BenchmarkReadPread is the baseline: the same data file read directly
// with pread in 128 KiB reads.
func BenchmarkReadPread(b *testing.B) {
	c, info := benchFilled(b)
	h, err := c.Open(context.Background(), info)
	if err != nil {
		b.Fatal(err)
	}
	f, err := h.DataFile()
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h.Close()
	readAllAt(b, f.ReadAt, info.Size)
	b.SetBytes(info.Size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		readAllAt(b, f.ReadAt, info.Size)
	}
}

const benchEntries = 100_000

// buildEntries writes a cache of n versions (one 4 KiB block each) straight
// into the index and the data directory, much faster than through Open.
func buildEntries(b *testing.B, dir string, n int) {
	c, err := Open(Options{Dir: dir, BlockSize: 64 << 10, MinFreeRatio: -1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	c.WaitCounted() // its orphan sweep would remove files written before their records
	var blocks []blockRecord
	block := make([]byte, 4096)
	now := time.Now().UnixNano()
	for i := range n {
		bucket, key, etag := "bench", fmt.Sprintf("dir%03d/object-%06d", i%1000, i), fmt.Sprintf(`"%08X"`, i)
		id := versionID(bucket, key, etag)
		path := dataPath(dir, bucket, key, etag)
		os.MkdirAll(filepath.Dir(path), 0o700)
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		f.WriteAt(block, 0)
		f.Truncate(1 << 20)
		ino, _, _ := fileInfo(f)
		f.Close()
		m := meta{Bucket: bucket, Key: key, ETag: etag, Size: 1 << 20, Inode: ino, Access: now + int64(i), Created: now}
		if err := c.ix.putMeta(id, m, 0, true); err != nil {
			b.Fatal(err)
		}
		blocks = append(blocks, blockRecord{id: id, block: 0, crc: object.CRC64(block, 0)})
	}
	if err := c.ix.recordBlocks(blocks); err != nil {
		b.Fatal(err)
	}
	c.Close()
}

var entriesDir struct {
	once sync.Once
	dir  string
}

// BenchmarkOpen100k opens (and closes) a cache of 100,000 versions. Open
// reads no per-version state; the startup scan that counts the versions
// runs in the background and is reported as scan-ms.
func BenchmarkOpen100k(b *testing.B) {
	entriesDir.once.Do(func() {
		root := os.Getenv("OSSMOUNT_BENCH_DIR")
		d, err := os.MkdirTemp(root, "entries")
		if err != nil {
			b.Fatal(err)
		}
		entriesDir.dir = d
		buildEntries(b, d, benchEntries)
	})
	b.Cleanup(func() {})
	var scan time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		c, err := Open(Options{Dir: entriesDir.dir, MinFreeRatio: -1}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.WaitCounted()
		scan += time.Since(start)
		if st := c.Stats(); st.Entries != benchEntries {
			b.Fatalf("%d entries", st.Entries)
		}
		c.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(scan.Milliseconds())/float64(b.N), "scan-ms")
	peakRSS(b)
}

// TestMain removes the 100k-entry cache of BenchmarkOpen100k.
func TestMain(m *testing.M) {
	code := m.Run()
	if entriesDir.dir != "" {
		os.RemoveAll(entriesDir.dir)
	}
	os.Exit(code)
}
