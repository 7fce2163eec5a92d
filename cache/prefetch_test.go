package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/object"
)

// heldSource is a memSource whose GETs answer nothing until release is
// closed; asked receives one value per GET as it begins.
type heldSource struct {
	*memSource
	asked   chan struct{}
	release chan struct{}
}

func newHeldSource(bs int64) *heldSource {
	return &heldSource{memSource: newMemSource(bs), asked: make(chan struct{}, 64), release: make(chan struct{})}
}

func (s *heldSource) ReadRange(ctx context.Context, ref object.Ref, off, n int64, w io.WriterAt) error {
	s.asked <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.memSource.ReadRange(ctx, ref, off, n, w)
}

// within fails the test unless ch delivers before the deadline.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// doneWatch is a context that reports when somebody first asks for its
// Done channel, that is when a wait on it begins.
type doneWatch struct {
	context.Context
	once    sync.Once
	waiting chan struct{}
}

func watchDone(ctx context.Context) *doneWatch {
	return &doneWatch{Context: ctx, waiting: make(chan struct{})}
}

func (w *doneWatch) Done() <-chan struct{} {
	w.once.Do(func() { close(w.waiting) })
	return w.Context.Done()
}

// StartFetch returns while the source has not answered yet, and a reader
// of the blocks then waits for that fetch instead of fetching again.
func TestStartFetchDoesNotWaitAndReadersShareItsFetch(t *testing.T) {
	src := newHeldSource(testBS)
	info := src.put("bkt", "obj", 4*testBS, true)
	o := src.object(info.Ref())
	c := openTest(t, t.TempDir(), testBS, src)
	h := openHandle(t, c, info)

	started := make(chan error, 1)
	go func() { started <- h.StartFetch(testBS, 2*testBS) }() // blocks 1 and 2
	if err := within(t, started, "StartFetch to return with the source held"); err != nil {
		t.Fatal(err)
	}
	within(t, src.asked, "the GET StartFetch started")

	read := make(chan []byte, 1)
	go func() {
		p := make([]byte, 2*testBS)
		if _, err := h.ReadAt(context.Background(), p, testBS); err != nil {
			t.Error(err)
		}
		read <- p
	}()
	close(src.release)
	if p := within(t, read, "the reader"); !bytes.Equal(p, o.bytesAt(testBS, 2*testBS)) {
		t.Fatal("the reader got wrong bytes")
	}
	if g := src.gets.Load(); g != 1 {
		t.Fatalf("%d GETs, want 1", g)
	}
	for b, want := range []int{0, 1, 1, 0} {
		if n := src.fetchCount(info.ETag, int64(b)); n != want {
			t.Errorf("block %d fetched %d times, want %d", b, n, want)
		}
	}
}

// AwaitArrived returns once the bytes arrived, not before, and without
// waiting for the committer to record them.
func TestAwaitArrivedWaitsForTheBytesNotTheCommitter(t *testing.T) {
	src := newHeldSource(testBS)
	info := src.put("bkt", "obj", 4*testBS, true)
	o := src.object(info.Ref())
	c := openTest(t, t.TempDir(), testBS, src)
	h := openHandle(t, c, info)

	// Nothing can be recorded while the test holds commitMu.
	c.commitMu.Lock()
	committing := false
	defer func() {
		if !committing {
			c.commitMu.Unlock()
		}
	}()
	var released atomic.Bool
	arrived := make(chan error, 1)
	go func() {
		err := h.AwaitArrived(context.Background(), testBS, 2*testBS)
		if err == nil && !released.Load() {
			err = errors.New("AwaitArrived returned before the source answered")
		}
		arrived <- err
	}()
	within(t, src.asked, "the GET AwaitArrived started")
	released.Store(true)
	close(src.release)
	if err := within(t, arrived, "AwaitArrived with the committer held"); err != nil {
		t.Fatal(err)
	}
	if m := missingBytes(h); m != 4*testBS {
		t.Fatalf("%d bytes missing, want all %d: nothing can be recorded yet", m, 4*testBS)
	}
	readCheck(t, h, o, testBS, 2*testBS)

	committing = true
	c.commitMu.Unlock()
	if err := h.Fetch(context.Background(), testBS, 2*testBS); err != nil {
		t.Fatal(err)
	}
	if m := missingBytes(h); m != 2*testBS {
		t.Fatalf("%d bytes missing after the commit, want %d", m, 2*testBS)
	}
	if g := src.gets.Load(); g != 1 {
		t.Fatalf("%d GETs, want 1", g)
	}
}

