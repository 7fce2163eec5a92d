package fs

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/ossmount/ossmount/object"
)

// The read-ahead under test has 1 MiB blocks, a largest window of 64 MiB
// and the slack of a 4 MiB kernel read-ahead (6 MiB), as newReadahead
// derives them from a Config.
const (
	testBlock  = 1 << 20
	testMaxWin = 64 << 20
	testSlack  = 4<<20 + 2*testBlock
)

// raRig is a readahead on a fakeVersion with its own mount-wide limits,
// and the reads it was told about.
type raRig struct {
	*readahead
	v         *fakeVersion
	endHandle context.CancelFunc // what Release does before stop
	endMount  context.CancelFunc
	mountWG   *sync.WaitGroup
	reads     []object.Range
}

type rigLimits struct {
	maxWin int64 // Config.ReadAhead; default testMaxWin
	conns  int   // Config.MaxParallelPerFile
	slots  int64 // Config.MaxParallel
	memory int64 // Config.FetchMemory
}

func newRig(t *testing.T, v *fakeVersion, l rigLimits) *raRig {
	if l.maxWin == 0 {
		l.maxWin = testMaxWin
	}
	if l.slots == 0 {
		l.slots = 32
	}
	if l.memory == 0 {
		l.memory = 1 << 30
	}
	mountCtx, endMount := context.WithCancel(context.Background())
	handleCtx, endHandle := context.WithCancel(mountCtx)
	g := &raRig{v: v, endHandle: endHandle, endMount: endMount, mountWG: new(sync.WaitGroup)}
	g.readahead = &readahead{
		v: v, key: v.info.Key,
		block: testBlock, size: v.info.Size, maxWin: l.maxWin,
		maxConns: l.conns, slack: testSlack, timeout: time.Minute,
		handleCtx: handleCtx, mountCtx: mountCtx, mountWG: g.mountWG,
		slots: semaphore.NewWeighted(l.slots), memory: semaphore.NewWeighted(l.memory),
		prefetched: new(atomic.Int64), log: slog.New(slog.DiscardHandler),
	}
	t.Cleanup(func() {
		endMount()
		g.stop()
		g.mountWG.Wait()
	})
	return g
}

// read tells the read-ahead about a read, as fileHandle.Read does.
func (g *raRig) read(off, n int64) {
	g.reads = append(g.reads, object.Range{Off: off, Len: n})
	g.beforeRead(off, n)
}

// settle waits until the workers have taken every queued chunk and ended.
func (g *raRig) settle(t *testing.T) {
	t.Helper()
	settle(t, g.readahead)
}

func settle(t *testing.T, r *readahead) {
	t.Helper()
	waitFor(t, "the prefetch workers to finish", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.queue) == 0 && r.running == 0
	})
}

// state is the run as observe left it.
func (g *raRig) state() (next, window, issued int64, queued int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.next, g.window, g.issued, len(g.queue)
}

// mib is the range [a, b) MiB.
func mib(a, b int64) object.Range { return object.Range{Off: a << 20, Len: (b - a) << 20} }

func fmtRanges(rs []object.Range) string {
	s := "["
	for i, r := range rs {
		if i > 0 {
			s += " "
		}
		if r.Off%(1<<20) == 0 && r.Len%(1<<20) == 0 {
			s += fmt.Sprintf("%d-%dM", r.Off>>20, r.End()>>20)
		} else {
			s += fmt.Sprintf("%d+%d", r.Off, r.Len)
		}
	}
	return s + "]"
}

func sameRanges(a, b []object.Range) bool { return slices.Equal(a, b) }

