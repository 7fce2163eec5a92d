package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

// pattern returns the byte at offset off of an object identified by seed,
// so tests can use huge objects without holding them in memory.
func pattern(seed, off int64) byte {
	x := uint64(off/8)*0x9E3779B97F4A7C15 ^ uint64(seed)*0xBF58476D1CE4E5B9
	x ^= x >> 31
	return byte(x >> (8 * (uint64(off) % 8)))
}

func fillPattern(p []byte, seed, off int64) {
	for i := range p {
		p[i] = pattern(seed, off+int64(i))
	}
}

// testObject is an object of the in-memory source.
type testObject struct {
	info object.Info
	data []byte // nil: generated from seed
	seed int64
}

func (o *testObject) bytesAt(off, n int64) []byte {
	if o.data != nil {
		return o.data[off : off+n]
	}
	p := make([]byte, n)
	fillPattern(p, o.seed, off)
	return p
}

// memSource is an in-memory Source that counts what it serves.
type memSource struct {
	mu      sync.Mutex
	objects map[object.Ref]*testObject
	gets    atomic.Int64
	bytes   atomic.Int64
	fetched map[string]int // "etag@off" of every block-aligned offset served, per block size bs
	bs      int64

	// gate, if set, is received from before a GET writes its second half
	// (after signalling started), to hold fetches in flight.
	gate    chan struct{}
	started chan struct{}
	fail    error
	chunk   int
}

func newMemSource(bs int64) *memSource {
	return &memSource{objects: make(map[object.Ref]*testObject), fetched: make(map[string]int), bs: bs, chunk: 16 << 10}
}

var etagSeq atomic.Int64

// put adds an object with generated content and returns its info.
func (s *memSource) put(bucket, key string, size int64, withCRC bool) object.Info {
	seed := etagSeq.Add(1)
	info := object.Info{Bucket: bucket, Key: key, Size: size, ETag: fmt.Sprintf("\"%032X\"", seed)}
	o := &testObject{info: info, seed: seed}
	if withCRC {
		info.CRC64 = crcOf(o, size)
		info.HasCRC64 = true
		o.info = info
	}
	s.mu.Lock()
	s.objects[info.Ref()] = o
	s.mu.Unlock()
	return info
}

func crcOf(o *testObject, size int64) uint64 {
	var crc uint64
	for off := int64(0); off < size; off += 1 << 20 {
		crc = object.CRC64(o.bytesAt(off, min(1<<20, size-off)), crc)
	}
	return crc
}

func (s *memSource) object(ref object.Ref) *testObject {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.objects[ref]
}

func (s *memSource) ReadRange(ctx context.Context, ref object.Ref, off, n int64, w io.WriterAt) error {
	s.mu.Lock()
	o := s.objects[ref]
	fail, gate, started := s.fail, s.gate, s.started
	s.mu.Unlock()
	if fail != nil {
		return fail
	}
	if o == nil {
		return &rangefetch.Error{Op: "GET", Bucket: ref.Bucket, Key: ref.Key, StatusCode: 412, Kind: rangefetch.ErrObjectChanged}
	}
	if off < 0 || off+n > o.info.Size {
		return rangefetch.ErrInvalidRange
	}
	s.gets.Add(1)
	s.bytes.Add(n)
	s.mu.Lock()
	for b := off / s.bs; b*s.bs < off+n; b++ {
		s.fetched[fmt.Sprintf("%s@%d", ref.ETag, b)]++
	}
	s.mu.Unlock()
	data := o.bytesAt(off, n)
	half := n / 2
	if gate != nil {
		if _, err := w.WriteAt(data[:half], off); err != nil {
			return err
		}
		if started != nil {
			started <- struct{}{}
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		data, off = data[half:], off+half
	}
	for len(data) > 0 {
		k := min(len(data), s.chunk)
		if _, err := w.WriteAt(data[:k], off); err != nil {
			return err
		}
		data, off = data[k:], off+int64(k)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// fetchCount is how often block b of the version etag was fetched.
func (s *memSource) fetchCount(etag string, b int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetched[fmt.Sprintf("%s@%d", etag, b)]
}

// maxFetchCount is the largest fetch count of any block.
func (s *memSource) maxFetchCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := 0
	for _, n := range s.fetched {
		m = max(m, n)
	}
	return m
}

func testLogger(t testing.TB) (*slog.Logger, *testutil.LogBuffer) {
	lb := &testutil.LogBuffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// openTest opens a cache in dir with a small block size and no free-space
// floor, so tests do not depend on the disk they run on.
func openTest(t testing.TB, dir string, bs int64, src Source, mod ...func(*Options)) *Cache {
	t.Helper()
	log, _ := testLogger(t)
	opts := Options{Dir: dir, BlockSize: bs, MinFreeRatio: -1, Logger: log}
	for _, f := range mod {
		f(&opts)
	}
	c, err := Open(opts, src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func openHandle(t testing.TB, c *Cache, info object.Info) *Handle {
	t.Helper()
	h, err := c.Open(context.Background(), info)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// readCheck reads [off, off+n) through h and compares with the source.
func readCheck(t testing.TB, h *Handle, o *testObject, off, n int64) {
	t.Helper()
	p := make([]byte, n)
	got, err := h.ReadAt(context.Background(), p, off)
	want := min(n, max(0, o.info.Size-off))
	if int64(got) != want || (err != nil && !(errors.Is(err, io.EOF) && off+n > o.info.Size)) {
		t.Fatalf("ReadAt(%d, %d) = %d, %v; want %d bytes", off, n, got, err, want)
	}
	if !bytes.Equal(p[:got], o.bytesAt(off, want)) {
		t.Fatalf("ReadAt(%d, %d) returned wrong bytes", off, n)
	}
}

// allocated sums the allocated bytes of the files under dir.
func allocated(t testing.TB, dir string) int64 {
	t.Helper()
	var sum int64
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			sum += fi.Sys().(*syscall.Stat_t).Blocks * 512
		}
		return nil
	})
	return sum
}
