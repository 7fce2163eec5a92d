package cache

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/object"
)

// pacedSource serves one GET per period, so that blocks arrive
// continuously, never pausing long enough for the committer's quiet rule.
type pacedSource struct {
	*memSource
	every time.Duration
}

func (s pacedSource) ReadRange(ctx context.Context, ref object.Ref, off, n int64, w io.WriterAt) error {
	timer := time.NewTimer(s.every)
	defer timer.Stop()
	select {
	case <-timer.C: // the pace of arrivals, not synchronisation
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.memSource.ReadRange(ctx, ref, off, n, w)
}

// ageTestBound is how long a block may wait unrecorded in the age test:
// commitMaxAge and a sync, with room for a loaded machine, and well below
// the five seconds a continuous burst used to wait.
const ageTestBound = 3 * time.Second

// While blocks arrive without a pause, none waits unrecorded much longer
// than commitMaxAge: the committer does not wait for the burst to end.
func TestCommitterRecordsAContinuousBurstWithinTheAgeBound(t *testing.T) {
	const every = 20 * time.Millisecond
	const n = 200 // about 4 s of arrivals
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", n*testBS, true)
	o := src.object(info.Ref())
	c := openTest(t, t.TempDir(), testBS, pacedSource{src, every})
	h := openHandle(t, c, info)
	v := h.v

	var mu sync.Mutex
	arrived := make([]time.Time, n) // zero: not read yet
	recorded := make([]time.Time, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := int64(0); b < n; b++ {
			readCheck(t, h, o, b*testBS, testBS)
			mu.Lock()
			arrived[b] = time.Now()
			mu.Unlock()
		}
	}()
	seen := 0
	testutil.Eventually(t, 60*time.Second, func() bool {
		now := time.Now()
		v.mu.Lock()
		for b := range int64(n) {
			if recorded[b].IsZero() && v.present.has(b) {
				recorded[b] = now
				seen++
			}
		}
		v.mu.Unlock()
		return seen == n
	}, "every block to be recorded")
	<-done

	worst, worstBlock := time.Duration(0), 0
	mu.Lock()
	defer mu.Unlock()
	for b := range n {
		// A block is recorded only after its reader had it: the reader's
		// time is a little after the block's arrival, so the wait measured
		// here is at most the real one.
		if wait := recorded[b].Sub(arrived[b]); wait > worst {
			worst, worstBlock = wait, b
		}
	}
	t.Logf("longest wait unrecorded: %v (block %d)", worst, worstBlock)
	if worst > ageTestBound {
		t.Fatalf("block %d waited %v unrecorded while blocks kept arriving; the bound is %v plus a sync",
			worstBlock, worst, commitMaxAge)
	}
}

// unrecordedRule is the most bytes that may wait unrecorded, as doc.go
// states it.
const unrecordedRule = 256 << 20

// However fast blocks arrive and however slow the committer is, at most
// 256 MiB are written and unrecorded: fetches wait beyond that.
func TestUnrecordedBytesStayWithinTheBound(t *testing.T) {
	// Blocks of 1 MiB: the committer's queue then holds far more than the
	// bound, so only the bound can stop the fetches.
	const bs = 1 << 20
	const size = unrecordedRule + 64<<20
	src := newMemSource(bs)
	info := object.Info{Bucket: "bkt", Key: "big", Size: size, ETag: "\"BIG\""}
	// Explicit bytes: generating them per read would dominate the test.
	obj := &testObject{info: info, data: testutil.RandomBytes(1, size)}
	src.mu.Lock()
	src.objects[info.Ref()] = obj
	src.mu.Unlock()
	c := openTest(t, t.TempDir(), bs, src)
	h := openHandle(t, c, info)

	var peak int64
	sample := func() int64 {
		u := c.Stats().UnrecordedBytes
		peak = max(peak, u)
		return u
	}
	// Nothing can be recorded while the test holds commitMu.
	c.commitMu.Lock()
	held := true
	defer func() {
		if held {
			c.commitMu.Unlock()
		}
	}()
	done := make(chan struct{})
	var readErr error
	go func() {
		defer close(done)
		p := make([]byte, bs)
		for off := int64(0); off < size; off += bs {
			if _, err := h.ReadAt(context.Background(), p, off); err != nil {
				readErr = err
				return
			}
			if !bytes.Equal(p, obj.data[off:off+bs]) {
				readErr = fmt.Errorf("wrong bytes at %d", off)
				return
			}
		}
	}()
	finished := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	testutil.Eventually(t, 120*time.Second, func() bool {
		return sample() >= unrecordedRule || finished()
	}, "the unrecorded bytes to reach the bound, or the read to end")
	if u := sample(); u > unrecordedRule {
		t.Fatalf("%d MiB unrecorded with the committer held; the bound is %d MiB", u>>20, unrecordedRule>>20)
	}
	held = false
	c.commitMu.Unlock()
	testutil.Eventually(t, 120*time.Second, func() bool {
		sample()
		return finished()
	}, "the read to end once the committer runs")
	if readErr != nil {
		t.Fatal(readErr)
	}
	if err := h.Fetch(context.Background(), 0, size); err != nil {
		t.Fatal(err)
	}
	if peak > unrecordedRule {
		t.Fatalf("%d MiB were unrecorded at once; the bound is %d MiB", peak>>20, unrecordedRule>>20)
	}
	if m := missingBytes(h); m != 0 {
		t.Fatalf("%d bytes not recorded after the burst", m)
	}
}