// checkChunks asserts the prefetch's own rules for its requests: each is
// one streaming GET of whole, block-aligned blocks (the last block of the
// object may be short), at most prefetchChunk long, within the object, and
// no two overlap.
func checkChunks(t *testing.T, v *fakeVersion, size int64) {
	t.Helper()
	chunks := v.streamedSorted()
	for i, rg := range chunks {
		if rg.Off%testBlock != 0 || (rg.Len%testBlock != 0 && rg.End() != size) || rg.Len <= 0 || rg.Len > prefetchChunk {
			t.Errorf("chunk %+v: want whole blocks, at most %d bytes", rg, prefetchChunk)
		}
		if rg.End() > size {
			t.Errorf("chunk %+v reaches past the end of the object (%d)", rg, size)
		}
		if i > 0 && chunks[i-1].End() > rg.Off {
			t.Errorf("chunks %+v and %+v overlap", chunks[i-1], rg)
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, o := range v.opts {
		if !o.Arrived || o.Workers != 1 || o.RunBytes != o.Len {
			t.Errorf("chunk fetched with %+v: want one streaming GET that returns once arrived", o)
		}
	}
	for _, ctx := range v.ctxs {
		if _, ok := ctx.Deadline(); !ok {
			t.Errorf("a chunk's GET has no deadline")
		}
	}
}

// firstGap is the first byte of [0, end) that none of the ranges covers,
// or end.
func firstGap(end int64, sets ...[]object.Range) int64 {
	var all []object.Range
	for _, s := range sets {
		all = append(all, s...)
	}
	slices.SortFunc(all, func(a, b object.Range) int { return int(a.Off - b.Off) })
	var pos int64
	for _, r := range all {
		if r.Off > pos {
			break
		}
		pos = max(pos, r.End())
	}
	return min(pos, end)
}

// A sequential reader of whole blocks: the window starts at one block and
// doubles with every block the reader moves on, up to the largest window;
// chunks are a window's share of the connections, whole blocks, at most
// prefetchChunk, and queued only whole (so nothing is asked for until a
// whole chunk fits in the window). Once a chunk is larger than a block the
// reader's own fetch reaches a chunk ahead too.
func TestReadaheadSequentialExact(t *testing.T) {
	v := newFakeVersion(1 << 30)
	g := newRig(t, v, rigLimits{conns: 4})
	steps := []struct {
		window int64          // MiB
		chunks []object.Range // queued by this read
		own    []object.Range // the reader's own fetch beyond the read
	}{
		{1, []object.Range{mib(1, 2)}, nil},
		{2, []object.Range{mib(2, 3), mib(3, 4)}, nil},
		{4, []object.Range{mib(4, 5), mib(5, 6), mib(6, 7)}, nil},
		{8, []object.Range{mib(7, 9), mib(9, 11)}, []object.Range{mib(3, 5)}},
		{16, []object.Range{mib(11, 15), mib(15, 19)}, []object.Range{mib(4, 8)}},
		{32, []object.Range{mib(19, 23), mib(23, 27), mib(27, 31), mib(31, 35)}, []object.Range{mib(5, 9)}},
		{64, []object.Range{mib(35, 39), mib(39, 43), mib(43, 47), mib(47, 51), mib(51, 55),
			mib(55, 59), mib(59, 63), mib(63, 67), mib(67, 71)}, []object.Range{mib(6, 10)}},
		{64, nil, []object.Range{mib(7, 11)}},
		{64, nil, []object.Range{mib(8, 12)}},
		{64, nil, []object.Range{mib(9, 13)}},
		{64, []object.Range{mib(71, 75)}, []object.Range{mib(10, 14)}},
	}
	var wantChunks, wantOwn []object.Range
	for i, st := range steps {
		off := int64(i) << 20
		g.read(off, 1<<20)
		g.settle(t)
		wantChunks = append(wantChunks, st.chunks...)
		wantOwn = append(wantOwn, st.own...)
		if got := v.streamedSorted(); !sameRanges(got, wantChunks) {
			t.Fatalf("after the read at %d MiB, prefetched %s, want %s", i, fmtRanges(got), fmtRanges(wantChunks))
		}
		if got := v.startedCopy(); !sameRanges(got, wantOwn) {
			t.Fatalf("after the read at %d MiB, the reader's own fetches were %s, want %s", i, fmtRanges(got), fmtRanges(wantOwn))
		}
		if _, window, _, _ := g.state(); window != st.window<<20 {
			t.Fatalf("after the read at %d MiB the window is %d MiB, want %d", i, window>>20, st.window)
		}
	}
	checkChunks(t, v, v.info.Size)
	if got := g.prefetched.Load(); got != 74<<20 {
		t.Errorf("Stats.PrefetchBytes = %d, want the 74 MiB of chunks queued", got)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.awaited) != 0 {
		t.Errorf("AwaitArrived called for %s; the cache could store everything", fmtRanges(v.awaited))
	}
}

// The window stops at the largest one even when that is no doubling of a
// block, and the prefetch then keeps that far ahead of the reader.
func TestReadaheadWindowStopsAtReadAhead(t *testing.T) {
	const maxWin = 48 << 20
	v := newFakeVersion(1 << 30)
	g := newRig(t, v, rigLimits{conns: 4, maxWin: maxWin})
	var windows []int64
	for off := int64(0); off < 12<<20; off += 1 << 20 {
		g.read(off, 1<<20)
		_, window, _, _ := g.state()
		windows = append(windows, window>>20)
	}
	if want := []int64{1, 2, 4, 8, 16, 32, 48, 48, 48, 48, 48, 48}; !slices.Equal(windows, want) {
		t.Errorf("windows (MiB) %v, want %v", windows, want)
	}
	g.settle(t)
	next, _, issued, _ := g.state()
	if issued > alignUp(next+maxWin, testBlock) || issued < next+maxWin-prefetchChunk {
		t.Errorf("prefetch issued to %d MiB with the reader at %d MiB, want about %d MiB ahead", issued>>20, next>>20, maxWin>>20)
	}
	checkChunks(t, v, v.info.Size)
}

// Sequential readers of other read sizes: whatever the size, the window
// reaches its largest, the prefetch never reaches beyond the window nor
// the object, chunks are whole blocks, and the reader's reads, its own
// fetches and the prefetch together leave no block unfetched.
func TestReadaheadSequentialReadSizes(t *testing.T) {
	for _, n := range []int64{4 << 10, 128 << 10, 100_000, 1 << 20, 3 << 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			const total = 40 << 20
			v := newFakeVersion(1 << 30)
			g := newRig(t, v, rigLimits{conns: 4})
			var lastWindow int64
			for off := int64(0); off < total; off += n {
				g.read(off, n)
				next, window, issued, _ := g.state()
				if window < lastWindow || window > testMaxWin {
					t.Fatalf("read at %d: window %d after %d", off, window, lastWindow)
				}
				lastWindow = window
				if issued > alignUp(next+window, testBlock) {
					t.Fatalf("read at %d: prefetch issued to %d, beyond the window (%d + %d)", off, issued, next, window)
				}
			}
			g.settle(t)
			next, window, issued, _ := g.state()
			if window != testMaxWin {
				t.Errorf("window after %d MiB read sequentially = %d MiB, want %d", total>>20, window>>20, testMaxWin>>20)
			}
			if issued < next+testMaxWin-prefetchChunk {
				t.Errorf("prefetch issued to %d MiB with the reader at %d MiB: the window is not kept full", issued>>20, next>>20)
			}
			checkChunks(t, v, v.info.Size)
			if gap := firstGap(issued, g.reads, v.startedCopy(), v.streamedSorted()); gap != issued {
				t.Errorf("nothing fetches byte %d (prefetch issued to %d)", gap, issued)
			}
		})
	}
}

