package cache

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestCapHoldsAndPinnedVersionsSurvive(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource(testBS)
	const capBytes = 10 * testBS
	c := openTest(t, dir, testBS, src, func(o *Options) { o.MaxBytes = capBytes })
	ctx := context.Background()
	dataDir := filepath.Join(dir, dataDirName)
	checkCap := func() {
		t.Helper()
		if a := allocated(t, dataDir); a > capBytes {
			t.Fatalf("data files use %d bytes, cap %d", a, capBytes)
		}
	}

	a := src.put("bkt", "a", 4*testBS, false)
	ha := openHandle(t, c, a)
	if err := ha.FetchAllWith(ctx, FetchOptions{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	b := src.put("bkt", "b", 4*testBS, false)
	hb := openHandle(t, c, b)
	if err := hb.FetchAllWith(ctx, FetchOptions{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	hb.Close()
	checkCap()

	// c needs room: b, unpinned and least recently used, goes; a stays.
	cc := src.put("bkt", "c", 4*testBS, false)
	hc := openHandle(t, c, cc)
	if err := hc.FetchAllWith(ctx, FetchOptions{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	checkCap()
	if st := c.Stats(); st.Evictions != 1 {
		t.Fatalf("evictions %d", st.Evictions)
	}
	if len(ha.Missing()) != 0 {
		t.Fatal("pinned version lost blocks")
	}
	hc.Close()

	// Evicted blocks are fetched again, never served from stale state.
	hb = openHandle(t, c, b)
	if len(hb.Missing()) != 1 {
		t.Fatalf("evicted version still has blocks: missing %v", hb.Missing())
	}
	readCheck(t, hb, src.object(b.Ref()), 0, b.Size)
	if n := src.fetchCount(b.ETag, 0); n != 2 {
		t.Fatalf("evicted block fetched %d times, want 2", n)
	}
	if err := hb.Fetch(ctx, 0, b.Size); err != nil { // wait for the commits
		t.Fatal(err)
	}
	checkCap()

	// Everything else pinned: a version larger than the room left is read
	// fine but not stored, and the cap still holds.
	big := src.put("bkt", "big", 8*testBS, false)
	hbig := openHandle(t, c, big)
	err := hbig.FetchAllWith(ctx, FetchOptions{Workers: 2})
	if !errors.Is(err, ErrNotStored) {
		t.Fatalf("FetchAllWith beyond the cap: %v", err)
	}
	readCheck(t, hbig, src.object(big.Ref()), 0, big.Size)
	checkCap()
	if len(ha.Missing()) != 0 || len(hb.Missing()) != 0 {
		t.Fatal("pinned versions lost blocks")
	}
	gets := src.gets.Load()
	readCheck(t, ha, src.object(a.Ref()), 0, a.Size)
	if src.gets.Load() != gets {
		t.Fatal("pinned version was fetched again")
	}
}

func TestRecencySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource(testBS)
	const capBytes = 6 * testBS
	mod := func(o *Options) { o.MaxBytes = capBytes }
	c := openTest(t, dir, testBS, src, mod)
	ctx := context.Background()
	fill := func(c *Cache, key string) (*Handle, func()) {
		info := src.put("bkt", key, 2*testBS, false)
		h := openHandle(t, c, info)
		if err := h.FetchAllWith(ctx, FetchOptions{Workers: 1}); err != nil {
			t.Fatal(err)
		}
		return h, func() { h.Close() }
	}
	hx, closeX := fill(c, "x")
	_, closeY := fill(c, "y")
	_, closeZ := fill(c, "z")
	closeX()
	closeY()
	closeZ()
	x := hx.Info()
	c.Close()

	// After a restart, touching x makes y the least recently used.
	c = openTest(t, dir, testBS, src, mod)
	h := openHandle(t, c, x)
	h.Close()
	_, closeW := fill(c, "w")
	closeW()
	c.Close()
	c = openTest(t, dir, testBS, src, mod)
	c.WaitCounted()
	have := map[string]bool{}
	c.forEachMeta(func(s scanned) bool { have[s.m.Key] = true; return true })
	if !have["x"] || have["y"] || !have["z"] || !have["w"] {
		t.Fatalf("after eviction the cache holds %v; want x, z, w", have)
	}
}

func TestWriteFailureServesReadsAndWarnsOnce(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 6*testBS, false)
	log, logs := testLogger(t)
	c := openTest(t, dir, testBS, src, func(o *Options) { o.Logger = log })
	c.writeAt = func(*os.File, []byte, int64) (int, error) { return 0, syscall.ENOSPC }
	h := openHandle(t, c, info)
	o := src.object(info.Ref())
	for off := int64(0); off < info.Size; off += testBS / 2 {
		readCheck(t, h, o, off, testBS/2)
	}
	if err := h.Fetch(context.Background(), 0, info.Size); !errors.Is(err, ErrNotStored) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Fetch on a full disk: %v", err)
	}
	if n := strings.Count(logs.String(), "cannot write to the cache"); n != 1 {
		t.Fatalf("warning logged %d times:\n%s", n, logs)
	}
	if len(h.Missing()) != 1 {
		t.Fatal("blocks recorded although they were not written")
	}
}

func TestFullTmpfsServesReads(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, dataDirName)
	os.MkdirAll(data, 0o700)
	// A data/ of its own makes the directory a cache only with the marker.
	if err := writeMarker(dir); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", data).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", data).Run() })

	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 64*testBS, false) // 4 MiB on a 2 MiB disk
	o := src.object(info.Ref())
	log, logs := testLogger(t)
	// Pretend statfs sees plenty of room, so writes really hit ENOSPC.
	t.Cleanup(func() { statfs = unix.Statfs })
	statfs = func(path string, st *unix.Statfs_t) error {
		st.Bsize, st.Blocks, st.Bavail = 4096, 1<<30, 1<<29
		return nil
	}
	c := openTest(t, dir, testBS, src, func(o *Options) { o.Logger = log })
	statfs = unix.Statfs // later Opens see the real disk
	h := openHandle(t, c, info)
	readCheck(t, h, o, 0, info.Size)
	if err := h.FetchAllWith(context.Background(), FetchOptions{Workers: 4}); !errors.Is(err, ErrNotStored) {
		t.Fatalf("FetchAllWith on a full tmpfs: %v", err)
	}
	readCheck(t, h, o, 0, info.Size)
	if n := strings.Count(logs.String(), "cannot write to the cache"); n != 1 {
		t.Fatalf("warning logged %d times:\n%s", n, logs)
	}
	h.Close()
	c.Close()

	// With the real statfs the free-space floor stops writes before the
	// disk is full, and reads still work.
	log, logs = testLogger(t)
	c = openTest(t, dir, testBS, src, func(o *Options) { o.Logger = log; o.MinFreeRatio = 0.05 })
	if _, err := c.Clear("", ""); err != nil {
		t.Fatal(err)
	}
	h = openHandle(t, c, info)
	readCheck(t, h, o, 0, info.Size)
	if err := h.FetchAllWith(context.Background(), FetchOptions{Workers: 4}); !errors.Is(err, ErrNotStored) {
		t.Fatalf("FetchAllWith beyond the free-space floor: %v", err)
	}
	if !strings.Contains(logs.String(), "cache is full") {
		t.Fatalf("no warning:\n%s", logs)
	}
	h.Close()
	var st unix.Statfs_t
	unix.Statfs(data, &st)
	if free := float64(st.Bavail) / float64(st.Blocks); free < 0.05 {
		t.Fatalf("cache left only %.1f%% free", free*100)
	}
}

