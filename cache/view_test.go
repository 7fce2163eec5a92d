package cache

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
)

// fillForView makes a cache in dir with one verified version, one partial
// one and one complete without a CRC64, and closes it.
func fillForView(t *testing.T, dir string) (verified, partial, plain *testObject) {
	t.Helper()
	src := newMemSource(testBS)
	a := src.put("bkt", "models/a.bin", 3*testBS+100, true)
	b := src.put("bkt", "data/b.bin", 4*testBS, true)
	p := src.put("other", "c.txt", 1000, false)
	c := openTest(t, dir, testBS, src)
	ctx := context.Background()
	ha := openHandle(t, c, a)
	if err := ha.FetchAllWith(ctx, FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ha.VerifyComplete(ctx); err != nil {
		t.Fatal(err)
	}
	hb := openHandle(t, c, b)
	readCheck(t, hb, src.object(b.Ref()), testBS, testBS) // block 1 of 4
	hp := openHandle(t, c, p)
	if err := hp.FetchAllWith(ctx, FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := hp.VerifyComplete(ctx); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*Handle{ha, hb, hp} {
		h.Settle()
		h.Close()
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return src.object(a.Ref()), src.object(b.Ref()), src.object(p.Ref())
}

// A View reads the figures and the versions of a closed cache, and
// changes nothing in its directory, even with a cap of one byte (an Open
// with that cap evicts everything).
func TestViewChangesNothing(t *testing.T) {
	dir := t.TempDir()
	a, b, p := fillForView(t, dir)
	before := testutil.DirSnapshot(t, dir)

	v, err := OpenView(Options{Dir: dir, MaxBytes: 1, MinFreeRatio: -1})
	if err != nil {
		t.Fatal(err)
	}
	st, err := v.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 3 || st.BlockSize != testBS || st.BytesOnDisk < 4*testBS || st.LimitBytes != 1 || st.IndexBytes == 0 {
		t.Fatalf("stats %+v", st)
	}
	list, err := v.Versions()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	testutil.SameSnapshot(t, "a View", before, testutil.DirSnapshot(t, dir))

	byKey := map[string]VersionInfo{}
	for _, vi := range list {
		byKey[vi.Bucket+"/"+vi.Key] = vi
	}
	want := map[string]VersionInfo{
		"bkt/models/a.bin": {Size: a.info.Size, Blocks: 4, PresentBlocks: 4, PresentBytes: a.info.Size, Complete: true, Verified: true},
		"bkt/data/b.bin":   {Size: b.info.Size, Blocks: 4, PresentBlocks: 1, PresentBytes: testBS},
		"other/c.txt":      {Size: p.info.Size, Blocks: 1, PresentBlocks: 1, PresentBytes: 1000, Complete: true},
	}
	if len(list) != len(want) {
		t.Fatalf("Versions listed %d: %+v", len(list), list)
	}
	for k, w := range want {
		g := byKey[k]
		if g.Size != w.Size || g.Blocks != w.Blocks || g.PresentBlocks != w.PresentBlocks ||
			g.PresentBytes != w.PresentBytes || g.Complete != w.Complete || g.Verified != w.Verified {
			t.Errorf("%s: %+v, want %+v", k, g, w)
		}
		if g.DiskBytes < g.PresentBytes || g.LastUse.IsZero() || time.Since(g.LastUse) > time.Hour {
			t.Errorf("%s: disk bytes %d, last use %v", k, g.DiskBytes, g.LastUse)
		}
	}
	for i := 1; i < len(list); i++ {
		if list[i].LastUse.After(list[i-1].LastUse) {
			t.Fatalf("not most recent first: %+v", list)
		}
	}

	// And the cache is whole: an owner opens it and finds every version.
	c := openTest(t, dir, testBS, nil)
	c.WaitCounted()
	if st := c.Stats(); st.Entries != 3 {
		t.Fatalf("after the View the cache holds %d versions", st.Entries)
	}
}

// A View of a missing or empty directory, or of one that is not a cache,
// fails and creates nothing; of an owned cache it names the owner; of a
// marked cache never used it is empty.
func TestOpenViewRefusals(t *testing.T) {
	parent := t.TempDir()
	missing := filepath.Join(parent, "missing")
	empty := filepath.Join(parent, "empty")
	os.Mkdir(empty, 0o755)
	os.Chmod(empty, 0o755)
	foreign := filepath.Join(parent, "foreign")
	os.Mkdir(foreign, 0o755)
	os.Chmod(foreign, 0o755)
	os.WriteFile(filepath.Join(foreign, "x"), nil, 0o644)
	before := testutil.DirSnapshot(t, parent)
	for _, dir := range []string{missing, empty} {
		if _, err := OpenView(Options{Dir: dir}); !errors.Is(err, ErrNoCache) {
			t.Fatalf("OpenView(%s): %v", dir, err)
		}
	}
	var nc *NotCacheError
	if _, err := OpenView(Options{Dir: foreign}); !errors.As(err, &nc) {
		t.Fatalf("OpenView of a folder: %v", err)
	}
	testutil.SameSnapshot(t, "OpenView", before, testutil.DirSnapshot(t, parent))

	marked := t.TempDir()
	if err := writeMarker(marked); err != nil {
		t.Fatal(err)
	}
	v, err := OpenView(Options{Dir: marked})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := v.Versions(); err != nil || len(list) != 0 {
		t.Fatalf("versions of a new cache: %v %v", list, err)
	}
	v.Close()

	owned := t.TempDir()
	c := openTest(t, owned, testBS, nil)
	var locked *LockedError
	if _, err := OpenView(Options{Dir: owned}); !errors.As(err, &locked) || locked.PID != os.Getpid() {
		t.Fatalf("OpenView of an owned cache: %v", err)
	}
	c.Close()
}

// An owner that starts while a View reads waits for it instead of
// failing, and then owns the cache.
func TestOpenWaitsForAView(t *testing.T) {
	dir := t.TempDir()
	fillForView(t, dir)
	v, err := OpenView(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	var once bool
	old := waitForViews
	t.Cleanup(func() { waitForViews = old })
	waitForViews = func() {
		if !once {
			once = true
			close(waiting)
		}
		old()
	}
	opened := make(chan error, 1)
	go func() {
		c, err := Open(Options{Dir: dir, BlockSize: testBS, MinFreeRatio: -1}, nil)
		if err == nil {
			err = c.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		t.Fatalf("Open returned while a View held the cache: %v", err)
	case <-waiting:
	}
	v.Close()
	if err := <-opened; err != nil {
		t.Fatalf("Open after the View closed: %v", err)
	}
}

const viewKillEnv = "OSSMOUNT_CACHE_VIEW_KILL_DIR"

// TestViewKilledOwnerHelper is the child of TestViewOfAKilledOwnersCache;
// it does nothing in a normal run. It caches a block, says so on stdout
// and waits to be killed, leaving its index open.
func TestViewKilledOwnerHelper(t *testing.T) {
	dir := os.Getenv(viewKillEnv)
	if dir == "" {
		t.Skip("helper process of TestViewOfAKilledOwnersCache")
	}
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 2*testBS, false)
	c, err := Open(Options{Dir: dir, BlockSize: testBS, MinFreeRatio: -1}, src)
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.Open(context.Background(), info)
	if err == nil {
		err = h.Fetch(context.Background(), 0, 1)
	}
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("cached\n")
	select {}
}

// The index of an owner killed with SIGKILL needs a recovery write: a
// View says so and changes nothing; the next owner recovers it, and a
// View then reads it.
func TestViewOfAKilledOwnersCache(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestViewKilledOwnerHelper$")
	cmd.Env = append(os.Environ(), viewKillEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "cached\n" {
		t.Fatalf("helper: %q %v", line, err)
	}
	cmd.Process.Kill()
	cmd.Wait()

	before := testutil.DirSnapshot(t, dir)
	if _, err := OpenView(Options{Dir: dir}); !errors.Is(err, ErrUncleanIndex) {
		t.Fatalf("OpenView of a killed owner's cache: %v", err)
	}
	testutil.SameSnapshot(t, "OpenView", before, testutil.DirSnapshot(t, dir))

	openTest(t, dir, testBS, nil).Close()
	v, err := OpenView(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	list, err := v.Versions()
	if err != nil || len(list) != 1 || list[0].PresentBlocks != 1 {
		t.Fatalf("versions after recovery: %+v %v", list, err)
	}
}
