package cache

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/ossmount/ossmount/object"
)

// A version larger than the cap is held outside the cache directory: its
// blocks are fetched, recorded and verified as any version's, a reopened
// cache resumes it, it is neither counted against the cap nor a reason to
// evict anything, and Detach installs it.
func TestOutsideVersionResumesWithoutTakingTheCachesSpace(t *testing.T) {
	const bs = 4096
	dir, out := t.TempDir(), t.TempDir()
	src := newMemSource(bs)
	small := src.put("b-1", "small", 16*bs, true) // fills the cap
	big := src.put("b-1", "big", 64*bs, true)
	capBytes := func(o *Options) { o.MaxBytes = 16 * bs }
	ctx := context.Background()

	c := openTest(t, dir, bs, src, capBytes)
	if !c.Fits(ctx, small) || c.Fits(ctx, big) {
		t.Fatalf("Fits: small %v, big %v; want true, false", c.Fits(ctx, small), c.Fits(ctx, big))
	}

	path := filepath.Join(out, ".big.partial")
	h, err := c.OpenOutside(ctx, big, path)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Outside() || h.DataPath() != path {
		t.Fatalf("Outside %v, DataPath %q; want true, %q", h.Outside(), h.DataPath(), path)
	}
	// Half of it, as a run killed half-way leaves it.
	if err := h.FetchAllWith(ctx, FetchOptions{Len: 32 * bs}); err != nil {
		t.Fatal(err)
	}
	h.Close()
	// Used after the outside version: the least recently used would be
	// the outside one, if it were the cache's to evict.
	hs := openHandle(t, c, small)
	if err := hs.FetchAllWith(ctx, FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	hs.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c = openTest(t, dir, bs, src, capBytes)
	// Another version filling the cap evicts the small one, never the
	// outside one.
	filler := src.put("b-1", "filler", 16*bs, true)
	hf := openHandle(t, c, filler)
	if err := hf.FetchAllWith(ctx, FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	hf.Close()
	h, err = c.OpenOutside(ctx, big, path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if got := total(h.Missing()); got != 32*bs {
		t.Fatalf("after a reopen %d bytes missing, want %d", got, 32*bs)
	}
	if err := h.FetchAllWith(ctx, FetchOptions{}); err != nil {
		t.Fatalf("the rest: %v", err)
	}
	if err := h.VerifyComplete(ctx); err != nil {
		t.Fatal(err)
	}
	for b := range int64(64) {
		if n := src.fetchCount(big.ETag, b); n != 1 {
			t.Fatalf("block %d fetched %d times", b, n)
		}
	}
	st := c.Stats()
	if st.BytesOnDisk > 16*bs || st.Evictions != 1 {
		t.Errorf("stats %+v: want the small version evicted for the filler, nothing for the outside version", st)
	}
	if got := allocated(t, filepath.Join(dir, dataDirName)); got > 16*bs+bs {
		t.Errorf("%d bytes in the cache's data files, want only the filler's", got)
	}
	hf = openHandle(t, c, filler)
	if m := total(hf.Missing()); m != 0 {
		t.Errorf("the filler lost %d bytes to the outside version", m)
	}

	dest := filepath.Join(out, "big")
	if err := h.Detach(dest); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, src.object(big.Ref()).bytesAt(0, big.Size)) {
		t.Fatal("detached file differs from the object")
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("data file still at %s (err %v)", path, err)
	}
}

// A version the cache holds is moved out with its blocks when it is
// opened outside on the same filesystem, and a newer ETag of its key
// removes an outside data file as it removes any.
func TestOutsideVersionMovesOutAndIsSuperseded(t *testing.T) {
	const bs = 4096
	base := t.TempDir()
	dir := filepath.Join(base, "cache")
	out := filepath.Join(base, "out") // same filesystem as the cache
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	src := newMemSource(bs)
	info := src.put("b-1", "k", 8*bs, true)
	ctx := context.Background()
	c := openTest(t, dir, bs, src)
	h := openHandle(t, c, info)
	if err := h.FetchAllWith(ctx, FetchOptions{Len: 4 * bs}); err != nil {
		t.Fatal(err)
	}
	h.Close()

	path := filepath.Join(out, "partial")
	h, err := c.OpenOutside(ctx, info, path)
	if err != nil {
		t.Fatal(err)
	}
	if got := total(h.Missing()); got != 4*bs || !h.Outside() {
		t.Fatalf("moved out: %d bytes missing, outside %v; want %d, true", got, h.Outside(), 4*bs)
	}
	h.Close()
	if st := c.Stats(); st.BytesOnDisk != 0 {
		t.Errorf("the cache still counts %d bytes", st.BytesOnDisk)
	}

	newer := src.put("b-1", "k", 8*bs, true)
	h2 := openHandle(t, c, newer)
	h2.Close()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the superseded version's file is still at %s (err %v)", path, err)
	}
}

func TestOutsideMetaRoundTrip(t *testing.T) {
	m := meta{Bucket: "b", Key: "k", ETag: "e", Size: 5, Inode: 7, Access: 9, Created: 11, Path: "/x/.y.partial"}
	got, err := decodeMeta(m.encode())
	if err != nil || got != m {
		t.Fatalf("decode(encode(%+v)) = %+v, %v", m, got, err)
	}
	m.Path = ""
	if enc := m.encode(); enc[0] != metaFormat {
		t.Fatalf("a version in the cache is written in format %d, want %d", enc[0], metaFormat)
	}
}

func total(rs []object.Range) int64 {
	var n int64
	for _, r := range rs {
		n += r.Len
	}
	return n
}

// Clearing the cache removes the data file a version keeps outside it: a
// partial download nobody wants any more.
func TestClearRemovesOutsideDataFile(t *testing.T) {
	const bs = 4096
	src := newMemSource(bs)
	info := src.put("b-1", "k", 8*bs, true)
	c := openTest(t, t.TempDir(), bs, src)
	path := filepath.Join(t.TempDir(), "partial")
	h, err := c.OpenOutside(context.Background(), info, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.FetchAllWith(context.Background(), FetchOptions{Len: bs}); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if n, err := c.Clear("", ""); err != nil || n != 1 {
		t.Fatalf("Clear = %d, %v; want 1 version", n, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s survived the clear (err %v)", path, err)
	}
}
