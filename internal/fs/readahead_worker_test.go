package fs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/object"
)

// The read-ahead's workers: their lifetime, their limits and their failures.

// stop returns only once no worker is running; the chunks queued are
// dropped, and no worker starts after it.
func TestReadaheadStopWaitsForWorkers(t *testing.T) {
	v := newFakeVersion(1 << 30)
	v.gate = make(chan struct{})
	g := newRig(t, v, rigLimits{conns: 2})
	for off := int64(0); off < 5<<20; off += 1 << 20 {
		g.read(off, 1<<20)
	}
	waitFor(t, "two chunks in flight", func() bool { return v.activeCalls() == 2 })
	stopped := make(chan int) // fetches still running when stop returned
	go func() {
		g.stop()
		stopped <- v.activeCalls()
	}()
	// Shutdown waits for the workers too: they are the mount's goroutines.
	shutdown := make(chan int)
	go func() {
		g.mountWG.Wait()
		shutdown <- v.activeCalls()
	}()
	waitFor(t, "stop to begin", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.stopped
	})
	select {
	case n := <-stopped:
		t.Fatalf("stop returned with %d chunks in flight", n)
	default:
	}
	close(v.gate)
	select {
	case n := <-stopped:
		if n != 0 {
			t.Errorf("stop returned with %d chunks in flight", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not return once the chunks in flight had arrived")
	}
	select {
	case n := <-shutdown:
		if n != 0 {
			t.Errorf("the mount's WaitGroup was done with %d chunks in flight", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the mount's WaitGroup still counts a worker after stop")
	}
	if got, want := v.streamedSorted(), []object.Range{mib(1, 2), mib(2, 3)}; !sameRanges(got, want) {
		t.Errorf("prefetched %s, want only the chunks in flight at stop, %s", fmtRanges(got), fmtRanges(want))
	}
	ownBefore := len(v.startedCopy())
	for off := int64(5 << 20); off < 20<<20; off += 1 << 20 {
		g.read(off, 1<<20)
	}
	g.mu.Lock()
	running, queued := g.running, len(g.queue)
	g.mu.Unlock()
	if running != 0 || queued != 0 {
		t.Errorf("after stop, reads left %d workers and %d chunks queued", running, queued)
	}
	if got := v.streamedSorted(); len(got) != 2 {
		t.Errorf("after stop, reads prefetched %s", fmtRanges(got[2:]))
	}
	if got := v.startedCopy(); len(got) != ownBefore {
		t.Errorf("after stop, reads fetched beyond themselves: %s", fmtRanges(got[ownBefore:]))
	}
}

// A worker waiting for a connection slot or for the budget of bytes in
// flight gives up when the handle ends, without fetching.
func TestReadaheadGivesUpWaitingAtRelease(t *testing.T) {
	for _, c := range []struct {
		name string
		l    rigLimits
		take func(g *raRig) // exhausts the limit, as other files would
	}{
		{"slots", rigLimits{conns: 2, slots: 1}, func(g *raRig) { _ = g.slots.Acquire(context.Background(), 1) }},
		{"memory", rigLimits{conns: 2, memory: 1 << 20}, func(g *raRig) { _ = g.memory.Acquire(context.Background(), 1<<20) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := newFakeVersion(1 << 30)
			g := newRig(t, v, c.l)
			c.take(g)
			g.read(0, 1<<20)
			g.read(1<<20, 1<<20)
			waitFor(t, "the workers to take their chunks", func() bool {
				g.mu.Lock()
				defer g.mu.Unlock()
				return g.busy == 2
			})
			g.endHandle()
			done := make(chan struct{})
			go func() { g.stop(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("stop waits for workers blocked on a mount-wide limit")
			}
			if got := v.streamedSorted(); len(got) != 0 {
				t.Errorf("workers fetched %s after the handle ended", fmtRanges(got))
			}
		})
	}
}

// The connection slots and the budget of bytes in flight bound the
// chunks fetched at once, whatever the handle's own limit of workers.
func TestReadaheadMountLimitsBoundFetches(t *testing.T) {
	for _, c := range []struct {
		name string
		l    rigLimits
		most int
	}{
		{"slots", rigLimits{conns: 4, slots: 1}, 1},
		{"memory", rigLimits{conns: 4, memory: 2 << 20}, 2}, // chunks of 1 MiB
	} {
		t.Run(c.name, func(t *testing.T) {
			v := newFakeVersion(1 << 30)
			v.gate = make(chan struct{})
			g := newRig(t, v, c.l)
			for off := int64(0); off < 3<<20; off += 1 << 20 {
				g.read(off, 1<<20) // six chunks of 1 MiB
			}
			for released := 0; released < 6; released++ {
				waitFor(t, "a chunk in flight", func() bool { return v.activeCalls() > 0 })
				v.gate <- struct{}{}
			}
			g.settle(t)
			v.mu.Lock()
			defer v.mu.Unlock()
			if len(v.streamed) != 6 {
				t.Errorf("fetched %s, want six chunks", fmtRanges(v.streamed))
			}
			if v.maxActive > c.most {
				t.Errorf("%d chunks in flight at once, want at most %d", v.maxActive, c.most)
			}
		})
	}
}

// A chunk's GET runs under the mount's context: Release does not cut it
// off (the bytes on their way would be lost), and no worker takes another
// chunk after it; shutdown ends the GET.
func TestReadaheadChunkOutlivesRelease(t *testing.T) {
	t.Run("release", func(t *testing.T) {
		v := newFakeVersion(1 << 30)
		v.gate = make(chan struct{})
		g := newRig(t, v, rigLimits{conns: 1})
		g.read(0, 1<<20)
		g.read(1<<20, 1<<20) // queues [2, 4) MiB behind the chunk in flight
		waitFor(t, "a chunk in flight", func() bool { return v.activeCalls() == 1 })
		g.endHandle()
		v.mu.Lock()
		ctx := v.ctxs[0]
		v.mu.Unlock()
		if ctx.Err() != nil {
			t.Fatalf("ending the handle ended the chunk's GET: %v", ctx.Err())
		}
		v.gate <- struct{}{}
		waitFor(t, "the worker to end", func() bool {
			g.mu.Lock()
			defer g.mu.Unlock()
			return g.running == 0
		})
		if got, want := v.streamedSorted(), []object.Range{mib(1, 2)}; !sameRanges(got, want) {
			t.Errorf("prefetched %s, want only the chunk in flight at Release, %s", fmtRanges(got), fmtRanges(want))
		}
	})
	t.Run("shutdown", func(t *testing.T) {
		v := newFakeVersion(1 << 30)
		v.gate = make(chan struct{})
		g := newRig(t, v, rigLimits{conns: 1})
		g.read(0, 1<<20)
		waitFor(t, "a chunk in flight", func() bool { return v.activeCalls() == 1 })
		g.endMount()
		waitFor(t, "shutdown to end the chunk's GET", func() bool { return v.activeCalls() == 0 })
		v.mu.Lock()
		err := v.ctxs[0].Err()
		v.mu.Unlock()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("chunk's context after shutdown: %v", err)
		}
	})
}

// A failing fetch stops the prefetch: the queue is dropped and the window
// falls to nothing, so the doomed request is not repeated for the next
// chunks (the reader meets the failure itself). The run goes on: the
// window grows again, and the prefetch resumes beyond what had been
// issued once the window reaches past it.
func TestReadaheadFailureStopsPrefetch(t *testing.T) {
	v := newFakeVersion(1 << 30)
	v.gate = make(chan struct{})
	v.fail = func(rg object.Range) error {
		if rg.Off == 1<<20 {
			return errors.New("connection reset")
		}
		return nil
	}
	g := newRig(t, v, rigLimits{conns: 1}) // one worker: chunks are the whole window
	for off := int64(0); off < 4<<20; off += 1 << 20 {
		g.read(off, 1<<20)
	}
	waitFor(t, "the first chunk in flight", func() bool { return v.activeCalls() == 1 })
	if _, _, issued, queued := g.state(); queued != 3 || issued != 12<<20 {
		t.Fatalf("set-up: %d chunks queued, issued to %d MiB", queued, issued>>20)
	}
	v.gate <- struct{}{} // the first chunk fails
	g.settle(t)
	close(v.gate)
	if got, want := v.streamedSorted(), []object.Range{mib(1, 2)}; !sameRanges(got, want) {
		t.Errorf("prefetched %s, want only the failed chunk %s", fmtRanges(got), fmtRanges(want))
	}
	if _, window, issued, _ := g.state(); window != 0 || issued != 12<<20 {
		t.Errorf("after a failed chunk: window %d, issued %d MiB; want 0 and 12", window, issued>>20)
	}
	for i, want := range [][]object.Range{
		{mib(1, 2)},              // read at 4 MiB: window 1 MiB
		{mib(1, 2)},              // 5 MiB: 2 MiB
		{mib(1, 2)},              // 6 MiB: 4 MiB
		{mib(1, 2), mib(12, 16)}, // 7 MiB: 8 MiB reaches past 12 MiB
	} {
		off := int64(4+i) << 20
		g.read(off, 1<<20)
		g.settle(t)
		if got := v.streamedSorted(); !sameRanges(got, want) {
			t.Errorf("after the read at %d MiB prefetched %s, want %s", off>>20, fmtRanges(got), fmtRanges(want))
		}
	}
}

// When the cache cannot keep the bytes, a chunk is fetched into the
// cache's buffers instead (AwaitArrived) and the prefetch goes on.
func TestReadaheadNotStoredFallsBackToBuffers(t *testing.T) {
	v := newFakeVersion(1 << 30)
	v.fail = func(object.Range) error { return fmt.Errorf("disk full: %w", cache.ErrNotStored) }
	g := newRig(t, v, rigLimits{conns: 1})
	g.read(0, 1<<20)
	g.read(1<<20, 1<<20)
	g.settle(t)
	want := []object.Range{mib(1, 2), mib(2, 4)}
	if got := v.streamedSorted(); !sameRanges(got, want) {
		t.Errorf("streamed %s, want %s", fmtRanges(got), fmtRanges(want))
	}
	v.mu.Lock()
	awaited := slices.Clone(v.awaited)
	v.mu.Unlock()
	slices.SortFunc(awaited, func(a, b object.Range) int { return int(a.Off - b.Off) })
	if !sameRanges(awaited, want) {
		t.Errorf("awaited %s, want the same chunks %s", fmtRanges(awaited), fmtRanges(want))
	}
	if _, window, _, _ := g.state(); window != 2<<20 {
		t.Errorf("window %d after the fallback, want the run to go on", window)
	}
}
