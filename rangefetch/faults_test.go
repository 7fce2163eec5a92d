package rangefetch_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/rangefetch"
)

func TestRetriesSlowDown(t *testing.T) {
	e := newEnv(t, func(c *rangefetch.Config) { c.Retry.MaxAttempts = 40 })
	data := testutil.RandomBytes(3, 64<<10)
	e.store.Put(testBucket, "k", data)
	info, err := e.client.Stat(context.Background(), testBucket, "k")
	if err != nil {
		t.Fatal(err)
	}
	e.srv.SetFaults(ossserver.Faults{SlowDownFraction: 0.5})
	const reads = 20
	buf := newObjectBuffer(info.Size)
	for i := range reads {
		off := int64(i) * 3000
		if err := e.client.ReadRange(context.Background(), info.Ref(), off, 3000, buf); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		assertRange(t, buf, data, off, 3000)
	}
	if st := e.srv.Stats(); st.Gets <= reads || st.SlowDowns == 0 || st.Gets != reads+st.SlowDowns {
		t.Fatalf("expected retried GETs: %+v", st)
	}
}

func TestSlowDownAlwaysExhaustsRetries(t *testing.T) {
	e := newEnv(t, func(c *rangefetch.Config) { c.Retry.MaxAttempts = 3 })
	e.store.Put(testBucket, "k", testutil.RandomBytes(3, 1000))
	info, _ := e.client.Stat(context.Background(), testBucket, "k")
	e.srv.SetFaults(ossserver.Faults{SlowDownFraction: 1})
	err := e.client.ReadRange(context.Background(), info.Ref(), 0, 10, newObjectBuffer(1000))
	if !errors.Is(err, rangefetch.ErrRetriesExhausted) {
		t.Fatalf("got %v, want ErrRetriesExhausted", err)
	}
	var fe *rangefetch.Error
	if !errors.As(err, &fe) || fe.StatusCode != 503 || fe.Code != "SlowDown" || fe.Attempts != 3 {
		t.Fatalf("error detail: %#v", fe)
	}
	if !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("message: %q", err)
	}
	if st := e.srv.Stats(); st.Gets != 3 {
		t.Fatalf("GETs = %d, want MaxAttempts = 3", st.Gets)
	}
}

// TestCutBodiesResume checks that a cut body is resumed from the last byte
// received: the bytes are exact and the server sends barely more than the
// object, where restarting each cut read from zero would resend every
// prefix received before the cut.
func TestCutBodiesResume(t *testing.T) {
	e := newEnv(t, func(c *rangefetch.Config) { c.Retry.MaxAttempts = 40 })
	const size = 4 << 20
	data := testutil.RandomBytes(4, size)
	e.store.Put(testBucket, "big", data)
	info, err := e.client.Stat(context.Background(), testBucket, "big")
	if err != nil {
		t.Fatal(err)
	}
	e.srv.ResetStats()
	e.srv.SetFaults(ossserver.Faults{CutBodyFraction: 0.5})
	var requested int64
	for i := 0; i < 20 && e.srv.Stats().CutBodies < 4; i++ {
		buf := newObjectBuffer(size)
		if err := e.client.ReadRange(context.Background(), info.Ref(), 0, size, buf); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		assertRange(t, buf, data, 0, size)
		if buf.written != size {
			t.Fatalf("read %d: wrote %d bytes for %d: a retry started over", i, buf.written, size)
		}
		requested += size
	}
	st := e.srv.Stats()
	if st.CutBodies < 4 {
		t.Fatalf("the server cut only %d bodies in 20 reads", st.CutBodies)
	}
	// Each cut happens mid-body, so restarting from zero would cost at least
	// one extra partial body per cut; resuming costs (almost) nothing.
	if st.BodyBytes > requested+requested/10 {
		t.Fatalf("server sent %d body bytes for %d requested (%d cuts): not resuming", st.BodyBytes, requested, st.CutBodies)
	}
	t.Logf("%d reads of %d bytes, %d cuts, %d GETs, %d body bytes", requested/size, size, st.CutBodies, st.Gets, st.BodyBytes)
}

// TestCutBodyResumeSingleRange: one big range, many cuts; the server's
// byte count stays well under twice the object.
func TestCutBodyResumeSingleRange(t *testing.T) {
	e := newEnv(t, func(c *rangefetch.Config) { c.Retry.MaxAttempts = 60 })
	const size = 8 << 20
	data := testutil.RandomBytes(5, size)
	e.store.Put(testBucket, "big", data)
	info, _ := e.client.Stat(context.Background(), testBucket, "big")
	e.srv.ResetStats()
	e.srv.SetFaults(ossserver.Faults{CutBodyFraction: 0.9})
	buf := newObjectBuffer(size)
	if err := e.client.ReadRange(context.Background(), info.Ref(), 0, size, buf); err != nil {
		t.Fatal(err)
	}
	assertRange(t, buf, data, 0, size)
	if buf.written != size {
		t.Fatalf("wrote %d bytes for %d: a retry started over", buf.written, size)
	}
	st := e.srv.Stats()
	if st.CutBodies == 0 || st.Gets < 2 {
		t.Fatalf("no cut happened: %+v", st)
	}
	if st.BodyBytes >= 2*size {
		t.Fatalf("server sent %d body bytes for a %d-byte object: not resuming", st.BodyBytes, size)
	}
	t.Logf("%d GETs, %d cuts, %d body bytes for %d", st.Gets, st.CutBodies, st.BodyBytes, size)
}

