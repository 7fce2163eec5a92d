package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

const testBS = 64 << 10

func TestReadAtFetchesMissingBlocksOnceAndReopenIsWarm(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource(testBS)
	info := src.put("bkt", "dir/obj", 5*testBS+1234, true) // short last block
	o := src.object(info.Ref())

	c := openTest(t, dir, testBS, src)
	h := openHandle(t, c, info)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		off := rng.Int64N(info.Size + 100)
		n := rng.Int64N(3*testBS) + 1
		if off >= info.Size {
			p := make([]byte, n)
			if got, err := h.ReadAt(context.Background(), p, off); got != 0 || err != io.EOF {
				t.Fatalf("ReadAt past EOF = %d, %v", got, err)
			}
			continue
		}
		readCheck(t, h, o, off, n)
	}
	readCheck(t, h, o, 0, info.Size) // everything
	if m := src.maxFetchCount(); m != 1 {
		t.Fatalf("a block was fetched %d times", m)
	}
	if err := h.Fetch(context.Background(), 0, info.Size); err != nil {
		t.Fatal(err)
	}
	if !h.Complete() || len(h.Missing()) != 0 {
		t.Fatalf("complete %v, missing %v", h.Complete(), h.Missing())
	}
	if err := h.VerifyComplete(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	gets := src.gets.Load()
	c2 := openTest(t, dir, testBS, src)
	h2 := openHandle(t, c2, info)
	if !h2.Complete() {
		t.Fatal("not complete after reopen")
	}
	readCheck(t, h2, o, 0, info.Size)
	for off := int64(0); off < info.Size; off += 10000 {
		readCheck(t, h2, o, off, 777)
	}
	if d := src.gets.Load() - gets; d != 0 {
		t.Fatalf("reopened cache fetched %d times", d)
	}
	st := c2.Stats()
	if st.HitBytes == 0 || st.MissBytes != 0 || st.Entries != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSparseDataFile(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource(DefaultBlockSize)
	info := src.put("bkt", "huge", 1<<30, false)
	c := openTest(t, dir, 0, src)
	if c.BlockSize() != DefaultBlockSize {
		t.Fatalf("block size %d", c.BlockSize())
	}
	h := openHandle(t, c, info)
	readCheck(t, h, src.object(info.Ref()), 300<<20, 4<<20)
	path := h.v.path
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 1<<30 {
		t.Fatalf("apparent size %d", fi.Size())
	}
	used := fi.Sys().(*syscall.Stat_t).Blocks * 512
	if used < 4<<20 || used > 4<<20+256<<10 {
		t.Fatalf("1 GiB object with 4 MiB read uses %d bytes on disk", used)
	}
	if filepath.Base(path) == "huge" || bytes.Contains([]byte(path), []byte("huge")) {
		t.Fatalf("object key in data file name %s", path)
	}
}

func TestNewETagDropsOldVersion(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource(testBS)
	v1 := src.put("bkt", "k", 3*testBS, false)
	c := openTest(t, dir, testBS, src)
	h1 := openHandle(t, c, v1)
	readCheck(t, h1, src.object(v1.Ref()), 0, v1.Size)
	path1 := h1.v.path

	// While h1 pins v1, a new ETag appears: both versions work side by side.
	v2 := src.put("bkt", "k", 3*testBS, false)
	h2 := openHandle(t, c, v2)
	readCheck(t, h2, src.object(v2.Ref()), 0, v2.Size)
	readCheck(t, h1, src.object(v1.Ref()), 0, v1.Size)
	if src.fetchCount(v2.ETag, 0) != 1 {
		t.Fatal("new version was not fetched")
	}
	h1.Close() // v1 goes once its last commits are done
	testutil.Eventually(t, 20*time.Second, func() bool {
		_, err := os.Stat(path1)
		return os.IsNotExist(err)
	}, "the old data file to go")
	if _, found, _ := c.ix.getMeta(versionID("bkt", "k", v1.ETag)); found {
		t.Fatal("old version still in the index")
	}
	if present, _, _ := c.ix.loadBlocks(versionID("bkt", "k", v1.ETag), 3); present.count() != 0 {
		t.Fatal("old blocks still in the index")
	}
	h2.Close()
	c.Close()

	// After a restart the stale version is not served either: a third ETag
	// drops v2 immediately.
	c = openTest(t, dir, testBS, src)
	v3 := src.put("bkt", "k", 2*testBS, false)
	h3 := openHandle(t, c, v3)
	readCheck(t, h3, src.object(v3.Ref()), 0, v3.Size)
	if _, found, _ := c.ix.getMeta(versionID("bkt", "k", v2.ETag)); found {
		t.Fatal("v2 still in the index")
	}
	if st := c.Stats(); st.Entries != 1 {
		t.Fatalf("entries %d", st.Entries)
	}
}

func TestCorruptBlockIsRefetchedNeverReturned(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 4*testBS, true)
	o := src.object(info.Ref())
	c := openTest(t, dir, testBS, src)
	h := openHandle(t, c, info)
	if err := h.FetchAllWith(context.Background(), FetchOptions{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	path := h.v.path
	h.Close()
	c.Close()

	// Flip one byte of block 2 and zero a page of block 3 behind the index.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{^o.bytesAt(2*testBS+100, 1)[0]}, 2*testBS+100)
	f.WriteAt(make([]byte, 4096), 3*testBS+8192)
	f.Close()

	c = openTest(t, dir, testBS, src)
	h = openHandle(t, c, info)
	readCheck(t, h, o, 2*testBS+90, 20) // a small read inside the bad block
	if n := src.fetchCount(info.ETag, 2); n != 2 {
		t.Fatalf("block 2 fetched %d times, want 2", n)
	}
	if st := c.Stats(); st.ChecksumFailures != 1 {
		t.Fatalf("checksum failures %d", st.ChecksumFailures)
	}
	if err := h.Fetch(context.Background(), 2*testBS, 1); err != nil { // waits for the refetched block's commit
		t.Fatal(err)
	}
	h.Close()

	// Verify finds the other one, drops it, and a read refetches it.
	rep, err := c.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Dropped) != 1 || rep.Dropped[0].Block != 3 || rep.Versions != 1 || rep.Blocks != 4 {
		t.Fatalf("verify report %+v", rep)
	}
	h = openHandle(t, c, info)
	if h.Complete() {
		t.Fatal("complete after a drop")
	}
	readCheck(t, h, o, 0, info.Size)
	if n := src.fetchCount(info.ETag, 3); n != 2 {
		t.Fatalf("block 3 fetched %d times, want 2", n)
	}
	if n := src.fetchCount(info.ETag, 0); n != 1 {
		t.Fatalf("good block 0 fetched %d times", n)
	}
	rep, err = c.Verify(context.Background())
	if err != nil || len(rep.Dropped) != 0 {
		t.Fatalf("second verify %+v %v", rep, err)
	}
}

func TestVerifiedBlockCachedPerLoadButTamperingCaughtAfterReopen(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 2*testBS, false)
	o := src.object(info.Ref())
	c := openTest(t, dir, testBS, src)
	h := openHandle(t, c, info)
	readCheck(t, h, o, 0, info.Size)
	h.Close()
	c.Close()
	c = openTest(t, dir, testBS, src)
	h = openHandle(t, c, info)
	readCheck(t, h, o, 0, info.Size) // verifies both blocks
	h.Close()
	// A new load verifies again: tamper between loads.
	f, _ := os.OpenFile(h.v.path, os.O_RDWR, 0)
	f.WriteAt([]byte("XXXX"), 10)
	f.Close()
	h = openHandle(t, c, info)
	readCheck(t, h, o, 0, 100)
	if n := src.fetchCount(info.ETag, 0); n != 2 {
		t.Fatalf("tampered block fetched %d times, want 2", n)
	}
}

