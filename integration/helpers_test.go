package integration

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/internal/fs"
	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/ossserver/ossservertest"
	"github.com/ossmount/ossmount/rangefetch"
)

const mountBucket = "mount-test"

// mountConfig is the mount's configuration, adjusted by mountWith.
type mountConfig = fs.Config

// requireFUSE skips the test when this machine cannot mount FUSE
// filesystems, unless OSSMOUNT_REQUIRE_FUSE=1 makes that a failure (CI
// machines that must run these tests).
func requireFUSE(t testing.TB) {
	t.Helper()
	reason := ""
	if _, err := os.Stat("/dev/fuse"); err != nil {
		reason = "no /dev/fuse"
	} else if os.Geteuid() != 0 && lookFusermount() == "" {
		reason = "not root and no fusermount3"
	}
	if reason == "" {
		return
	}
	if os.Getenv("OSSMOUNT_REQUIRE_FUSE") == "1" {
		t.Fatalf("FUSE unavailable (%s) but OSSMOUNT_REQUIRE_FUSE=1", reason)
	}
	t.Skipf("FUSE unavailable: %s (set OSSMOUNT_REQUIRE_FUSE=1 to make this fail)", reason)
}

func lookFusermount() string {
	for _, p := range []string{"/usr/bin/fusermount3", "/bin/fusermount3", "/usr/bin/fusermount", "/bin/fusermount"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// env is one OSS server with a bucket, a cache directory and (once
// mounted) a mount of the bucket.
type mountEnv struct {
	t        *testing.T
	srv      *ossserver.Running
	mem      *ossserver.MemStorage
	creds    ossserver.Credentials
	cacheDir string
	mp       string
	log      *slog.Logger

	client *rangefetch.Client
	cache  *cache.Cache
	mount  *fs.Server
}

func newMountEnv(t *testing.T) *mountEnv {
	t.Helper()
	requireFUSE(t)
	srv, mem, creds := ossservertest.Start(t)
	mem.CreateBucket(mountBucket)
	e := &mountEnv{
		t: t, srv: srv, mem: mem, creds: creds,
		cacheDir: t.TempDir(),
		mp:       t.TempDir(),
		log:      testLogger(t),
	}
	// Registered after the TempDirs, so it runs before they are removed.
	t.Cleanup(e.unmount)
	return e
}

// testLogger logs to the test's output, only shown when it fails.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func (e *mountEnv) newClient(creds ossserver.Credentials) *rangefetch.Client {
	e.t.Helper()
	c, err := rangefetch.New(rangefetch.Config{
		Endpoint: e.srv.Endpoint,
		Region:   "cn-hangzhou",
		Credentials: rangefetch.Credentials{
			AccessKeyID: creds.AccessKeyID, AccessKeySecret: creds.AccessKeySecret, SessionToken: creds.SessionToken,
		},
		MaxConns: 32,
		Retry:    rangefetch.RetryPolicy{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond, MaxElapsed: 20 * time.Second},
		Logger:   e.log,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// mountWith mounts the bucket (or prefix) with cfg adjusted by adjust.
func (e *mountEnv) mountWith(adjust func(*mountConfig)) *fs.Server {
	e.t.Helper()
	if e.mount != nil {
		e.t.Fatal("already mounted")
	}
	e.client = e.newClient(e.creds)
	c, err := cache.Open(cache.Options{Dir: e.cacheDir, Logger: e.log}, e.client)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := fs.Config{
		Store:    e.client,
		Cache:    c,
		Bucket:   mountBucket,
		CacheDir: e.cacheDir,
		Logger:   e.log,
	}
	if adjust != nil {
		adjust(&cfg)
	}
	m, err := fs.Mount(e.mp, cfg)
	if err != nil {
		c.Close()
		e.t.Fatal(err)
	}
	e.cache, e.mount = c, m
	return m
}

func (e *mountEnv) mountDefault() *fs.Server { return e.mountWith(nil) }

// unmount unmounts (forcefully if files are still open) and closes the
// cache, so the cache directory can be opened again.
func (e *mountEnv) unmount() {
	if e.mount != nil {
		if err := e.mount.Unmount(); err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			e.mount.UnmountForce(ctx)
			cancel()
		}
		e.mount = nil
	}
	if e.cache != nil {
		if err := e.cache.Close(); err != nil {
			e.t.Errorf("closing cache: %v", err)
		}
		e.cache = nil
	}
}

func (e *mountEnv) path(name string) string { return filepath.Join(e.mp, filepath.FromSlash(name)) }

// put stores an object and returns its bytes.
func (e *mountEnv) put(key string, data []byte) []byte {
	e.mem.Put(mountBucket, key, data)
	return data
}

// stats returns the server's counters.
func (e *mountEnv) stats() ossserver.Stats { return e.srv.Stats() }

// readMounted reads a file of the mount whole.
func readMounted(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

// copyMounted reads a file of the mount sequentially with io.Copy.
func copyMounted(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, f); err != nil {
		t.Fatalf("copy %s: %v", path, err)
	}
	return buf.Bytes()
}

func mustEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: got %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
	}
}

// dropPageCache makes the kernel forget the cached pages of a file, so the
// next read reaches the mount's process.
func dropPageCache(t testing.TB, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatalf("fadvise %s: %v", path, err)
	}
}
