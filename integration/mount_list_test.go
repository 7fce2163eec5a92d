package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
)

// "ls -l" of a directory of 2,500 objects costs one LIST per 1000 entries
// and no HEAD: the listing's sizes and ETags answer every getattr.
func TestMountListLargeDirectory(t *testing.T) {
	e := newMountEnv(t)
	for i := 0; i < 2500; i++ {
		e.put(fmt.Sprintf("many/f%05d.txt", i), []byte(fmt.Sprintf("file %d\n", i)))
	}
	e.mountDefault()
	if _, err := os.Stat(e.path("many")); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetStats()

	entries, err := os.ReadDir(e.path("many"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2500 {
		t.Fatalf("ReadDir found %d entries, want 2500", len(entries))
	}
	for _, de := range entries {
		fi, err := os.Lstat(e.path("many/" + de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		i, _ := strconv.Atoi(de.Name()[1:6])
		if want := int64(len(fmt.Sprintf("file %d\n", i))); fi.Size() != want {
			t.Fatalf("%s: size %d, want %d", de.Name(), fi.Size(), want)
		}
	}
	out, err := exec.Command("ls", "-l", e.path("many")).CombinedOutput()
	if err != nil {
		t.Fatalf("ls -l: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "\n"); n != 2501 { // "total" line + entries
		t.Errorf("ls -l printed %d lines, want 2501", n)
	}
	s := e.stats()
	if s.Lists > 3 || s.Heads != 0 || s.Gets != 0 {
		t.Errorf("listing 2,500 entries twice cost %d LISTs, %d HEADs, %d GETs; want <= 3, 0, 0", s.Lists, s.Heads, s.Gets)
	}
}

// A path never listed costs one small LIST per component, and an answer
// (also "no such file") is remembered for the TTL.
func TestMountLookupWithoutListing(t *testing.T) {
	e := newMountEnv(t)
	data := e.put("a/b/c.txt", []byte("deep\n"))
	e.put("a/b/c.txt.bak", []byte("other\n"))
	e.mountDefault()
	fi, err := os.Stat(e.path("a/b/c.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(data)) || fi.Mode() != 0o444 {
		t.Errorf("stat: size %d mode %v, want %d -r--r--r--", fi.Size(), fi.Mode(), len(data))
	}
	if s := e.stats(); s.Lists != 3 || s.Heads != 0 {
		t.Errorf("stat a/b/c.txt cost %d LISTs and %d HEADs, want 3 and 0", s.Lists, s.Heads)
	}
	e.srv.ResetStats()
	for i := 0; i < 3; i++ {
		if _, err := os.Stat(e.path("a/b/missing.txt")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("stat of a missing file: %v, want ENOENT", err)
		}
	}
	if s := e.stats(); s.Lists != 1 {
		t.Errorf("three stats of a missing name cost %d LISTs, want 1", s.Lists)
	}
	mustEqual(t, "read", readMounted(t, e.path("a/b/c.txt")), data)
}

// Names appear and disappear once the metadata TTL has passed.
func TestMountMetadataTTL(t *testing.T) {
	e := newMountEnv(t)
	e.put("d/old.txt", []byte("old"))
	e.mountWith(func(c *mountConfig) { c.MetadataTTL = 300 * time.Millisecond })
	names := func() []string {
		entries, err := os.ReadDir(e.path("d"))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, de := range entries {
			out = append(out, de.Name())
		}
		return out
	}
	if got := names(); !slices.Equal(got, []string{"old.txt"}) {
		t.Fatalf("d holds %q", got)
	}
	e.put("d/new.txt", []byte("new"))
	e.mem.Delete(mountBucket, "d/old.txt")
	testutil.Eventually(t, 10*time.Second, func() bool {
		return slices.Equal(names(), []string{"new.txt"})
	}, "the listing to show the change")
	testutil.Eventually(t, 10*time.Second, func() bool {
		_, err := os.Stat(e.path("d/old.txt"))
		return errors.Is(err, os.ErrNotExist)
	}, "old.txt to be gone")
	mustEqual(t, "new file", readMounted(t, e.path("d/new.txt")), []byte("new"))
}

// Keys that are odd but valid read correctly; keys that make no valid path
// are left out with a warning, never failing their directory.
func TestMountOddKeys(t *testing.T) {
	e := newMountEnv(t)
	odd := map[string][]byte{
		"odd/with space.txt":                   []byte("space"),
		"odd/plus+sign.txt":                    []byte("plus"),
		"odd/per%cent%41.txt":                  []byte("percent"),
		"odd/unicode-数据-é.txt":                 []byte("unicode"),
		"odd/a":                                []byte("shadowed by the directory a/"),
		"odd/a/b":                              []byte("inside a"),
		"odd/x//y":                             []byte("empty component"),
		"odd/marker/":                          nil,
		"odd/long/" + strings.Repeat("L", 300): []byte("too long"),
		"odd/long/ok":                          []byte("fine"),
		"odd/dot/./z":                          []byte("dot"),
	}
	for k, v := range odd {
		e.put(k, v)
	}
	e.mountDefault()

	got := dirNames(t, e.path("odd"))
	want := []string{"a", "dot", "long", "marker", "per%cent%41.txt", "plus+sign.txt", "unicode-数据-é.txt", "with space.txt", "x"}
	if !slices.Equal(got, want) {
		t.Fatalf("odd/ holds %q, want %q", got, want)
	}
	for _, name := range []string{"with space.txt", "plus+sign.txt", "per%cent%41.txt", "unicode-数据-é.txt"} {
		mustEqual(t, name, readMounted(t, e.path("odd/"+name)), odd["odd/"+name])
	}
	if fi, err := os.Stat(e.path("odd/a")); err != nil || !fi.IsDir() {
		t.Errorf("odd/a: %v, %v; want a directory", fi, err)
	}
	mustEqual(t, "a/b", readMounted(t, e.path("odd/a/b")), odd["odd/a/b"])
	for dir, want := range map[string][]string{"x": nil, "marker": nil, "long": {"ok"}, "dot": nil} {
		if got := dirNames(t, e.path("odd/"+dir)); !slices.Equal(got, want) {
			t.Errorf("odd/%s holds %q, want %q", dir, got, want)
		}
	}
}

// A directory is looked up without listing its parent: a prefix with no
// marker object, a marker object, and an object hidden by a directory.
func TestMountLookupDirectoryKinds(t *testing.T) {
	e := newMountEnv(t)
	e.put("implicit/f", []byte("f"))
	e.put("marked/", nil)
	e.put("both", []byte("object"))
	e.put("both/inner", []byte("inner"))
	e.put("both.txt", []byte("sorts before both/"))
	e.mountDefault()
	for _, name := range []string{"implicit", "marked", "both"} {
		fi, err := os.Stat(e.path(name))
		if err != nil || !fi.IsDir() {
			t.Errorf("%s: %v; want a directory", name, err)
		}
	}
	if fi, err := os.Stat(e.path("both.txt")); err != nil || fi.IsDir() {
		t.Errorf("both.txt: %v; want a file", err)
	}
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir %s: %v", dir, err)
	}
	var names []string
	for _, de := range entries {
		names = append(names, de.Name())
	}
	return names
}