func TestConcurrentReadersCauseOneFetch(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 3*testBS, false)
	o := src.object(info.Ref())
	gate := make(chan struct{})
	src.gate, src.started = gate, make(chan struct{}, 16)
	c := openTest(t, t.TempDir(), testBS, src)
	h := openHandle(t, c, info)

	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, 1000)
			off := int64(testBS + i*100)
			if _, err := h.ReadAt(context.Background(), p, off); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(p, o.bytesAt(off, 1000)) {
				errs <- errors.New("wrong bytes")
			}
		}()
	}
	<-src.started // the one fetch is in flight, half written
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if g := src.gets.Load(); g != 1 {
		t.Fatalf("%d GETs for one block", g)
	}
}

func TestInFlightBlockNeverReturnedPartially(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", testBS, false)
	o := src.object(info.Ref())
	gate := make(chan struct{})
	src.gate, src.started = gate, make(chan struct{}, 1)
	c := openTest(t, t.TempDir(), testBS, src)
	h := openHandle(t, c, info)

	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	p := make([]byte, 100)
	go func() {
		n, err := h.ReadAt(ctx, p, 0)
		if n != 0 {
			err = errors.New("partial block returned")
		}
		res <- err
	}()
	<-src.started // the first half of the block (and so p's bytes) arrived
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting reader returned %v", err)
	}
	if !bytes.Equal(p, make([]byte, 100)) {
		t.Fatal("reader got bytes of an incomplete block")
	}
	close(gate)
	readCheck(t, h, o, 0, testBS)
	if g := src.gets.Load(); g != 1 {
		t.Fatalf("%d GETs", g)
	}
}

