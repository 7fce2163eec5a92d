package integration

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/internal/testutil"
)

// What a reader costs in egress: the bytes the server sent for it through
// a real mount, prefetch included. Each case mounts a fresh cache, reads,
// and unmounts (which waits for the prefetch in flight) before counting.

const prefetchCostObject = 256 << 20

// fetchedFor mounts a fresh cache over an object holding data, with the
// kernel's read-ahead kernelReadAhead (0: the default), runs read on the
// mounted path and returns the body bytes the server sent.
func fetchedFor(t *testing.T, data []byte, kernelReadAhead int64, read func(t *testing.T, path string)) int64 {
	t.Helper()
	e := newMountEnv(t)
	e.put("obj", data)
	e.mountWith(func(c *mountConfig) { c.KernelReadAhead = kernelReadAhead })
	read(t, e.path("obj"))
	e.unmount()
	return e.stats().BodyBytes
}

func checkCost(t *testing.T, what string, fetched, limit int64) {
	t.Helper()
	t.Logf("%s fetched %.1f MiB (limit %d MiB)", what, float64(fetched)/(1<<20), limit>>20)
	if fetched > limit {
		t.Errorf("%s fetched %.1f MiB, want at most %d MiB", what, float64(fetched)/(1<<20), limit>>20)
	}
}

// A reader that stops early costs at most about twice what it read, and a
// lone small read at the start (head -c 4096) one block, where the goal is
// 2 MiB.
func TestMountPrefetchStopEarlyCost(t *testing.T) {
	data := testutil.RandomBytes(41, prefetchCostObject)
	for _, c := range []struct {
		read, limit int64
	}{
		{4096, 1 << 20},
		{32 << 20, 72 << 20},
		{100 << 20, 208 << 20},
	} {
		t.Run(fmt.Sprint(c.read), func(t *testing.T) {
			got := fetchedFor(t, data, 0, func(t *testing.T, path string) {
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				// As dd bs=1M (or head -c 4096): whole reads, then close.
				buf := make([]byte, min(c.read, 1<<20))
				var pos int64
				for pos < c.read {
					n, err := io.ReadFull(f, buf)
					mustEqual(t, "read", buf[:n], data[pos:pos+int64(n)])
					pos += int64(n)
					if err != nil {
						t.Fatal(err)
					}
				}
			})
			checkCost(t, fmt.Sprintf("reading %d bytes", c.read), got, c.limit)
		})
	}
}

// Twenty page faults at random places of a mapped file, as a program that
// maps a large file and looks things up in it does. Each fault makes the
// kernel read around it as far as its read-ahead: with the mount's default
// of 4 MiB the faults alone cost 80 MiB or more whatever the daemon does,
// so this is the cost with the kernel's own default of 128 KiB (one READ
// per fault, no run for the read-ahead to follow).
func TestMountPrefetchRandomMmapCost(t *testing.T) {
	data := testutil.RandomBytes(42, prefetchCostObject)
	got := fetchedFor(t, data, 128<<10, func(t *testing.T, path string) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := unix.Mmap(int(f.Fd()), 0, len(data), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(m)
		r := rand.New(rand.NewPCG(7, 8))
		for i := 0; i < 20; i++ {
			off := r.IntN(len(data)/4096) * 4096
			mustEqual(t, "mapped page", m[off:off+4096], data[off:off+4096])
		}
	})
	checkCost(t, "20 random mmap page reads", got, 24<<20)
}

// An index lookup of a database file: no sqlite driver is in the module, so
// this reads as sqlite does for one lookup in a 150 MB database: the
// header and B-tree root at the start, then an interior page and a leaf
// far into the file, 4 KiB pages through pread.
func TestMountPrefetchDatabaseLookupCost(t *testing.T) {
	data := testutil.RandomBytes(43, 150_000_000)
	got := fetchedFor(t, data, 0, func(t *testing.T, path string) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 4096)
		for _, off := range []int64{0, 4096, 31_417 * 4096, 9_023 * 4096} {
			if _, err := f.ReadAt(buf, off); err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "page", buf, data[off:off+4096])
		}
	})
	checkCost(t, "a database lookup", got, 16<<20)
}

// Listing a large zip reads its end, then its central directory.
func TestMountPrefetchZipListingCost(t *testing.T) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	body := testutil.RandomBytes(44, 200<<10)
	const files = 800 // 160 MB of stored members, a central directory of ~40 KiB
	for i := 0; i < files; i++ {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("dir/member-%04d.bin", i), Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	got := fetchedFor(t, data, 0, func(t *testing.T, path string) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := zip.NewReader(f, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if len(zr.File) != files {
			t.Fatalf("listed %d members, want %d", len(zr.File), files)
		}
	})
	checkCost(t, "a zip listing", got, 4<<20)
}
