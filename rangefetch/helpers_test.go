package rangefetch_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/ossserver/ossservertest"
	"github.com/ossmount/ossmount/rangefetch"
)

const testBucket = "test-bucket"

// env is one local OSS server with a client pointed at it.
type env struct {
	srv    *ossserver.Running
	store  *ossserver.MemStorage
	creds  ossserver.Credentials
	client *rangefetch.Client
}

// fastRetry keeps retry waits short so that fault tests run in milliseconds.
var fastRetry = rangefetch.RetryPolicy{MaxAttempts: 6, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxElapsed: 20 * time.Second}

func newEnv(t testing.TB, mutate func(*rangefetch.Config)) *env {
	t.Helper()
	srv, store, creds := ossservertest.Start(t)
	store.CreateBucket(testBucket)
	e := &env{srv: srv, store: store, creds: creds}
	e.client = e.newClient(t, mutate)
	return e
}

func (e *env) newClient(t testing.TB, mutate func(*rangefetch.Config)) *rangefetch.Client {
	t.Helper()
	cfg := rangefetch.Config{
		Endpoint: e.srv.Endpoint,
		Credentials: rangefetch.Credentials{
			AccessKeyID: e.creds.AccessKeyID, AccessKeySecret: e.creds.AccessKeySecret, SessionToken: e.creds.SessionToken,
		},
		Retry:    fastRetry,
		MaxConns: 32,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := rangefetch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// objectBuffer is an io.WriterAt over a whole object, tracking which
// bytes were written so tests can tell "exact" from "exact by luck".
type objectBuffer struct {
	mu      sync.Mutex
	data    []byte
	written int64
}

func newObjectBuffer(size int64) *objectBuffer { return &objectBuffer{data: make([]byte, size)} }

func (b *objectBuffer) WriteAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if off < 0 || off+int64(len(p)) > int64(len(b.data)) {
		return 0, fmt.Errorf("write [%d,%d) outside object of %d bytes", off, off+int64(len(p)), len(b.data))
	}
	copy(b.data[off:], p)
	b.written += int64(len(p))
	return len(p), nil
}

// assertRange checks that buf holds want[off:off+n] at the same offsets.
func assertRange(t testing.TB, buf *objectBuffer, want []byte, off, n int64) {
	t.Helper()
	if !bytes.Equal(buf.data[off:off+n], want[off:off+n]) {
		t.Fatalf("bytes [%d,%d) differ from the object", off, off+n)
	}
}
