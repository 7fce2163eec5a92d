package cache

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/object"
)

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	c := openTest(t, dir, testBS, nil)
	_, err := Open(Options{Dir: dir}, nil)
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("second Open: %v", err)
	}
	if pid, locked, err := LockHolder(dir); err != nil || !locked || pid != os.Getpid() {
		t.Fatalf("LockHolder = %d, %v, %v", pid, locked, err)
	}
	c.Close()
	if _, locked, _ := LockHolder(dir); locked {
		t.Fatal("still locked after Close")
	}
	c2, err := Open(Options{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 2*testBS, false)
	c := openTest(t, dir, testBS, src)
	h := openHandle(t, c, info)
	readCheck(t, h, src.object(info.Ref()), 0, info.Size)
	h.Close()
	c.Close()
	n := 0
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		n++
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
		}
		return nil
	})
	if n < 5 {
		t.Fatalf("only %d entries", n)
	}
}

func TestOrphansAndStrayBlocksRemoved(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", testBS, false)
	c := openTest(t, dir, testBS, src)
	h := openHandle(t, c, info)
	readCheck(t, h, src.object(info.Ref()), 0, 10)
	keep := h.v.path
	h.Close()
	// A data file a crash left without an index entry, and blocks without
	// a record.
	orphan := dataPath(dir, "bkt", "gone", `"X"`)
	os.MkdirAll(filepath.Dir(orphan), 0o700)
	os.WriteFile(orphan, []byte("junk"), 0o600)
	stray := versionID("bkt", "gone2", `"Y"`)
	if err := c.ix.recordBlocks([]blockRecord{{id: stray, block: 3, crc: 7}}); err != nil {
		t.Fatal(err)
	}
	c.Close()

	c = openTest(t, dir, testBS, src)
	c.WaitCounted()
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphan still there: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("live data file removed: %v", err)
	}
	if p, _, _ := c.ix.loadBlocks(stray, 8); p.count() != 0 {
		t.Fatal("stray blocks still there")
	}
	if st := c.Stats(); st.Entries != 1 || st.BytesOnDisk < testBS {
		t.Fatalf("stats %+v", st)
	}
}

func TestClear(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource(testBS)
	c := openTest(t, dir, testBS, src)
	var infos []object.Info
	for _, k := range []string{"a/1", "a/2", "b/1"} {
		info := src.put("bkt", k, testBS, false)
		infos = append(infos, info)
		h := openHandle(t, c, info)
		readCheck(t, h, src.object(info.Ref()), 0, 10)
		h.Close()
	}
	other := src.put("other", "a/1", testBS, false)
	h := openHandle(t, c, other)
	readCheck(t, h, src.object(other.Ref()), 0, 10)
	h.Close()
	n, err := c.Clear("bkt", "a/")
	if err != nil || n != 2 {
		t.Fatalf("Clear = %d, %v", n, err)
	}
	// Closed versions whose last blocks are still being committed go when
	// the commit ends.
	testutil.Eventually(t, 20*time.Second, func() bool { return c.Stats().Entries == 2 }, "cleared versions of a/ to go")
	gets := src.gets.Load()
	h = openHandle(t, c, infos[2])
	readCheck(t, h, src.object(infos[2].Ref()), 0, 10)
	if src.gets.Load() != gets {
		t.Fatal("b/1 was cleared")
	}
	if n, _ := c.Clear("", ""); n != 2 {
		t.Fatalf("Clear all = %d", n)
	}
	h.Close() // pinned b/1 goes now (versions with commits pending go when those end)
	testutil.Eventually(t, 20*time.Second, func() bool {
		st := c.Stats()
		return st.Entries == 0 && st.BytesOnDisk == 0
	}, "cleared versions to go")
}