// At the end of the object the last chunk is cut short, and nothing is
// asked for beyond it.
func TestReadaheadStopsAtEOF(t *testing.T) {
	t.Run("exact", func(t *testing.T) {
		const size = 3<<20 + 5
		v := newFakeVersion(size)
		g := newRig(t, v, rigLimits{conns: 4})
		for off := int64(0); off < size; off += 128 << 10 {
			g.read(off, min(128<<10, size-off))
		}
		g.settle(t)
		want := []object.Range{mib(1, 2), mib(2, 3), {Off: 3 << 20, Len: 5}}
		if got := v.streamedSorted(); !sameRanges(got, want) {
			t.Errorf("prefetched %s, want %s", fmtRanges(got), fmtRanges(want))
		}
		if _, _, issued, _ := g.state(); issued != size {
			t.Errorf("issued up to %d, want the end of the object", issued)
		}
		for _, rg := range v.startedCopy() {
			if rg.End() > size {
				t.Errorf("the reader's own fetch %+v reaches past the end", rg)
			}
		}
	})
	t.Run("large window", func(t *testing.T) {
		const size = 50<<20 + 12345
		v := newFakeVersion(size)
		g := newRig(t, v, rigLimits{conns: 4})
		for off := int64(0); off < size; off += 1 << 20 {
			g.read(off, min(1<<20, size-off))
		}
		g.settle(t)
		checkChunks(t, v, size)
		chunks := v.streamedSorted()
		if last := chunks[len(chunks)-1]; last.End() != size {
			t.Errorf("last chunk %+v, want it to end at the object's end %d", last, size)
		}
		if gap := firstGap(size, g.reads, v.startedCopy(), chunks); gap != size {
			t.Errorf("nothing fetches byte %d", gap)
		}
		for _, rg := range v.startedCopy() {
			if rg.End() > size {
				t.Errorf("the reader's own fetch %+v reaches past the end", rg)
			}
		}
	})
}

