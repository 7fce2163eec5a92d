package cache

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
)

// RunBytes sets how many blocks one GET covers, rounded up to whole
// blocks; a run as long as the object is one GET.
func TestFetchAllWithRunBytesSetsTheGETs(t *testing.T) {
	const size = 10*testBS + 5 // 11 blocks, the last one short
	for _, tt := range []struct {
		name     string
		runBytes int64
		workers  int
		gets     int64
	}{
		{"three blocks per GET", 3 * testBS, 4, 4},
		{"rounded up to whole blocks", testBS + testBS/2, 3, 6},
		{"whole object in one GET", size, 8, 1},
		{"longer than the object", 1 << 40, 1, 1},
		{"one block per GET", 1, 2, 11},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := newMemSource(testBS)
			src.chunk = 5000 // chunks that straddle block boundaries
			info := src.put("bkt", "obj", size, true)
			c := openTest(t, t.TempDir(), testBS, src)
			h := openHandle(t, c, info)
			var mu sync.Mutex
			var calls []int64
			err := h.FetchAllWith(context.Background(), FetchOptions{
				Workers:  tt.workers,
				RunBytes: tt.runBytes,
				Progress: func(done, total int64) {
					mu.Lock()
					defer mu.Unlock()
					if total != size {
						t.Errorf("progress total %d, want %d", total, size)
					}
					calls = append(calls, done)
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if g := src.gets.Load(); g != tt.gets {
				t.Fatalf("%d GETs, want %d", g, tt.gets)
			}
			if m := src.maxFetchCount(); m != 1 {
				t.Fatalf("a block was fetched %d times", m)
			}
			for i := 1; i < len(calls); i++ {
				if calls[i] < calls[i-1] {
					t.Fatalf("progress went backwards: %v", calls)
				}
			}
			if len(calls) < 2 || calls[0] != 0 || calls[len(calls)-1] != size {
				t.Fatalf("progress %v: want 0 first and %d last", calls, size)
			}
			if len(h.Missing()) != 0 {
				t.Fatalf("missing %v", h.Missing())
			}
			if err := h.VerifyComplete(context.Background()); err != nil {
				t.Fatal(err)
			}
			readCheck(t, h, src.object(info.Ref()), 0, size)
			if g := src.gets.Load(); g != tt.gets {
				t.Fatal("reading the fetched object fetched again")
			}
		})
	}
}

// Blocks present or being fetched by a reader are neither fetched again
// nor allowed to split the runs around them into more GETs than needed.
func TestFetchAllWithSkipsPresentAndWaitsForBlocksInFlight(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 12*testBS, true)
	o := src.object(info.Ref())
	c := openTest(t, t.TempDir(), testBS, src)
	h := openHandle(t, c, info)
	ctx := context.Background()
	if err := h.Fetch(ctx, 9*testBS, 1); err != nil { // block 9 present
		t.Fatal(err)
	}

	gate := make(chan struct{})
	src.mu.Lock()
	src.gate, src.started = gate, make(chan struct{}, 16)
	src.mu.Unlock()
	read := make(chan error, 1)
	go func() { // block 4 in flight, half written, held
		p := make([]byte, testBS)
		_, err := h.ReadAt(ctx, p, 4*testBS)
		if err == nil && !bytes.Equal(p, o.bytesAt(4*testBS, testBS)) {
			err = errors.New("reader got wrong bytes")
		}
		read <- err
	}()
	<-src.started
	fetched := make(chan error, 1)
	go func() {
		fetched <- h.FetchAllWith(ctx, FetchOptions{Workers: 4, RunBytes: 100 * testBS})
	}()
	// Runs [0,4), [5,9), [10,12): all three held half way.
	for range 3 {
		<-src.started
	}
	close(gate)
	if err := <-fetched; err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	if g := src.gets.Load(); g != 1+1+3 {
		t.Fatalf("%d GETs, want 5 (one earlier fetch, one reader, three runs)", g)
	}
	if m := src.maxFetchCount(); m != 1 {
		t.Fatalf("a block was fetched %d times", m)
	}
	if err := h.VerifyComplete(ctx); err != nil {
		t.Fatal(err)
	}
	readCheck(t, h, o, 0, info.Size)
}

