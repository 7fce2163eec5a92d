package fs

import (
	"testing"
	"time"
)

// newTestReadahead returns a readahead that queues chunks but starts no
// worker, to look at its decisions.
func newTestReadahead(t *testing.T, size int64) *readahead {
	f, _ := testFS(t, newFakeStore(), time.Minute)
	h := &fileHandle{node: &fileNode{fsys: f}, size: size}
	return &readahead{h: h, block: 1 << 20, size: size, maxWin: 64 << 20, maxConns: 0, slack: 6 << 20}
}

func queued(r *readahead) int64 {
	var n int64
	for _, rg := range r.queue {
		n += rg.Len
	}
	return n
}

func TestReadaheadGrowsForSequentialReads(t *testing.T) {
	r := newTestReadahead(t, 1<<30)
	const read = 128 << 10
	var off int64
	for ; off < 16<<20; off += read {
		r.observe(off, read)
	}
	if r.window != 64<<20 {
		t.Errorf("window after 16 MiB read sequentially = %d MiB, want 64", r.window>>20)
	}
	if r.issued < off+48<<20 || r.issued > off+r.window+r.block {
		t.Errorf("prefetch issued up to %d MiB with the reader at %d MiB", r.issued>>20, off>>20)
	}
	for _, rg := range r.queue[len(r.queue)-4:] {
		if rg.Len != prefetchChunk || rg.Off%r.block != 0 {
			t.Errorf("chunk %+v: want %d bytes, block-aligned", rg, prefetchChunk)
		}
	}
	// Reads arriving slightly out of order do not break the run.
	r.observe(off+2*read, read)
	r.observe(off, read)
	if r.window != 64<<20 {
		t.Errorf("reordered reads reset the window to %d", r.window)
	}
	// A READ served late, well behind the front but inside the window,
	// does not reset the run either, nor does the next one at the front.
	front := r.next
	r.observe(front-8<<20, 1<<20)
	r.observe(front, 1<<20)
	if r.window != 64<<20 || r.next != front+1<<20 {
		t.Errorf("a straggler 8 MiB behind the front reset the run: window %d MiB, front %d MiB", r.window>>20, r.next>>20)
	}
}

func TestReadaheadRandomReadsFetchNothingAhead(t *testing.T) {
	r := newTestReadahead(t, 1<<30)
	for _, off := range []int64{700 << 20, 10 << 20, 300 << 20, 900 << 20} {
		end := r.observe(off+4096, 4096)
		if end != off+8192 {
			t.Errorf("random read at %d: own fetch to %d, want just the read", off, end)
		}
	}
	if q := queued(r); q != 0 {
		t.Errorf("random reads queued %d bytes of prefetch", q)
	}
}

func TestReadaheadStopsAtEOF(t *testing.T) {
	r := newTestReadahead(t, 3<<20+5)
	for off := int64(0); off < 3<<20+5; off += 128 << 10 {
		r.observe(off, min(128<<10, 3<<20+5-off))
	}
	for _, rg := range r.queue {
		if rg.End() > 3<<20+5 {
			t.Errorf("chunk %+v reaches past the end", rg)
		}
	}
	if r.issued != 3<<20+5 {
		t.Errorf("issued up to %d, want the end of the object", r.issued)
	}
}
