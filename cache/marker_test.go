package cache

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ossmount/ossmount/internal/testutil"
)

// A folder that holds anything but a cache is refused by Open, which
// leaves it exactly as it was: mode (0755, or 1777 as /tmp has) and files.
func TestOpenRefusesAFolderThatIsNotACache(t *testing.T) {
	for _, mode := range []fs.FileMode{0o755, 0o777 | fs.ModeSticky} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "folder")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, mode); err != nil {
				t.Fatal(err)
			}
			before := testutil.DirSnapshot(t, dir)
			for _, existing := range []bool{false, true} {
				_, err := Open(Options{Dir: dir, BlockSize: testBS, MinFreeRatio: -1, Existing: existing}, nil)
				var nc *NotCacheError
				if !errors.As(err, &nc) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "notes.txt") {
					t.Fatalf("Open of a folder holding notes.txt: %v", err)
				}
			}
			if err := Claim(dir); !errors.As(err, new(*NotCacheError)) {
				t.Fatalf("Claim of a folder holding notes.txt: %v", err)
			}
			testutil.SameSnapshot(t, "a refused Open", before, testutil.DirSnapshot(t, dir))
		})
	}
}

// A file, a folder with part of a cache's names only, and a marker that is
// somebody else's file are refused too.
func TestOpenRefusesLookalikes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o644)
	partial := t.TempDir()
	os.Mkdir(filepath.Join(partial, "data"), 0o755)
	foreignMarker := t.TempDir()
	os.WriteFile(filepath.Join(foreignMarker, MarkerName), []byte("hello"), 0o644)
	for _, dir := range []string{file, partial, foreignMarker} {
		before := testutil.DirSnapshot(t, dir)
		_, err := Open(Options{Dir: dir, BlockSize: testBS, MinFreeRatio: -1}, nil)
		var nc *NotCacheError
		if !errors.As(err, &nc) {
			t.Fatalf("Open of %s: %v", dir, err)
		}
		testutil.SameSnapshot(t, "a refused Open", before, testutil.DirSnapshot(t, dir))
	}
}

// A new or empty directory becomes a cache: private, with the marker.
func TestOpenMarksANewOrEmptyDirectory(t *testing.T) {
	parent := t.TempDir()
	empty := filepath.Join(parent, "empty")
	os.Mkdir(empty, 0o755)
	os.Chmod(empty, 0o755)
	for _, dir := range []string{filepath.Join(parent, "new", "cache"), empty} {
		c := openTest(t, dir, testBS, nil)
		c.Close()
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s after Open: %v %v", dir, fi, err)
		}
		b, err := os.ReadFile(filepath.Join(dir, MarkerName))
		if err != nil || string(b) != "ossmount cache format 1\n" {
			t.Fatalf("marker of %s: %q %v", dir, b, err)
		}
		openTest(t, dir, testBS, nil).Close() // and it opens again
	}
}

// With Existing, a missing or empty directory is not made a cache.
func TestOpenExistingCreatesNothing(t *testing.T) {
	parent := t.TempDir()
	missing := filepath.Join(parent, "missing")
	empty := filepath.Join(parent, "empty")
	os.Mkdir(empty, 0o755)
	os.Chmod(empty, 0o755)
	before := testutil.DirSnapshot(t, parent)
	for _, dir := range []string{missing, empty} {
		if _, err := Open(Options{Dir: dir, Existing: true}, nil); !errors.Is(err, ErrNoCache) {
			t.Fatalf("Open(Existing) of %s: %v", dir, err)
		}
	}
	testutil.SameSnapshot(t, "Open(Existing)", before, testutil.DirSnapshot(t, parent))
}

// A cache made before the marker existed (index/, data/, lock and a stale
// control socket, no marker) is recognised: it gets the marker and keeps
// every block.
func TestOpenAdoptsACacheWithoutMarker(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 3*testBS, false)
	c := openTest(t, dir, testBS, src)
	h := openHandle(t, c, info)
	readCheck(t, h, src.object(info.Ref()), 0, info.Size)
	h.Close()
	c.Close()
	os.Remove(filepath.Join(dir, MarkerName))
	os.WriteFile(filepath.Join(dir, "control.sock"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "ossmount.log"), []byte("mounted\n"), 0o600)
	os.Chmod(dir, 0o755)

	gets := src.gets.Load()
	c = openTest(t, dir, testBS, src)
	h = openHandle(t, c, info)
	readCheck(t, h, src.object(info.Ref()), 0, info.Size)
	if n := src.gets.Load() - gets; n != 0 {
		t.Fatalf("the adopted cache fetched again (%d GETs)", n)
	}
	if _, err := os.Stat(filepath.Join(dir, MarkerName)); err != nil {
		t.Fatalf("no marker after adoption: %v", err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode of the adopted cache %v", fi.Mode())
	}
}

// An empty marker (a crash while it was written) is completed; a marker
// of a newer format is refused with a message that says so.
func TestMarkerFormats(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, MarkerName), nil, 0o600)
	openTest(t, dir, testBS, nil).Close()
	if b, _ := os.ReadFile(filepath.Join(dir, MarkerName)); string(b) != "ossmount cache format 1\n" {
		t.Fatalf("empty marker not completed: %q", b)
	}
	os.WriteFile(filepath.Join(dir, MarkerName), []byte("ossmount cache format 7\n"), 0o600)
	_, err := Open(Options{Dir: dir, BlockSize: testBS, MinFreeRatio: -1}, nil)
	if err == nil || !strings.Contains(err.Error(), "newer ossmount") {
		t.Fatalf("Open of a format 7 cache: %v", err)
	}
	if _, err := OpenView(Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "newer ossmount") {
		t.Fatalf("OpenView of a format 7 cache: %v", err)
	}
}