// A reader that skips ahead by less than the slack is sequential to the
// read-ahead: the window grows, and the prefetch fetches what the reader
// skips too, except the blocks the reader is in (its own fetch takes
// those). One that skips further is random: nothing is fetched beyond its
// reads.
func TestReadaheadStridedReads(t *testing.T) {
	t.Run("within the slack", func(t *testing.T) {
		v := newFakeVersion(1 << 30)
		g := newRig(t, v, rigLimits{conns: 4})
		steps := []struct {
			window      int64
			chunks, own []object.Range
		}{
			{1, []object.Range{mib(1, 2)}, []object.Range{mib(0, 1)}},
			{2, []object.Range{mib(3, 4), mib(4, 5)}, []object.Range{mib(2, 3)}},
			{4, []object.Range{mib(5, 6), mib(6, 7), mib(7, 8), mib(8, 9)}, []object.Range{mib(4, 5)}},
			{8, []object.Range{mib(9, 11), mib(11, 13), mib(13, 15)}, []object.Range{mib(6, 8)}},
		}
		var wantChunks, wantOwn []object.Range
		for i, st := range steps {
			off := int64(2*i) << 20
			g.read(off, 128<<10)
			g.settle(t)
			wantChunks = append(wantChunks, st.chunks...)
			wantOwn = append(wantOwn, st.own...)
			if got := v.streamedSorted(); !sameRanges(got, wantChunks) {
				t.Fatalf("after the read at %d MiB, prefetched %s, want %s", 2*i, fmtRanges(got), fmtRanges(wantChunks))
			}
			if got := v.startedCopy(); !sameRanges(got, wantOwn) {
				t.Fatalf("after the read at %d MiB, the reader's own fetches were %s, want %s", 2*i, fmtRanges(got), fmtRanges(wantOwn))
			}
			if _, window, _, _ := g.state(); window != st.window<<20 {
				t.Fatalf("after the read at %d MiB the window is %d MiB, want %d", 2*i, window>>20, st.window)
			}
		}
		for off := int64(8 << 20); off < 200<<20; off += 2 << 20 {
			g.read(off, 128<<10)
		}
		g.settle(t)
		if _, window, _, _ := g.state(); window != testMaxWin {
			t.Errorf("window %d MiB, want %d: a small stride is a sequential run", window>>20, testMaxWin>>20)
		}
		checkChunks(t, v, v.info.Size)
	})
	t.Run("beyond the slack", func(t *testing.T) {
		v := newFakeVersion(1 << 30)
		g := newRig(t, v, rigLimits{conns: 4})
		for off := int64(100 << 20); off < 900<<20; off += 16 << 20 {
			g.read(off, 128<<10)
			if _, window, _, _ := g.state(); window != 0 {
				t.Fatalf("read at %d MiB: window %d, want 0 for a 16 MiB stride", off>>20, window)
			}
		}
		g.settle(t)
		if got := v.streamedSorted(); len(got) != 0 {
			t.Errorf("a 16 MiB stride prefetched %s", fmtRanges(got))
		}
		if got := v.startedCopy(); len(got) != 0 {
			t.Errorf("a 16 MiB stride's own fetches reached beyond the reads: %s", fmtRanges(got))
		}
	})
}