// A block of a streaming run is served to readers as soon as its bytes are
// in the file, while the rest of the run is still on its way; a reader of a
// block not yet arrived waits for the run instead of fetching it again.
func TestReadersOfAStreamingRun(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 8*testBS, true)
	o := src.object(info.Ref())
	gate := make(chan struct{})
	src.gate, src.started = gate, make(chan struct{}, 4)
	c := openTest(t, t.TempDir(), testBS, src)
	h := openHandle(t, c, info)
	ctx := context.Background()

	fetched := make(chan error, 1)
	go func() { fetched <- h.FetchAllWith(ctx, FetchOptions{Workers: 1, RunBytes: info.Size}) }()
	<-src.started // blocks 0-3 arrived, the GET is held
	readCheck(t, h, o, 0, 4*testBS)
	late := make(chan error, 1)
	go func() {
		p := make([]byte, 100)
		_, err := h.ReadAt(ctx, p, 6*testBS+10)
		if err == nil && !bytes.Equal(p, o.bytesAt(6*testBS+10, 100)) {
			err = errors.New("reader got wrong bytes")
		}
		late <- err
	}()
	close(gate)
	if err := <-late; err != nil {
		t.Fatal(err)
	}
	if err := <-fetched; err != nil {
		t.Fatal(err)
	}
	if g := src.gets.Load(); g != 1 {
		t.Fatalf("%d GETs, want 1", g)
	}
	if err := h.VerifyComplete(ctx); err != nil {
		t.Fatal(err)
	}
}

// Cancelling FetchAllWith does not fail a reader waiting for a block of its
// run: the reader fetches the block itself. Nothing half written stays.
func TestCancelledStreamingRunLeavesReadersServed(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 4*testBS, true)
	o := src.object(info.Ref())
	gate := make(chan struct{})
	src.gate, src.started = gate, make(chan struct{}, 8)
	c := openTest(t, t.TempDir(), testBS, src)
	h := openHandle(t, c, info)

	ctx, cancel := context.WithCancel(context.Background())
	fetched := make(chan error, 1)
	go func() { fetched <- h.FetchAllWith(ctx, FetchOptions{Workers: 1, RunBytes: info.Size}) }()
	<-src.started // blocks 0 and 1 arrived
	read := make(chan error, 1)
	go func() {
		p := make([]byte, testBS)
		_, err := h.ReadAt(context.Background(), p, 3*testBS)
		if err == nil && !bytes.Equal(p, o.bytesAt(3*testBS, testBS)) {
			err = errors.New("reader got wrong bytes")
		}
		read <- err
	}()
	cancel()
	if err := <-fetched; !errors.Is(err, context.Canceled) {
		t.Fatalf("FetchAllWith after cancel: %v", err)
	}
	close(gate) // the reader's own GET may be held too
	if err := <-read; err != nil {
		t.Fatalf("reader of the abandoned run: %v", err)
	}
	if err := h.Fetch(context.Background(), 0, info.Size); err != nil {
		t.Fatal(err)
	}
	if err := h.VerifyComplete(context.Background()); err != nil {
		t.Fatal(err)
	}
	readCheck(t, h, o, 0, info.Size)
}

// When the cache cannot write, FetchAllWith says ErrNotStored after one
// GET, records nothing, and reads are still served.
func TestFetchAllWithOnAFullDisk(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 6*testBS, false)
	c := openTest(t, t.TempDir(), testBS, src)
	c.writeAt = func(*os.File, []byte, int64) (int, error) { return 0, syscall.ENOSPC }
	h := openHandle(t, c, info)
	err := h.FetchAllWith(context.Background(), FetchOptions{Workers: 1, RunBytes: info.Size})
	if !errors.Is(err, ErrNotStored) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("FetchAllWith on a full disk: %v", err)
	}
	if g := src.gets.Load(); g != 1 {
		t.Fatalf("%d GETs, want 1", g)
	}
	if len(h.Missing()) != 1 {
		t.Fatal("blocks recorded although they were not written")
	}
	if st := c.Stats(); st.BytesOnDisk != 0 {
		t.Fatalf("%d bytes still counted on disk", st.BytesOnDisk)
	}
	readCheck(t, h, src.object(info.Ref()), 0, info.Size)
}

// Opening a new ETag of a key reports the older version it drops, once.
func TestOpenReportsTheReplacedVersion(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource(testBS)
	v1 := src.put("bkt", "k", 5*testBS+7, false)
	c := openTest(t, dir, testBS, src)
	h1 := openHandle(t, c, v1)
	if _, ok := h1.Replaced(); ok {
		t.Fatal("first version reported as a replacement")
	}
	// Blocks 0 and 5 (the short last one), waiting for their commits.
	if err := h1.Fetch(context.Background(), 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := h1.Fetch(context.Background(), 5*testBS, 1); err != nil {
		t.Fatal(err)
	}
	h1.Close()
	c.Close()

	c = openTest(t, dir, testBS, src)
	v2 := src.put("bkt", "k", 2*testBS, false)
	h2 := openHandle(t, c, v2)
	old, ok := h2.Replaced()
	if !ok || old.ETag != v1.ETag || old.Size != v1.Size || old.CachedBytes != testBS+7 {
		t.Fatalf("Replaced() = %+v, %v; want ETag %s, size %d, %d bytes", old, ok, v1.ETag, v1.Size, testBS+7)
	}
	if again := openHandle(t, c, v2); func() bool { _, ok := again.Replaced(); return ok }() {
		t.Fatal("a second handle reported the replacement again")
	}
}
