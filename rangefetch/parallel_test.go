package rangefetch_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

func TestFetchParallelExactWithProgress(t *testing.T) {
	e := newEnv(t, func(c *rangefetch.Config) { c.Retry.MaxAttempts = 40 })
	const size = 6<<20 + 12345
	data := randomBytes(size, 8)
	e.store.Put(testBucket, "big", data)
	info, err := e.client.Stat(context.Background(), testBucket, "big")
	if err != nil {
		t.Fatal(err)
	}
	for _, faults := range []ossserver.Faults{{}, {SlowDownFraction: 0.3, CutBodyFraction: 0.3}} {
		e.srv.SetFaults(faults)
		buf := newObjectBuffer(size)
		var calls, last, lastTotal int64
		progress := func(done, total int64) {
			calls++
			if done < last {
				t.Errorf("progress went back from %d to %d", last, done)
			}
			last, lastTotal = done, total
		}
		ranges := rangefetch.SplitRanges(0, size, 100<<10)
		if err := e.client.FetchParallel(context.Background(), info.Ref(), ranges, 16, buf, progress); err != nil {
			t.Fatalf("faults %+v: %v", faults, err)
		}
		assertRange(t, buf, data, 0, size)
		if last != size || lastTotal != size || calls < int64(len(ranges)) {
			t.Fatalf("progress ended at %d/%d after %d calls", last, lastTotal, calls)
		}
		if buf.written != size {
			t.Fatalf("wrote %d bytes for %d", buf.written, size)
		}
	}
}

// TestFetchParallelStopsOnFirstError: one bad range fails fast while the
// others are slow; the fetch returns that error and the other workers stop
// long before they could have finished.
func TestFetchParallelStopsOnFirstError(t *testing.T) {
	e := newEnv(t, nil)
	const size = 8 << 20
	e.store.Put(testBucket, "big", randomBytes(size, 9))
	info, _ := e.client.Stat(context.Background(), testBucket, "big")
	e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 256 << 10})
	ranges := rangefetch.SplitRanges(0, size, 1<<20)
	ranges = append([]object.Range{{Off: size, Len: 10}}, ranges...) // 416
	var progressed atomic.Int64
	err := e.client.FetchParallel(context.Background(), info.Ref(), ranges, 4, newObjectBuffer(size+10),
		func(done, _ int64) { progressed.Store(done) })
	if !errors.Is(err, rangefetch.ErrInvalidRange) {
		t.Fatalf("got %v, want ErrInvalidRange", err)
	}
	st := e.srv.Stats()
	if st.BodyBytes >= size/2 || st.Gets > 5 {
		t.Fatalf("other workers kept going: %+v", st)
	}
}

func TestFetchParallelCancel(t *testing.T) {
	e := newEnv(t, nil)
	const size = 4 << 20
	e.store.Put(testBucket, "big", randomBytes(size, 10))
	info, _ := e.client.Stat(context.Background(), testBucket, "big")
	e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 64 << 10})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- e.client.FetchParallel(ctx, info.Ref(), rangefetch.SplitRanges(0, size, 256<<10), 4, newObjectBuffer(size), nil)
	}()
	waitFor(t, "GETs in flight", func() bool { return e.srv.Stats().Gets >= 4 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if st := e.srv.Stats(); st.Gets > 4 {
		t.Fatalf("new GETs after cancel: %+v", st)
	}
}

func TestFetchParallelEmpty(t *testing.T) {
	e := newEnv(t, nil)
	var got []int64
	err := e.client.FetchParallel(context.Background(), object.Ref{Bucket: testBucket, Key: "k"}, nil, 4, newObjectBuffer(0),
		func(done, total int64) { got = append(got, done, total) })
	if err != nil || len(got) != 2 || got[0] != 0 || got[1] != 0 {
		t.Fatalf("empty fetch: %v %v", got, err)
	}
}