func TestUnwritableCacheServesReads(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 3*testBS+7, true)
	o := src.object(info.Ref())
	log, logs := testLogger(t)
	c := openTest(t, t.TempDir(), testBS, src, func(o *Options) { o.Logger = log })
	c.createFile = func(string, int64) (*os.File, uint64, error) { return nil, 0, syscall.EROFS }
	for range 2 {
		h := openHandle(t, c, info)
		readCheck(t, h, o, 0, info.Size)
		readCheck(t, h, o, testBS-5, 10)
		if err := h.FetchAllWith(context.Background(), FetchOptions{Workers: 2}); !errors.Is(err, ErrNotStored) {
			t.Fatalf("FetchAllWith into an unwritable cache: %v", err)
		}
		if err := h.VerifyComplete(context.Background()); !errors.Is(err, ErrNotStored) {
			t.Fatalf("VerifyComplete: %v", err)
		}
		if _, err := h.dataPath(); !errors.Is(err, ErrIncomplete) {
			t.Fatalf("dataPath: %v", err)
		}
		h.Close()
	}
	if n := strings.Count(logs.String(), "cannot write to the cache"); n != 1 {
		t.Fatalf("warning logged %d times:\n%s", n, logs)
	}
	testutil.Eventually(t, 20*time.Second, func() bool { return c.Stats().Entries == 0 }, "the version to unload")
}

// A version whose blocks still wait for the committer stays loaded, and a
// loaded version cannot be evicted: a reader of another object that needs
// its room has the committer record them first, rather than go without
// caching.
func TestCapEvictsVersionsWaitingForTheCommitter(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource(testBS)
	const capBytes = 6 * testBS
	c := openTest(t, dir, testBS, src, func(o *Options) { o.MaxBytes = capBytes })
	ctx := context.Background()
	arrived := FetchOptions{Workers: 2, RunBytes: 2 * testBS, Arrived: true}

	a := src.put("bkt", "a", 4*testBS, false)
	ha := openHandle(t, c, a)
	if err := ha.FetchAllWith(ctx, arrived); err != nil {
		t.Fatal(err)
	}
	ha.Close()

	b := src.put("bkt", "b", 4*testBS, false)
	hb := openHandle(t, c, b)
	if err := hb.FetchAllWith(ctx, arrived); err != nil {
		t.Fatal(err)
	}
	c.flushCommits()
	if m := hb.Missing(); len(m) != 0 {
		t.Fatalf("b was not cached, missing %v", m)
	}
	if st := c.Stats(); st.Evictions != 1 {
		t.Fatalf("evictions %d, want 1 (a)", st.Evictions)
	}
	if a := allocated(t, filepath.Join(dir, dataDirName)); a > capBytes {
		t.Fatalf("data files use %d bytes, cap %d", a, capBytes)
	}
}
