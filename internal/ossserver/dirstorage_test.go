package ossserver_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/testutil"
)

// startDir serves root with a directory storage (optionally wrapped).
func startDir(t *testing.T, root string, wrap func(ossserver.Storage) ossserver.Storage) (*ossserver.Running, *oss.Bucket) {
	t.Helper()
	st := ossserver.NewDirStorage(root)
	if wrap != nil {
		st = wrap(st)
	}
	creds := ossserver.Credentials{AccessKeyID: "LTAIdirtest", AccessKeySecret: "dirsecret"}
	r, err := ossserver.Listen("127.0.0.1:0", ossserver.Config{Storage: st, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, newBucket(t, r, creds, "bkt")
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDirStorageKeys(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	writeFile(t, outside, []byte("secret"))
	for _, f := range []string{"bkt/a", "bkt/a-b", "bkt/a0", "bkt/dir/x y+z%.txt", "bkt/dir/sub/deep.txt", "bkt/ünï", "other/o"} {
		writeFile(t, filepath.Join(root, f), []byte(f))
	}
	os.MkdirAll(filepath.Join(root, "bkt", "empty"), 0o755)
	os.Symlink(outside, filepath.Join(root, "bkt", "link-out"))
	os.Symlink("../a", filepath.Join(root, "bkt", "dir", "link-in"))
	os.Symlink(filepath.Join(root, "bkt", "dir"), filepath.Join(root, "bkt", "link-dir"))
	writeFile(t, filepath.Join(root, "file-at-top"), nil) // not a bucket
	_, b := startDir(t, root, nil)

	want := []string{"a", "a-b", "dir/link-in", "dir/sub/deep.txt", "dir/x y+z%.txt", "a0", "ünï"}
	sort.Strings(want)
	obj, pfx := listAllV2(t, b, "", "", 2)
	if !slices.Equal(obj, want) || len(pfx) != 0 {
		t.Errorf("keys %q, want %q", obj, want)
	}
	obj, pfx = listAllV1(t, b, "", "/", 2)
	if !slices.Equal(obj, []string{"a", "a-b", "a0", "ünï"}) || !slices.Equal(pfx, []string{"dir/"}) {
		t.Errorf("top level: %q %q", obj, pfx)
	}
	obj, pfx = listAllV2(t, b, "dir/s", "/", 1000)
	if len(obj) != 0 || !slices.Equal(pfx, []string{"dir/sub/"}) {
		t.Errorf("prefix dir/s: %q %q", obj, pfx)
	}

	for key, want := range map[string]string{"dir/x y+z%.txt": "bkt/dir/x y+z%.txt", "dir/link-in": "bkt/a"} {
		rc, err := b.GetObject(key)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if string(got) != want {
			t.Errorf("%s: %q", key, got)
		}
	}
	for _, key := range []string{"link-out", "dir", "dir/", "empty", "../other/o", "dir/../a", "dir//sub/deep.txt", "./a", "nope"} {
		_, err := b.GetObject(key)
		wantCode(t, err, "NoSuchKey", 404)
	}
	res, err := b.Client.ListBuckets()
	if err != nil || len(res.Buckets) != 2 || res.Buckets[0].Name != "bkt" || res.Buckets[1].Name != "other" {
		t.Errorf("buckets %v %+v", err, res.Buckets)
	}
}

// TestDirStorageETag: the ETag follows the file's identity, so replacing
// the file or rewriting it in place changes it, and listings agree with HEAD.
func TestDirStorageETag(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "bkt", "f")
	writeFile(t, path, []byte("version one"))
	_, b := startDir(t, root, nil)
	etag := func() string {
		t.Helper()
		h, err := b.GetObjectDetailedMeta("f")
		if err != nil {
			t.Fatal(err)
		}
		res, err := b.ListObjects()
		if err != nil || len(res.Objects) != 1 || res.Objects[0].ETag != h.Get("ETag") {
			t.Fatalf("listing %v %+v disagrees with HEAD ETag %s", err, res.Objects, h.Get("ETag"))
		}
		return h.Get("ETag")
	}
	e1 := etag()
	if e1 != etag() {
		t.Fatal("ETag not stable")
	}
	tmp := path + ".tmp"
	writeFile(t, tmp, []byte("version two"))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	e2 := etag()
	if e2 == e1 {
		t.Error("ETag unchanged after a rename-replace")
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("VERSION"), 0) // same size, in place
	f.Close()
	if e3 := etag(); e3 == e2 {
		t.Error("ETag unchanged after an in-place rewrite")
	}
	rc, err := b.GetObject("f")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "VERSION two" {
		t.Errorf("got %q", got)
	}
}

// gatedStorage holds the first read at or past gateOff of a GET body until
// released, so a test can change the file at a known point of a response.
type gatedStorage struct {
	ossserver.Storage
	gateOff  int64
	reached  chan struct{}
	released chan struct{}
	once     sync.Once
}

type gatedVersion struct {
	ossserver.Version
	g *gatedStorage
}

func (g *gatedStorage) Open(bucket, key string) (ossserver.Version, error) {
	v, err := g.Storage.Open(bucket, key)
	if err != nil {
		return nil, err
	}
	return gatedVersion{v, g}, nil
}

func (v gatedVersion) ReadAt(p []byte, off int64) (int, error) {
	if off >= v.g.gateOff {
		v.g.once.Do(func() {
			close(v.g.reached)
			<-v.g.released
		})
	}
	return v.Version.ReadAt(p, off)
}

// TestDirStorageChangeMidResponse: a GET keeps serving the version it
// opened when the file is replaced, and is cut when the file is rewritten
// in place, so a client never receives a complete body mixing versions.
func TestDirStorageChangeMidResponse(t *testing.T) {
	old := testutil.RandomBytes(8, 1<<20)
	newer := testutil.RandomBytes(9, 1<<20)
	for _, mode := range []string{"rename", "in-place"} {
		t.Run(mode, func(t *testing.T) {
			root := t.TempDir()
			path := filepath.Join(root, "bkt", "f")
			writeFile(t, path, old)
			g := &gatedStorage{gateOff: 512 << 10, reached: make(chan struct{}), released: make(chan struct{})}
			r, b := startDir(t, root, func(s ossserver.Storage) ossserver.Storage { g.Storage = s; return g })
			// Compute the CRC first: it reads the object through the gate too.
			g.once.Do(func() {})
			if _, err := b.GetObjectDetailedMeta("f"); err != nil {
				t.Fatal(err)
			}
			g.once = sync.Once{}

			type result struct {
				body []byte
				err  error
			}
			done := make(chan result, 1)
			go func() {
				rc, err := b.GetObject("f")
				if err != nil {
					done <- result{nil, err}
					return
				}
				body, err := io.ReadAll(rc)
				rc.Close()
				done <- result{body, err}
			}()
			<-g.reached
			if mode == "rename" {
				writeFile(t, path+".tmp", newer)
				if err := os.Rename(path+".tmp", path); err != nil {
					t.Fatal(err)
				}
			} else {
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteAt(newer, 0)
				f.Close()
			}
			close(g.released)
			res := <-done
			switch mode {
			case "rename":
				if res.err != nil || string(res.body) != string(old) {
					t.Errorf("rename-replace mid-response: err %v, body equals old version: %v", res.err, string(res.body) == string(old))
				}
			case "in-place":
				if res.err == nil {
					t.Errorf("in-place rewrite mid-response: got a complete body of %d bytes", len(res.body))
				}
				if len(res.body) > 512<<10 || string(res.body) != string(old[:len(res.body)]) {
					t.Errorf("in-place rewrite: %d bytes received, not a prefix of the old version", len(res.body))
				}
			}
			_ = r
		})
	}
}

// TestDirStorageLargeListing pages through 10,000 files 1,000 at a time.
func TestDirStorageLargeListing(t *testing.T) {
	root := t.TempDir()
	// Hard links to one file: creating 10,000 inodes is slow on some
	// filesystems, and names are all a listing looks at.
	src := filepath.Join(root, "src")
	writeFile(t, src, nil)
	var want []string
	for d := range 50 {
		if err := os.MkdirAll(filepath.Join(root, "bkt", fmt.Sprintf("d%02d", d)), 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range 200 {
			key := fmt.Sprintf("d%02d/f%03d", d, f)
			want = append(want, key)
			if err := os.Link(src, filepath.Join(root, "bkt", key)); err != nil {
				t.Fatal(err)
			}
		}
	}
	r, b := startDir(t, root, nil)
	obj, _ := listAllV2(t, b, "", "", 1000)
	if !slices.Equal(obj, want) {
		t.Fatalf("listed %d keys, want %d in order", len(obj), len(want))
	}
	_, pfx := listAllV1(t, b, "", "/", 7)
	if len(pfx) != 50 {
		t.Errorf("%d common prefixes, want 50", len(pfx))
	}
	if st := r.Stats(); st.Lists != 10+8 {
		t.Errorf("stats %+v", st)
	}
}

// TestDirStorageMatchesReference lists a tree whose names sort differently
// as paths than as keys ("a-b" < "a/x" < "a0") with every combination of
// prefix, delimiter and page size, and compares with the reference.
func TestDirStorageMatchesReference(t *testing.T) {
	keys := []string{
		"a-b", "a/x", "a/y/z", "a0", "a.b", "a/-", "a/0/1", "a/y-", "a/y0",
		"b-/x", "b/-", "b0/c", "b/c/d/e", "b/c-d", "ü/x", "ü-", "~", "c d/e+f%g",
	}
	root := t.TempDir()
	src := filepath.Join(root, "src")
	writeFile(t, src, nil)
	for _, k := range keys {
		p := filepath.Join(root, "bkt", filepath.FromSlash(k))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Link(src, p); err != nil {
			t.Fatal(err)
		}
	}
	_, b := startDir(t, root, nil)
	for _, prefix := range []string{"", "a", "a/", "a/y", "b", "b/c", "ü", "c d/", "zz"} {
		for _, delim := range []string{"", "/", "-"} {
			wantObj, wantPfx := reference(keys, prefix, delim)
			for _, maxKeys := range []int{1, 3, 1000} {
				obj, pfx := listAllV2(t, b, prefix, delim, maxKeys)
				if !slices.Equal(obj, wantObj) || !slices.Equal(pfx, wantPfx) {
					t.Errorf("prefix %q delimiter %q max-keys %d:\n got %q %q\nwant %q %q",
						prefix, delim, maxKeys, obj, pfx, wantObj, wantPfx)
				}
			}
		}
	}
}

// countingStorage counts the bytes read from object versions.
type countingStorage struct {
	ossserver.Storage
	read atomic.Int64
}

type countingVersion struct {
	ossserver.Version
	c *countingStorage
}

func (c *countingStorage) Open(bucket, key string) (ossserver.Version, error) {
	v, err := c.Storage.Open(bucket, key)
	if err != nil {
		return nil, err
	}
	return countingVersion{v, c}, nil
}

func (v countingVersion) ReadAt(p []byte, off int64) (int, error) {
	n, err := v.Version.ReadAt(p, off)
	v.c.read.Add(int64(n))
	return n, err
}

// TestCRCComputedOncePerVersion: HEAD reads the object once to compute its
// CRC-64; later requests for the same version reuse it, a new version is
// read again.
func TestCRCComputedOncePerVersion(t *testing.T) {
	root := t.TempDir()
	data := testutil.RandomBytes(11, 300<<10)
	path := filepath.Join(root, "bkt", "f")
	writeFile(t, path, data)
	cs := &countingStorage{}
	_, b := startDir(t, root, func(s ossserver.Storage) ossserver.Storage { cs.Storage = s; return cs })
	for range 3 {
		h, err := b.GetObjectDetailedMeta("f")
		if err != nil || h.Get("X-Oss-Hash-Crc64ecma") != strconv.FormatUint(crc(data), 10) {
			t.Fatalf("HEAD: %v %v", err, h)
		}
	}
	rc, err := b.GetObject("f", oss.Range(0, 9))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	if n := cs.read.Load(); n != int64(len(data))+10 {
		t.Errorf("read %d bytes, want %d (one CRC pass and the range)", n, len(data)+10)
	}
	writeFile(t, path+".new", data[:1000])
	os.Rename(path+".new", path)
	if h, err := b.GetObjectDetailedMeta("f"); err != nil || h.Get("X-Oss-Hash-Crc64ecma") != strconv.FormatUint(crc(data[:1000]), 10) {
		t.Fatalf("HEAD of new version: %v %v", err, h)
	}
	if n := cs.read.Load(); n != int64(len(data))+10+1000 {
		t.Errorf("read %d bytes after replacing, want %d", n, len(data)+10+1000)
	}
}

func TestMemStorageReplaceAndDelete(t *testing.T) {
	_, mem, b := startWith(t, signings[0], "bkt")
	mem.Put("bkt", "k", []byte("same"))
	h1, _ := b.GetObjectDetailedMeta("k")
	mem.Put("bkt", "k", []byte("same"))
	h2, _ := b.GetObjectDetailedMeta("k")
	if h1.Get("ETag") == "" || h1.Get("ETag") == h2.Get("ETag") {
		t.Errorf("Put did not make a new ETag: %s %s", h1.Get("ETag"), h2.Get("ETag"))
	}
	mem.Delete("bkt", "k")
	_, err := b.GetObject("k")
	wantCode(t, err, "NoSuchKey", 404)
	if res, err := b.ListObjects(); err != nil || len(res.Objects) != 0 {
		t.Errorf("listing after delete: %v %+v", err, res.Objects)
	}
}
