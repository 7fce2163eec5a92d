package cache

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
)

// A ranged FetchAllWith fetches the blocks overlapping its range, each
// once, in runs of RunBytes, and nothing else; its progress counts the
// blocks of the range only.
func TestFetchAllWithRangeFetchesOnlyItsBlocks(t *testing.T) {
	const size = 20*testBS + 5 // 21 blocks, the last one short
	for _, tt := range []struct {
		name        string
		off, len    int64
		first, last int64 // blocks expected fetched
		runBytes    int64
		gets        int64
	}{
		{"aligned", 4 * testBS, 6 * testBS, 4, 9, 3 * testBS, 2},
		{"unaligned edges take whole blocks", 4*testBS + 10, 3 * testBS, 4, 7, 100 * testBS, 1},
		{"one byte", 12*testBS + 7, 1, 12, 12, testBS, 1},
		{"up to the short last block", 18 * testBS, 10 * testBS, 18, 20, 2 * testBS, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := newMemSource(testBS)
			info := src.put("bkt", "obj", size, true)
			o := src.object(info.Ref())
			c := openTest(t, t.TempDir(), testBS, src)
			h := openHandle(t, c, info)
			wantBytes := min((tt.last+1)*testBS, size) - tt.first*testBS
			var mu sync.Mutex
			var last, total int64
			err := h.FetchAllWith(context.Background(), FetchOptions{
				Off: tt.off, Len: tt.len, Workers: 2, RunBytes: tt.runBytes,
				Progress: func(d, tot int64) {
					mu.Lock()
					defer mu.Unlock()
					last, total = d, tot
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if g := src.gets.Load(); g != tt.gets {
				t.Errorf("%d GETs, want %d", g, tt.gets)
			}
			if b := src.bytes.Load(); b != wantBytes {
				t.Errorf("%d bytes fetched, want %d (blocks %d-%d)", b, wantBytes, tt.first, tt.last)
			}
			for b := int64(0); b*testBS < size; b++ {
				want := 0
				if b >= tt.first && b <= tt.last {
					want = 1
				}
				if n := src.fetchCount(info.ETag, b); n != want {
					t.Errorf("block %d fetched %d times, want %d", b, n, want)
				}
			}
			if last != wantBytes || total != wantBytes {
				t.Errorf("last progress %d of %d, want %d of %d", last, total, wantBytes, wantBytes)
			}
			if m := missingBytes(h); m != size-wantBytes {
				t.Errorf("%d bytes missing after the fetch, want %d", m, size-wantBytes)
			}
			gets := src.gets.Load()
			readCheck(t, h, o, tt.first*testBS, wantBytes)
			if src.gets.Load() != gets {
				t.Error("reading the fetched range fetched again")
			}
			// Fetching the same range again fetches nothing.
			if err := h.FetchAllWith(context.Background(), FetchOptions{Off: tt.off, Len: tt.len}); err != nil {
				t.Fatal(err)
			}
			if src.gets.Load() != gets {
				t.Error("fetching a present range fetched again")
			}
		})
	}
}

// With Arrived, a ranged FetchAllWith returns once its run is readable in
// the data file; the blocks are recorded later, without another GET.
func TestFetchAllWithArrivedRange(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 8*testBS, true)
	o := src.object(info.Ref())
	c := openTest(t, t.TempDir(), testBS, src)
	h := openHandle(t, c, info)
	err := h.FetchAllWith(context.Background(), FetchOptions{
		Off: 2 * testBS, Len: 4 * testBS, Workers: 1, RunBytes: 4 * testBS, Arrived: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	readCheck(t, h, o, 2*testBS, 4*testBS)
	testutil.Eventually(t, 20*time.Second, func() bool { return missingBytes(h) == 4*testBS }, "the range recorded")
	if g, b := src.gets.Load(), src.bytes.Load(); g != 1 || b != 4*testBS {
		t.Fatalf("%d GETs of %d bytes, want 1 of %d", g, b, 4*testBS)
	}
}

func missingBytes(h *Handle) int64 {
	var n int64
	for _, r := range h.Missing() {
		n += r.Len
	}
	return n
}

// Blocks that arrived but wait for the burst to pause before they are
// recorded are recorded by Close: a reopened cache has them all, and
// reading them costs no GET.
func TestCloseRecordsArrivedBlocks(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 6*testBS+5, true)
	o := src.object(info.Ref())
	dir := t.TempDir()
	c := openTest(t, dir, testBS, src)
	h, err := c.Open(context.Background(), info)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.FetchAllWith(context.Background(), FetchOptions{Workers: 2, RunBytes: 2 * testBS, Arrived: true}); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := c.Stats().UnrecordedBytes; n != 0 {
		t.Fatalf("%d bytes unrecorded after Close", n)
	}
	gets := src.gets.Load()

	c2 := openTest(t, dir, testBS, src)
	h2 := openHandle(t, c2, info)
	if m := h2.Missing(); len(m) != 0 {
		t.Fatalf("missing after reopen: %v", m)
	}
	readCheck(t, h2, o, 0, info.Size)
	if g := src.gets.Load() - gets; g != 0 {
		t.Fatalf("reading recorded blocks made %d GETs", g)
	}
}
