package integration

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/testutil"
)

// Once every block of a version is cached, opens serve it from the cache's
// data file: no GET, and with FUSE passthrough (Linux 6.9+, root) not even
// a READ reaches the mount's process.
func TestMountCompleteVersionPassthrough(t *testing.T) {
	e := newMountEnv(t)
	data := e.put("full.bin", testutil.RandomBytes(40, 6<<20+5))
	m := e.mountDefault()
	mustEqual(t, "first read", copyMounted(t, e.path("full.bin")), data)

	info, err := e.client.Stat(t.Context(), mountBucket, "full.bin")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		h, err := e.cache.Open(t.Context(), info)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		return h.Complete()
	}, "the cache to mark the version complete")

	before, fuseBefore := e.stats(), m.Stats()
	dropPageCache(t, e.path("full.bin"))
	mustEqual(t, "read of the complete version", copyMounted(t, e.path("full.bin")), data)
	if gets := e.stats().Gets - before.Gets; gets != 0 {
		t.Errorf("reading a complete version sent %d GETs, want 0", gets)
	}
	after := m.Stats()
	if !m.Passthrough() || os.Geteuid() != 0 {
		t.Logf("FUSE passthrough unavailable here; the version was served from its data file by the mount process (%d READs)", after.Reads-fuseBefore.Reads)
		return
	}
	if after.PassthroughOps == fuseBefore.PassthroughOps {
		t.Errorf("the open of a complete version did not use passthrough")
	}
	if reads := after.Reads - fuseBefore.Reads; reads != 0 {
		t.Errorf("%d READs reached the mount's process, want 0 with passthrough", reads)
	}

	// A second open while the first is in use shares the passthrough.
	f1, err := os.Open(e.path("full.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	mustEqual(t, "second concurrent open", readMounted(t, e.path("full.bin")), data)
}

// Unmounting while files are being read: a plain unmount refuses (EBUSY) and
// leaves the mount working; a forced one ends the reads with an error and
// completes. Nothing hangs.
func TestMountUnmountWhileReading(t *testing.T) {
	e := newMountEnv(t)
	e.put("slow.bin", testutil.RandomBytes(41, 64<<20))
	// Two connections at 1 MiB/s each: the readers need half a minute for
	// the object, far longer than the unmounts below.
	e.srv.SetFaults(ossserver.Faults{FirstByteLatency: 20 * time.Millisecond, BytesPerSecond: 1 << 20})
	m := e.mountWith(func(c *mountConfig) { c.MaxParallel = 2 })

	var wg sync.WaitGroup
	var done atomic.Int32
	errs := make(chan error, 4)
	files := make([]*os.File, 4)
	for i := range files {
		f, err := os.Open(e.path("slow.bin"))
		if err != nil {
			t.Fatal(err)
		}
		files[i] = f
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer done.Add(1)
			_, err := io.Copy(io.Discard, f)
			f.Close()
			errs <- err
		}()
	}
	testutil.Eventually(t, 30*time.Second, func() bool { return m.Stats().ReadBytes > 0 }, "the readers to receive bytes")

	if err := m.Unmount(); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("unmount with open files: %v, want EBUSY", err)
	}
	if _, err := os.Stat(e.path("slow.bin")); err != nil {
		t.Fatalf("the mount stopped working after a refused unmount: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.UnmountForce(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() bool { return done.Load() == int32(len(files)) }, "the readers to return")
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil {
			t.Errorf("a read of a 64 MiB object at 2 MiB/s finished before the forced unmount")
		}
	}
	e.mount = nil
	if isMounted(t, e.mp) {
		t.Errorf("%s is still mounted", e.mp)
	}
}

// isMounted reports whether path is a mount point.
func isMounted(t testing.TB, path string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}