// AwaitArrived reports a failed fetch; the blocks are fetched anew by the
// next call.
func TestAwaitArrivedReportsAFailedFetch(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 3*testBS, true)
	errGET := errors.New("GET failed")
	src.fail = errGET
	c := openTest(t, t.TempDir(), testBS, src)
	h := openHandle(t, c, info)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if err := h.AwaitArrived(ctx, 0, info.Size); !errors.Is(err, errGET) {
		t.Fatalf("AwaitArrived of a failing source: %v, want %v", err, errGET)
	}
	src.mu.Lock()
	src.fail = nil
	src.mu.Unlock()
	if err := h.AwaitArrived(ctx, 0, info.Size); err != nil {
		t.Fatalf("AwaitArrived after the source recovered: %v", err)
	}
	readCheck(t, h, src.object(info.Ref()), 0, info.Size)
	if g := src.gets.Load(); g != 1 {
		t.Fatalf("%d GETs that answered, want 1", g)
	}
}

// A FetchAllWith that gives up abandons the blocks of its run that did
// not arrive: AwaitArrived waiting for them fetches them itself.
func TestAwaitArrivedRefetchesAnAbandonedRun(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 4*testBS, true)
	o := src.object(info.Ref())
	gate := make(chan struct{})
	src.gate, src.started = gate, make(chan struct{}, 8)
	c := openTest(t, t.TempDir(), testBS, src)
	h := openHandle(t, c, info)

	fctx, cancelFetch := context.WithCancel(context.Background())
	fetched := make(chan error, 1)
	go func() {
		fetched <- h.FetchAllWith(fctx, FetchOptions{Workers: 1, RunBytes: info.Size, Arrived: true})
	}()
	within(t, src.started, "blocks 0 and 1 to arrive") // the GET is held half way

	wctx := watchDone(context.Background())
	arrived := make(chan error, 1)
	go func() { arrived <- h.AwaitArrived(wctx, 2*testBS, 2*testBS) }()
	within(t, wctx.waiting, "AwaitArrived to wait for block 2")
	cancelFetch()
	if err := within(t, fetched, "FetchAllWith to give up"); !errors.Is(err, context.Canceled) {
		t.Fatalf("FetchAllWith after cancel: %v", err)
	}
	select {
	case err := <-arrived:
		t.Fatalf("AwaitArrived returned %v without fetching the abandoned blocks", err)
	case <-src.started: // AwaitArrived's own GET, held half way too
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for AwaitArrived to fetch the abandoned blocks")
	}
	close(gate)
	if err := within(t, arrived, "AwaitArrived"); err != nil {
		t.Fatalf("AwaitArrived of an abandoned run: %v", err)
	}
	for b, want := range []int{1, 1, 2, 2} {
		if n := src.fetchCount(info.ETag, int64(b)); n != want {
			t.Errorf("block %d fetched %d times, want %d", b, n, want)
		}
	}
	gets := src.gets.Load()
	readCheck(t, h, o, 0, info.Size)
	if g := src.gets.Load(); g != gets {
		t.Fatalf("reading after AwaitArrived made %d more GETs", g-gets)
	}
}

// Blocks that arrived but cannot be stored leave version.flights at once;
// AwaitArrived, waiting through their flight, counts them as arrived
// rather than fetching them again.
func TestAwaitArrivedDoesNotRefetchBlocksNotStored(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 4*testBS, false)
	src.chunk = int(info.Size) // every block of the run arrives in one write
	c := openTest(t, t.TempDir(), testBS, src)
	c.writeAt = func(*os.File, []byte, int64) (int, error) { return 0, syscall.ENOSPC }
	h := openHandle(t, c, info)
	v := h.v
	for i := range 20 {
		if err := h.AwaitArrived(context.Background(), 0, info.Size); err != nil {
			t.Fatal(err)
		}
		if g := src.gets.Load(); g != int64(i+1) {
			t.Fatalf("AwaitArrived %d: %d GETs in all, want %d", i+1, g, i+1)
		}
		// The next call starts from missing blocks, not from this call's
		// flight on its way out.
		testutil.Eventually(t, 20*time.Second, func() bool {
			v.mu.Lock()
			defer v.mu.Unlock()
			return len(v.flights) == 0
		}, "the flight to end")
	}
	if m := missingBytes(h); m != info.Size {
		t.Fatalf("%d bytes missing, want all %d: nothing could be stored", m, info.Size)
	}
}