// Random reads fetch nothing beyond themselves.
func TestReadaheadRandomReadsFetchNothingAhead(t *testing.T) {
	v := newFakeVersion(1 << 30)
	g := newRig(t, v, rigLimits{conns: 4})
	for _, off := range []int64{700 << 20, 10 << 20, 300 << 20, 900 << 20, 20 << 20, 500 << 20} {
		g.read(off+4096, 4096)
	}
	g.settle(t)
	if got := v.streamedSorted(); len(got) != 0 {
		t.Errorf("random reads prefetched %s", fmtRanges(got))
	}
	if got := v.startedCopy(); len(got) != 0 {
		t.Errorf("random reads fetched beyond themselves: %s", fmtRanges(got))
	}
	if got := g.prefetched.Load(); got != 0 {
		t.Errorf("Stats.PrefetchBytes = %d after random reads", got)
	}
}

// The kernel sends a sequential reader's READs several at a time and they
// are served concurrently, so they arrive in any order. Reads behind the
// front (within the slack and the window) are stragglers of the run: they
// neither move it nor reset it.
func TestReadaheadReorderedReadsKeepTheRun(t *testing.T) {
	const read = 128 << 10
	const batch = 4 // READs the kernel has outstanding at once
	run := func(t *testing.T, reorder bool) (*raRig, *fakeVersion) {
		v := newFakeVersion(1 << 30)
		g := newRig(t, v, rigLimits{conns: 4})
		var lastWindow int64
		for base := int64(0); base < 32<<20; base += batch * read {
			for i := range int64(batch) {
				off := base + i*read
				if reorder {
					off = base + (batch-1-i)*read // the last of the batch first
				}
				g.read(off, read)
				_, window, _, _ := g.state()
				if window < lastWindow {
					t.Fatalf("read at %d: window fell from %d to %d", off, lastWindow, window)
				}
				lastWindow = window
			}
		}
		g.settle(t)
		return g, v
	}
	inOrder, vIn := run(t, false)
	reordered, vRe := run(t, true)
	nextIn, winIn, issuedIn, _ := inOrder.state()
	nextRe, winRe, issuedRe, _ := reordered.state()
	if nextRe != nextIn || winRe != winIn || issuedRe != issuedIn {
		t.Errorf("reordered: front %d, window %d, issued %d; in order: %d, %d, %d",
			nextRe, winRe, issuedRe, nextIn, winIn, issuedIn)
	}
	checkChunks(t, vRe, vRe.info.Size)
	if gap := firstGap(issuedRe, reordered.reads, vRe.startedCopy(), vRe.streamedSorted()); gap != issuedRe {
		t.Errorf("reordered reads: nothing fetches byte %d (issued to %d)", gap, issuedRe)
	}
	if a, b := vIn.streamedSorted(), vRe.streamedSorted(); !sameRanges(a, b) {
		t.Errorf("reordering changed the prefetch: %s in order, %s reordered", fmtRanges(a), fmtRanges(b))
	}

	// A READ served late, well behind the front but inside the window,
	// does not reset the run either, nor does the next one at the front.
	g := reordered
	front, window, _, _ := g.state()
	g.read(front-8<<20, 1<<20)
	g.read(front, 1<<20)
	next, w, issued, _ := g.state()
	if w != window || next != front+1<<20 {
		t.Errorf("a straggler 8 MiB behind the front reset the run: window %d MiB, front %d MiB", w>>20, next>>20)
	}
	if issued > alignUp(next+w, testBlock) {
		t.Errorf("after the straggler the prefetch was issued to %d, beyond the window (%d + %d)", issued, next, w)
	}
}

