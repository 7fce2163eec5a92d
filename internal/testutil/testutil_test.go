package testutil

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fatalRecorder stands in for a test so that Eventually's failure can be
// observed: Fatalf records the message and ends the goroutine, as the real
// one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	Eventually(t, 10*time.Second, func() bool { calls++; return calls == 5 }, "the fifth call")
	if calls != 5 {
		t.Fatalf("cond called %d times, want 5", calls)
	}
}

func TestEventuallyFailsAfterTheTimeout(t *testing.T) {
	r := &fatalRecorder{TB: t}
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		Eventually(r, 50*time.Millisecond, func() bool { return false }, "never")
	}()
	<-done
	if !strings.Contains(r.msg, "waiting for never") {
		t.Fatalf("failure %q does not name what it waited for", r.msg)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Fatalf("gave up after %v, before the 50ms timeout", waited)
	}
}

func TestRandomBytesDependOnlyOnTheSeed(t *testing.T) {
	a, b := RandomBytes(7, 1000), RandomBytes(7, 1000)
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed gave different bytes")
	}
	if !bytes.Equal(RandomBytes(7, 10), a[:10]) {
		t.Fatal("a shorter run is not a prefix of a longer one")
	}
	if bytes.Equal(a, RandomBytes(8, 1000)) || bytes.Equal(a, RandomBytes(7+1<<8, 1000)) {
		t.Fatal("different seeds gave the same bytes")
	}
	if bytes.Equal(a, make([]byte, len(a))) {
		t.Fatal("the bytes are all zero")
	}
}

func TestLogBufferKeepsConcurrentWrites(t *testing.T) {
	var l LogBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintf(&l, "writer %d\n", i)
				_ = l.String()
			}
		})
	}
	wg.Wait()
	got := l.String()
	for i := range 8 {
		if n := strings.Count(got, fmt.Sprintf("writer %d\n", i)); n != 100 {
			t.Errorf("writer %d: %d lines, want 100", i, n)
		}
	}
}
