package fs

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/object"
)

// fakeVersion is a pinnedVersion that fetches nothing: it records the
// fetches asked of it, can hold the read-ahead's streaming fetches to stand
// for slow arrivals, and fails those that fail chooses. Reads return
// zeros.
type fakeVersion struct {
	info object.Info

	// gate, if not nil, holds each FetchAllWith until it receives a value
	// (close it to let every call through) or its context ends.
	gate chan struct{}
	// fail, if not nil, gives the result of FetchAllWith for a range.
	fail func(object.Range) error

	mu        sync.Mutex
	started   []object.Range // StartFetch, in the order called
	streamed  []object.Range // FetchAllWith, in the order called
	opts      []cache.FetchOptions
	ctxs      []context.Context // of the FetchAllWith calls
	awaited   []object.Range    // AwaitArrived
	active    int               // FetchAllWith calls not returned
	maxActive int
	closed    bool
}

var _ pinnedVersion = (*fakeVersion)(nil)

func newFakeVersion(size int64) *fakeVersion {
	return &fakeVersion{info: object.Info{Bucket: "b", Key: "k", Size: size, ETag: `"e"`}}
}

func (v *fakeVersion) Info() object.Info { return v.info }

func (v *fakeVersion) Verified() bool { return false }

func (v *fakeVersion) DataFile() (*os.File, error) {
	return nil, errors.New("fake version: no data file")
}

func (v *fakeVersion) StartFetch(off, n int64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.started = append(v.started, object.Range{Off: off, Len: n})
	return nil
}

func (v *fakeVersion) AwaitArrived(ctx context.Context, off, n int64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.awaited = append(v.awaited, object.Range{Off: off, Len: n})
	return nil
}

func (v *fakeVersion) FetchAllWith(ctx context.Context, o cache.FetchOptions) error {
	rg := object.Range{Off: o.Off, Len: o.Len}
	v.mu.Lock()
	v.streamed = append(v.streamed, rg)
	v.opts = append(v.opts, o)
	v.ctxs = append(v.ctxs, ctx)
	v.active++
	v.maxActive = max(v.maxActive, v.active)
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		v.active--
		v.mu.Unlock()
	}()
	if v.gate != nil {
		select {
		case <-v.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if v.fail != nil {
		return v.fail(rg)
	}
	return nil
}

func (v *fakeVersion) ReadFd(ctx context.Context, off, n int64) (uintptr, func(), error) {
	return 0, nil, errNotInFile
}

func (v *fakeVersion) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off >= v.info.Size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), v.info.Size-off))
	clear(p[:n])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (v *fakeVersion) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.closed = true
	return nil
}

// streamedSorted is what FetchAllWith was asked for, by offset: workers
// run concurrently, so the order of the calls is not the order of the
// queue.
func (v *fakeVersion) streamedSorted() []object.Range {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := slices.Clone(v.streamed)
	slices.SortFunc(out, func(a, b object.Range) int { return int(a.Off - b.Off) })
	return out
}

func (v *fakeVersion) startedCopy() []object.Range {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.started)
}

func (v *fakeVersion) activeCalls() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.active
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// errNotInFile is what the fake's ReadFd answers: nothing is in a data
// file, so every read goes through ReadAt.
var errNotInFile = errors.New("fake version: range not in a data file")
