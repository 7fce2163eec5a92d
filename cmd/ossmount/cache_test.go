package main

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/materialize"
	"github.com/ossmount/ossmount/object"
)

// bytesSource serves objects from memory by key.
type bytesSource map[string][]byte

func (s bytesSource) ReadRange(_ context.Context, ref object.Ref, off, n int64, w io.WriterAt) error {
	_, err := w.WriteAt(s[ref.Key][off:off+n], off)
	return err
}

// fillCache makes a cache in dir holding oss://bkt/models/a.bin whole and
// verified, one block of oss://bkt/data/b.bin, and oss://bkt/old/c.bin
// whole but unverified (OSS has no CRC64 for it), and closes it.
func fillCache(t *testing.T, dir string) {
	t.Helper()
	const bs = 64 << 10
	src := bytesSource{"models/a.bin": testutil.RandomBytes(1, 3*bs+10), "data/b.bin": testutil.RandomBytes(2, 4*bs),
		"old/c.bin": testutil.RandomBytes(3, 2*bs)}
	c, err := cache.Open(cache.Options{Dir: dir, BlockSize: bs, MinFreeRatio: -1}, src)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for key, data := range src {
		info := object.Info{Bucket: "bkt", Key: key, Size: int64(len(data)), ETag: `"` + key + `"`,
			CRC64: object.CRC64(data, 0), HasCRC64: key != "old/c.bin"}
		h, err := c.Open(ctx, info)
		if err != nil {
			t.Fatal(err)
		}
		if key != "data/b.bin" {
			err = h.FetchAllWith(ctx, cache.FetchOptions{})
			if err == nil {
				err = h.VerifyComplete(ctx)
			}
		} else {
			err = h.Fetch(ctx, bs, 1)
		}
		h.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// cache stats and cache list only read: with --cache-size 1 they evict
// nothing and change nothing in the directory, and list shows every
// version with its state.
func TestCacheStatsAndListChangeNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	fillCache(t, dir)
	before := testutil.DirSnapshot(t, dir)

	r := runOssmount(t, nil, "cache", "stats", "--cache-size", "1", "--cache-dir", dir)
	if r.code != 0 || !regexpLine(r.stdout, `entries\s+3$`) || !regexpLine(r.stdout, `unverified\s+1 `) {
		t.Fatalf("cache stats --cache-size 1: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runOssmount(t, nil, "cache", "list", "--cache-size", "1", "--cache-dir", dir)
	if r.code != 0 || !regexpLine(r.stdout, `\sverified\s+.*oss://bkt/models/a\.bin$`) || !regexpLine(r.stdout, `64 KiB \(25%\)\s+partial\s+.*oss://bkt/data/b\.bin$`) ||
		!regexpLine(r.stdout, `\sunverified\s+.*oss://bkt/old/c\.bin$`) {
		t.Fatalf("cache list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runOssmount(t, nil, "cache", "list", "--json", "--cache-dir", dir, "oss://bkt/models/")
	var list []cache.VersionInfo
	if err := json.Unmarshal([]byte(r.stdout), &list); r.code != 0 || err != nil {
		t.Fatalf("cache list --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if len(list) != 1 || list[0].Key != "models/a.bin" || !list[0].Verified || list[0].PresentBytes != list[0].Size {
		t.Fatalf("cache list --json oss://bkt/models/: %+v", list)
	}
	testutil.SameSnapshot(t, "cache stats and list", before, testutil.DirSnapshot(t, dir))

	c, err := cache.Open(cache.Options{Dir: dir, MinFreeRatio: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WaitCounted()
	if n := c.Stats().Entries; n != 3 {
		t.Fatalf("the cache holds %d versions after stats and list, want 3", n)
	}
}

// regexpLine reports whether some line of out matches the expression.
func regexpLine(out, expr string) bool {
	re := regexp.MustCompile(expr)
	for _, l := range strings.Split(out, "\n") {
		if re.MatchString(strings.TrimRight(l, " ")) {
			return true
		}
	}
	return false
}

// No cache command touches a folder that is not a cache, whatever its
// mode: each says so and exits 1.
func TestCacheCommandsLeaveAFolderAlone(t *testing.T) {
	for _, mode := range []fs.FileMode{0o755, 0o777 | fs.ModeSticky} {
		dir := filepath.Join(t.TempDir(), "folder")
		os.Mkdir(dir, 0o700)
		os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
		os.Chmod(dir, mode)
		before := testutil.DirSnapshot(t, dir)
		for _, sub := range []string{"stats", "list", "verify", "clear"} {
			r := runOssmount(t, nil, "cache", sub, "--cache-dir", dir)
			if r.code != 1 || !strings.Contains(r.stderr, dir+" is not an ossmount cache") {
				t.Errorf("cache %s on a %v folder: exit %d\n%s%s", sub, mode, r.code, r.stdout, r.stderr)
			}
		}
		testutil.SameSnapshot(t, "the cache commands", before, testutil.DirSnapshot(t, dir))
	}
}

// On a missing or empty folder the cache commands say there is no cache,
// exit 0 and create nothing.
func TestCacheCommandsWhereThereIsNoCache(t *testing.T) {
	parent := t.TempDir()
	empty := filepath.Join(parent, "empty")
	os.Mkdir(empty, 0o755)
	os.Chmod(empty, 0o755)
	before := testutil.DirSnapshot(t, parent)
	for _, dir := range []string{filepath.Join(parent, "missing"), empty} {
		for _, sub := range []string{"stats", "list", "verify", "clear"} {
			r := runOssmount(t, nil, "cache", sub, "--cache-dir", dir)
			if r.code != 0 || !strings.Contains(r.stdout, "no cache at "+dir) {
				t.Errorf("cache %s on %s: exit %d\n%s%s", sub, dir, r.code, r.stdout, r.stderr)
			}
		}
	}
	testutil.SameSnapshot(t, "the cache commands", before, testutil.DirSnapshot(t, parent))
}

// While a process owns the cache, stats names it and counts the data
// files, and list asks the owner over the cache's socket; an owner that
// does not listen there is named in the error.
func TestCacheListOfAnOwnedCache(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	fillCache(t, dir)
	c, err := cache.Open(cache.Options{Dir: dir, MinFreeRatio: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pid := strconv.Itoa(os.Getpid())
	r := runOssmount(t, nil, "cache", "stats", "--cache-dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "ossmount process "+pid) || !regexpLine(r.stdout, `entries\s+3 \(data files\)$`) {
		t.Errorf("cache stats of an owned cache: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runOssmount(t, nil, "cache", "list", "--cache-dir", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "in use by ossmount process "+pid) || !strings.Contains(r.stderr, "asking it for its versions failed") {
		t.Errorf("cache list of an owned cache without a socket: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	srv, err := materialize.StartServer(context.Background(), c, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r = runOssmount(t, nil, "cache", "list", "--cache-dir", dir, "--json")
	var got []cache.VersionInfo
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil {
		t.Fatalf("cache list --json of a served cache: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	present := map[string]int64{}
	for _, v := range got {
		present[v.Key] = v.PresentBytes
	}
	const bs = 64 << 10
	if len(got) != 3 || present["models/a.bin"] != 3*bs+10 || present["data/b.bin"] != bs || present["old/c.bin"] != 2*bs {
		t.Errorf("the owner listed %+v; want models/a.bin and old/c.bin whole and one block of data/b.bin", got)
	}
}

// A mount does not take over a --cache-dir that is not a cache: it fails
// before it starts anything, and writes not even its log there.
func TestMountRefusesAFolderAsCache(t *testing.T) {
	folder := filepath.Join(t.TempDir(), "folder")
	os.Mkdir(folder, 0o755)
	os.Chmod(folder, 0o755)
	os.WriteFile(filepath.Join(folder, "notes.txt"), []byte("mine"), 0o644)
	mp := t.TempDir()
	before := testutil.DirSnapshot(t, folder)
	creds := []string{"OSS_ACCESS_KEY_ID=LTAItest", "OSS_ACCESS_KEY_SECRET=secret"}
	r := runOssmount(t, creds, "mount", "--endpoint", "127.0.0.1:1", "--cache-dir", folder, "oss://bkt", mp)
	if r.code != 1 || !strings.Contains(r.stderr, folder+" is not an ossmount cache") {
		t.Errorf("mount with a folder as cache: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	testutil.SameSnapshot(t, "mount", before, testutil.DirSnapshot(t, folder))
}

// cache verify names the complete versions OSS has no CRC64 for.
func TestCacheVerifyNamesUnverifiedVersions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	fillCache(t, dir)
	r := runOssmount(t, nil, "cache", "verify", "--cache-dir", dir)
	if r.code != 0 || !regexpLine(r.stdout, `^unverified oss://bkt/old/c\.bin: `) || !regexpLine(r.stdout, `^1 complete versions are unverified`) {
		t.Fatalf("cache verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
