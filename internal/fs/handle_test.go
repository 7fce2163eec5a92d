package fs

import (
	"context"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

// fakeCache opens the fake versions it holds, by key.
type fakeCache map[string]*fakeVersion

func (c fakeCache) Open(ctx context.Context, info object.Info) (pinnedVersion, error) {
	v, ok := c[info.Key]
	if !ok {
		return nil, rangefetch.ErrNotFound
	}
	return v, nil
}

func (c fakeCache) BlockSize() int64 { return testBlock }

// openFake opens v through a fileNode of a filesystem whose cache holds
// only v, with the read-ahead settings of the readahead tests.
func openFake(t *testing.T, v *fakeVersion) (*filesystem, *fileHandle) {
	f, now := testFS(t, newFakeStore(), time.Minute)
	f.cache = fakeCache{v.info.Key: v}
	f.cfg.ReadAhead = testMaxWin
	f.cfg.KernelReadAhead = testSlack - 2*testBlock
	f.cfg.MaxParallelPerFile = 4
	f.fetchSlots = semaphore.NewWeighted(32)
	f.fetchMemory = semaphore.NewWeighted(160 << 20)
	f.handles = make(map[*fileHandle]struct{})
	n := &fileNode{fsys: f, dir: &dirMeta{fsys: f}, name: v.info.Key, info: v.info, checked: *now}
	fh, _, errno := n.Open(context.Background(), syscall.O_RDONLY)
	if errno != 0 {
		t.Fatalf("open: %v", errno)
	}
	h := fh.(*fileHandle)
	t.Cleanup(h.release)
	return f, h
}

func readFake(t *testing.T, h *fileHandle, off int64, n int) {
	t.Helper()
	res, errno := h.Read(context.Background(), make([]byte, n), off)
	if errno != 0 {
		t.Fatalf("read %d at %d: %v", n, off, errno)
	}
	if got := res.Size(); got != n {
		t.Fatalf("read %d at %d returned %d bytes", n, off, got)
	}
}

// A read of an open file tells its read-ahead, which starts the reader's
// own fetch and the prefetch through the version; Release stops the
// prefetch and closes the version.
func TestFileReadsDriveTheReadahead(t *testing.T) {
	v := newFakeVersion(64 << 20)
	f, h := openFake(t, v)
	readFake(t, h, 0, 128<<10)
	settle(t, h.ra)
	if got, want := v.startedCopy(), []object.Range{{Off: 0, Len: 1 << 20}}; !sameRanges(got, want) {
		t.Errorf("reader's own fetches %s, want the rest of its block %s", fmtRanges(got), fmtRanges(want))
	}
	if got, want := v.streamedSorted(), []object.Range{mib(1, 2)}; !sameRanges(got, want) {
		t.Errorf("prefetched %s, want %s", fmtRanges(got), fmtRanges(want))
	}
	if s := f.stats.snapshot(); s.PrefetchBytes != 1<<20 || s.ReadBytes != 128<<10 {
		t.Errorf("stats %+v: want 1 MiB prefetched, 128 KiB read", s)
	}
	h.release()
	if !v.closed {
		t.Error("Release left the version open")
	}
	if !h.ra.stopped || len(f.handles) != 0 {
		t.Errorf("after Release: read-ahead stopped %v, %d handles open", h.ra.stopped, len(f.handles))
	}
}

// An object of at most smallObject is fetched whole on its first read (one
// GET); later reads go through the read-ahead, whose fetches stay within
// the object (the cache finds their blocks fetched already), and nothing
// is prefetched.
func TestFileSmallObjectFetchedWhole(t *testing.T) {
	const size = 100 << 10
	v := newFakeVersion(size)
	_, h := openFake(t, v)
	readFake(t, h, 0, 4096)
	if got, want := v.startedCopy(), []object.Range{{Off: 0, Len: size}}; !sameRanges(got, want) {
		t.Errorf("first read fetched %s, want the whole object, %s", fmtRanges(got), fmtRanges(want))
	}
	readFake(t, h, 4096, 4096)
	readFake(t, h, 96<<10, 4096)
	for _, rg := range v.startedCopy()[1:] {
		if rg.End() > size {
			t.Errorf("a later read fetched %+v, beyond the object", rg)
		}
	}
	if got := v.streamedSorted(); len(got) != 0 {
		t.Errorf("a small object was prefetched: %s", fmtRanges(got))
	}
}