func TestSourceErrorsKeepTheirType(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", testBS, false)
	c := openTest(t, t.TempDir(), testBS, src)
	gone := info
	gone.ETag = `"OLD"`
	h := openHandle(t, c, gone)
	_, err := h.ReadAt(context.Background(), make([]byte, 10), 0)
	if !errors.Is(err, rangefetch.ErrObjectChanged) {
		t.Fatalf("err = %v", err)
	}
	var rerr *rangefetch.Error
	if !errors.As(err, &rerr) {
		t.Fatalf("err %T is not a *rangefetch.Error", err)
	}
	if err := h.Fetch(context.Background(), 0, 10); !errors.Is(err, rangefetch.ErrObjectChanged) {
		t.Fatalf("Fetch err = %v", err)
	}
	if err := h.FetchAllWith(context.Background(), FetchOptions{Workers: 4}); !errors.Is(err, rangefetch.ErrObjectChanged) {
		t.Fatalf("FetchAllWith err = %v", err)
	}
	// The failure is not remembered: the next read tries again.
	h2 := openHandle(t, c, info)
	readCheck(t, h2, src.object(info.Ref()), 0, 10)
}

func TestDataFileAndDetach(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 3*testBS+5, true)
	o := src.object(info.Ref())
	c := openTest(t, dir, testBS, src)
	h := openHandle(t, c, info)
	if _, err := h.dataPath(); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("dataPath of an incomplete version: %v", err)
	}
	var last int64
	if err := h.FetchAllWith(context.Background(), FetchOptions{Workers: 3, Progress: func(done, total int64) { last = done }}); err != nil {
		t.Fatal(err)
	}
	if last != info.Size || !h.Complete() {
		t.Fatalf("progress %d, complete %v", last, h.Complete())
	}
	f, err := h.DataFile()
	if err != nil {
		t.Fatal(err)
	}
	all, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(all, o.bytesAt(0, info.Size)) {
		t.Fatal("data file differs from the object")
	}
	h2 := openHandle(t, c, info)
	dest := filepath.Join(t.TempDir(), "out")
	if err := h.Detach(dest); !errors.Is(err, ErrBusy) {
		t.Fatalf("Detach with two handles: %v", err)
	}
	h2.Close()
	if err := h.Detach(filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "out"))
	if !bytes.Equal(got, o.bytesAt(0, info.Size)) {
		t.Fatal("detached file differs")
	}
	if _, err := h.ReadAt(context.Background(), make([]byte, 1), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after detach: %v", err)
	}
	h.Close()
	if st := c.Stats(); st.Entries != 0 {
		t.Fatalf("entries after detach: %d", st.Entries)
	}
	// The version starts again from nothing.
	h3 := openHandle(t, c, info)
	if len(h3.Missing()) != 1 {
		t.Fatalf("missing %v", h3.Missing())
	}
	readCheck(t, h3, o, 0, info.Size)
}