// The edges of the run: a read may start up to the slack beyond the front,
// and up to the slack plus the window behind it; one byte further either
// way is a jump.
func TestReadaheadRunEdges(t *testing.T) {
	// setUp leaves a run with its front at 8 MiB and a window of 64 MiB
	// and no workers, so only the rule is looked at.
	setUp := func(t *testing.T) *raRig {
		g := newRig(t, newFakeVersion(1<<30), rigLimits{conns: 0})
		for off := int64(0); off < 8<<20; off += 1 << 20 {
			g.read(off, 1<<20)
		}
		if next, window, _, _ := g.state(); next != 8<<20 || window != testMaxWin {
			t.Fatalf("set-up: front %d, window %d", next, window)
		}
		return g
	}
	const front = 8 << 20
	for _, c := range []struct {
		name  string
		off   int64
		reset bool
	}{
		{"slack ahead", front + testSlack, false},
		{"beyond the slack ahead", front + testSlack + 1, true},
		{"at the front", front, false},
		{"just behind the front", front - 1, false},
		{"the object's start", 0, false}, // within the slack and the window behind
	} {
		t.Run(c.name, func(t *testing.T) {
			g := setUp(t)
			g.read(c.off, 4096)
			_, window, _, queued := g.state()
			if reset := window == 0; reset != c.reset {
				t.Errorf("read at %d with the front at %d: reset %v, want %v", c.off, front, reset, c.reset)
			}
			if c.reset && queued != 0 {
				t.Errorf("a jump left %d chunks queued", queued)
			}
		})
	}
	// Behind the front the window counts: with the front at 100 MiB and a
	// 64 MiB window, a read may start 70 MiB behind.
	t.Run("behind", func(t *testing.T) {
		for _, c := range []struct {
			back  int64
			reset bool
		}{{testSlack + testMaxWin, false}, {testSlack + testMaxWin + 1, true}} {
			g := newRig(t, newFakeVersion(1<<30), rigLimits{conns: 0})
			for off := int64(0); off < 100<<20; off += 1 << 20 {
				g.read(off, 1<<20)
			}
			g.read(100<<20-c.back, 4096)
			if _, window, _, _ := g.state(); (window == 0) != c.reset {
				t.Errorf("read %d bytes behind the front: window %d, want reset %v", c.back, window, c.reset)
			}
		}
	})
}

// A jump forgets the run: the window falls to nothing, the chunks queued
// for the old run are dropped (those in flight finish), and the reads
// after it start a new run at one block.
func TestReadaheadJumpResetsTheRun(t *testing.T) {
	v := newFakeVersion(1 << 30)
	v.gate = make(chan struct{})
	g := newRig(t, v, rigLimits{conns: 2})
	for off := int64(0); off < 7<<20; off += 1 << 20 {
		g.read(off, 1<<20)
	}
	waitFor(t, "two chunks in flight", func() bool { return v.activeCalls() == 2 })
	if _, _, _, queued := g.state(); queued == 0 {
		t.Fatal("set-up: nothing queued behind the chunks in flight")
	}
	g.read(500<<20, 1<<20)
	next, window, issued, queued := g.state()
	if window != 0 || queued != 0 || next != 501<<20 || issued != 501<<20 {
		t.Errorf("after a jump: window %d, %d chunks queued, front %d, issued %d", window, queued, next, issued)
	}
	close(v.gate)
	g.settle(t)
	if got, want := v.streamedSorted(), []object.Range{mib(1, 2), mib(2, 3)}; !sameRanges(got, want) {
		t.Errorf("prefetched %s, want only the chunks in flight at the jump, %s", fmtRanges(got), fmtRanges(want))
	}
	g.read(501<<20, 1<<20)
	g.settle(t)
	if got, want := v.streamedSorted(), []object.Range{mib(1, 2), mib(2, 3), mib(502, 503)}; !sameRanges(got, want) {
		t.Errorf("after the jump prefetched %s, want a new run from one block, %s", fmtRanges(got), fmtRanges(want))
	}
}
