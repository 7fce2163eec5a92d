package integration

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
)

// An open file is one version: once the object is replaced in OSS, reads of
// blocks it has not cached fail with EIO (never returning bytes of the new
// version), while cached ones still read; opens after the metadata TTL see
// the new version.
func TestMountVersionChangeMidRead(t *testing.T) {
	e := newMountEnv(t)
	old := e.put("v.bin", testutil.RandomBytes(10, 8<<20))
	e.mountWith(func(c *mountConfig) { c.MetadataTTL = 300 * time.Millisecond })

	f, err := os.Open(e.path("v.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	if _, err := f.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "first block", buf, old[:4096])

	fresh := e.put("v.bin", testutil.RandomBytes(11, 6<<20))
	_, err = f.ReadAt(buf, 5<<20+12345)
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of an uncached block after the object changed: %v, want EIO", err)
	}
	if _, err := f.ReadAt(buf, 100); err != nil {
		t.Fatalf("read of a cached block of the old version: %v", err)
	}
	mustEqual(t, "cached block of the old version", buf, old[100:4196])

	testutil.Eventually(t, 10*time.Second, func() bool {
		got, err := os.ReadFile(e.path("v.bin"))
		return err == nil && string(got) == string(fresh)
	}, "a new open to see the new version")
	if fi, err := os.Stat(e.path("v.bin")); err != nil || fi.Size() != int64(len(fresh)) {
		t.Errorf("stat after the change: %v, %v; want size %d", fi, err, len(fresh))
	}
}

// After the TTL, opening a file re-validates it with one HEAD; an unchanged
// object keeps its cached blocks.
func TestMountReopenAfterTTLKeepsCache(t *testing.T) {
	e := newMountEnv(t)
	data := e.put("same.bin", testutil.RandomBytes(12, 3<<20))
	e.mountWith(func(c *mountConfig) { c.MetadataTTL = 200 * time.Millisecond })
	mustEqual(t, "first read", readMounted(t, e.path("same.bin")), data)
	f, err := os.Open(e.path("same.bin"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	before := e.stats()
	testutil.Eventually(t, 10*time.Second, func() bool {
		dropPageCache(t, e.path("same.bin"))
		return e.stats().Heads+e.stats().Lists > before.Heads+before.Lists
	}, "a HEAD re-validating the open")
	mustEqual(t, "read after the TTL", readMounted(t, e.path("same.bin")), data)
	if gets := e.stats().Gets - before.Gets; gets != 0 {
		t.Errorf("reading an unchanged object after the TTL sent %d GETs, want 0", gets)
	}
}