func TestVerifyCompleteMismatch(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 4*testBS, true)
	bad := info
	bad.CRC64 ^= 1
	c := openTest(t, t.TempDir(), testBS, src)
	src.mu.Lock()
	src.objects[bad.Ref()].info = bad
	src.mu.Unlock()
	h := openHandle(t, c, bad)
	if err := h.VerifyComplete(context.Background()); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("VerifyComplete of an empty version: %v", err)
	}
	if err := h.FetchAllWith(context.Background(), FetchOptions{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	if h.Complete() {
		t.Fatal("complete despite a CRC mismatch")
	}
	// The mismatch starts a repair, which finds every block fetched twice
	// alike and leaves them.
	testutil.Eventually(t, 10*time.Second, func() bool {
		h.v.mu.Lock()
		defer h.v.mu.Unlock()
		return !h.v.checking
	}, "the background check ended")
	if err := h.VerifyComplete(context.Background()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("VerifyComplete: %v", err)
	}
	if len(h.Missing()) != 0 {
		t.Fatal("VerifyComplete dropped blocks")
	}
	h.dropBlocks(1)
	if m := h.Missing(); len(m) != 1 || m[0].Off != testBS || m[0].Len != testBS {
		t.Fatalf("missing after dropBlocks: %v", m)
	}
	h.DropAll()
	if m := h.Missing(); len(m) != 1 || m[0].Len != info.Size {
		t.Fatalf("missing after DropAll: %v", m)
	}
}

func TestCombineCRCs(t *testing.T) {
	src := newMemSource(testBS)
	for _, size := range []int64{1, testBS, testBS + 1, 7*testBS - 3} {
		info := src.put("b", "k", size, true)
		o := src.object(info.Ref())
		var crcs []uint64
		for off := int64(0); off < size; off += testBS {
			crcs = append(crcs, object.CRC64(o.bytesAt(off, min(testBS, size-off)), 0))
		}
		if got := combineCRCs(crcs, testBS, size); got != info.CRC64 {
			t.Fatalf("size %d: combined %x, want %x", size, got, info.CRC64)
		}
	}
}

func TestEmptyObject(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "empty", 0, true)
	c := openTest(t, t.TempDir(), testBS, src)
	h := openHandle(t, c, info)
	if n, err := h.ReadAt(context.Background(), make([]byte, 10), 0); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt = %d, %v", n, err)
	}
	if !h.Complete() || h.VerifyComplete(context.Background()) != nil || h.FetchAllWith(context.Background(), FetchOptions{Workers: 1}) != nil {
		t.Fatal("empty object not complete")
	}
}

// TestConcurrentReadersFetchersAndDrops runs readers, prefetchers and
// drops at once: every byte returned must be right and, without drops, no
// block is fetched twice.
func TestConcurrentReadersFetchersAndDrops(t *testing.T) {
	for _, drops := range []bool{false, true} {
		src := newMemSource(testBS)
		info := src.put("bkt", "obj", 40*testBS+333, true)
		o := src.object(info.Ref())
		c := openTest(t, t.TempDir(), testBS, src)
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h, err := c.Open(ctx, info)
				if err != nil {
					errs <- err
					return
				}
				defer h.Close()
				rng := rand.New(rand.NewPCG(uint64(w), 3))
				p := make([]byte, 3*testBS)
				for range 150 {
					off := rng.Int64N(info.Size)
					n := rng.Int64N(3*testBS) + 1
					switch r := rng.IntN(10); {
					case r == 0:
						if err := h.Fetch(ctx, off, n); err != nil {
							errs <- err
							return
						}
					case r == 1 && drops:
						h.dropBlocks(off / testBS)
					case r == 3 && rng.IntN(8) == 0:
						if err := h.FetchAllWith(ctx, FetchOptions{Workers: 3, RunBytes: 5 * testBS}); err != nil {
							errs <- err
							return
						}
					case r == 2 && drops && w == 0:
						h.DropAll()
					default:
						got, err := h.ReadAt(ctx, p[:n], off)
						if err != nil && !(err == io.EOF && off+n > info.Size) {
							errs <- err
							return
						}
						if !bytes.Equal(p[:got], o.bytesAt(off, int64(got))) {
							errs <- fmt.Errorf("drops %v: wrong bytes at %d+%d (got %d)", drops, off, n, got)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if m := src.maxFetchCount(); !drops && m != 1 {
			t.Fatalf("a block was fetched %d times", m)
		}
		h := openHandle(t, c, info)
		if err := h.FetchAllWith(ctx, FetchOptions{Workers: 4}); err != nil {
			t.Fatal(err)
		}
		if err := h.VerifyComplete(ctx); err != nil {
			t.Fatal(err)
		}
		readCheck(t, h, o, 0, info.Size)
	}
}

// A read over many separate gaps starts its fetches in windows and still
// returns every byte, each block fetched once.
func TestReadOverManyGaps(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 100*testBS, false)
	o := src.object(info.Ref())
	c := openTest(t, t.TempDir(), testBS, src)
	h := openHandle(t, c, info)
	for b := int64(0); b < 100; b += 2 {
		if err := h.Fetch(context.Background(), b*testBS, 1); err != nil {
			t.Fatal(err)
		}
	}
	readCheck(t, h, o, 0, info.Size)
	if m := src.maxFetchCount(); m != 1 {
		t.Fatalf("a block was fetched %d times", m)
	}
	if g := src.gets.Load(); g != 100 {
		t.Fatalf("%d GETs, want 100", g)
	}
}