// TestTrickleTimesOutAndRetries: a server that sends about nothing (one
// byte per second) is cut by the stall/first-byte timeouts and retried,
// and the read fails after MaxAttempts instead of hanging.
func TestTrickleTimesOutAndRetries(t *testing.T) {
	e := newEnv(t, func(c *rangefetch.Config) {
		c.StallTimeout = 200 * time.Millisecond
		c.FirstByteTimeout = 200 * time.Millisecond
		c.Retry.MaxAttempts = 2
	})
	e.store.Put(testBucket, "k", testutil.RandomBytes(6, 100<<10))
	info, _ := e.client.Stat(context.Background(), testBucket, "k")
	e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 1})
	err := e.client.ReadRange(context.Background(), info.Ref(), 0, 100<<10, newObjectBuffer(100<<10))
	if !errors.Is(err, rangefetch.ErrRetriesExhausted) ||
		!(strings.Contains(err.Error(), "stall") || strings.Contains(err.Error(), "timeout")) {
		t.Fatalf("got %v, want a timeout that exhausted retries", err)
	}
	if st := e.srv.Stats(); st.Gets != 2 {
		t.Fatalf("GETs = %d, want 2 (timed-out attempt retried once)", st.Gets)
	}
}

// TestStallResumes: the first response stops after its headers and part
// of the body and then sends nothing. The stall timer cancels that attempt
// and the retry asks only for the bytes not yet received.
func TestStallResumes(t *testing.T) {
	e := newEnv(t, nil)
	const size = 1 << 20
	data := testutil.RandomBytes(11, size)
	e.store.Put(testBucket, "k", data)
	info, err := e.client.Stat(context.Background(), testBucket, "k")
	if err != nil {
		t.Fatal(err)
	}
	proxy := startStallingProxy(t, e.srv.Addr, 300<<10)
	c := e.newClient(t, func(c *rangefetch.Config) {
		c.Endpoint = proxy
		c.StallTimeout = 200 * time.Millisecond
		c.Retry.MaxAttempts = 2
	})
	e.srv.ResetStats()
	buf := newObjectBuffer(size)
	if err := c.ReadRange(context.Background(), info.Ref(), 0, size, buf); err != nil {
		t.Fatal(err)
	}
	assertRange(t, buf, data, 0, size)
	// Two GETs, and no byte written twice: the retry asked only for the
	// bytes after the stall. (The server's byte count cannot show this:
	// the stalled response kept filling socket buffers.)
	if st := e.srv.Stats(); st.Gets != 2 {
		t.Fatalf("want one stalled GET resumed by a second, got %+v", st)
	}
	if buf.written != size {
		t.Fatalf("wrote %d bytes for a %d-byte range: the retry started over", buf.written, size)
	}
}

func TestFirstByteTimeoutRetries(t *testing.T) {
	e := newEnv(t, func(c *rangefetch.Config) {
		c.FirstByteTimeout = 100 * time.Millisecond
		c.Retry.MaxAttempts = 2
	})
	e.store.Put(testBucket, "k", []byte("slow to answer"))
	info, _ := e.client.Stat(context.Background(), testBucket, "k")
	e.srv.SetFaults(ossserver.Faults{FirstByteLatency: time.Hour})
	err := e.client.ReadRange(context.Background(), info.Ref(), 0, 4, newObjectBuffer(100))
	if !errors.Is(err, rangefetch.ErrRetriesExhausted) || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("got %v", err)
	}
	if st := e.srv.Stats(); st.Gets != 2 {
		t.Fatalf("GETs = %d, want 2", st.Gets)
	}
}

func TestContextCancelStopsRequest(t *testing.T) {
	e := newEnv(t, nil)
	e.store.Put(testBucket, "k", []byte("data"))
	info, _ := e.client.Stat(context.Background(), testBucket, "k")
	e.srv.SetFaults(ossserver.Faults{FirstByteLatency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.client.ReadRange(ctx, info.Ref(), 0, 4, newObjectBuffer(4)) }()
	testutil.Eventually(t, 10*time.Second, func() bool { return e.srv.Stats().Gets == 1 }, "the GET to reach the server")
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if st := e.srv.Stats(); st.Gets != 1 {
		t.Fatalf("cancelled read was retried: %d GETs", st.Gets)
	}
}

func TestContextCancelStopsRetryWait(t *testing.T) {
	e := newEnv(t, func(c *rangefetch.Config) {
		c.Retry = rangefetch.RetryPolicy{MaxAttempts: 5, BaseDelay: time.Hour, MaxDelay: time.Hour, MaxElapsed: 10 * time.Hour}
	})
	e.store.Put(testBucket, "k", []byte("data"))
	info, _ := e.client.Stat(context.Background(), testBucket, "k")
	e.srv.SetFaults(ossserver.Faults{SlowDownFraction: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.client.ReadRange(ctx, info.Ref(), 0, 4, newObjectBuffer(4)) }()
	testutil.Eventually(t, 10*time.Second, func() bool { return e.srv.Stats().SlowDowns == 1 }, "the first GET")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
