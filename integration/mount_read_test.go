package integration

import (
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/ossmount/ossmount/internal/testutil"
)

func TestMountReadByteExact(t *testing.T) {
	e := newMountEnv(t)
	small := e.put("hello.txt", []byte("hello, ossmount\n"))
	big := e.put("data/big.bin", testutil.RandomBytes(1, 9<<20+12345))
	empty := e.put("empty", nil)
	e.mountDefault()

	mustEqual(t, "small file", readMounted(t, e.path("hello.txt")), small)
	mustEqual(t, "empty file", readMounted(t, e.path("empty")), empty)
	mustEqual(t, "sequential copy", copyMounted(t, e.path("data/big.bin")), big)

	t.Run("random ReadAt", func(t *testing.T) {
		f, err := os.Open(e.path("data/big.bin"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 200; i++ {
			off := r.Int64N(int64(len(big)))
			n := 1 + r.IntN(300<<10)
			buf := make([]byte, n)
			got, err := f.ReadAt(buf, off)
			want := big[off:min(off+int64(n), int64(len(big)))]
			if got != len(want) {
				t.Fatalf("ReadAt(%d, %d) = %d bytes, %v; want %d", off, n, got, err, len(want))
			}
			mustEqual(t, "ReadAt", buf[:got], want)
		}
	})

	t.Run("concurrent readers", func(t *testing.T) {
		other := e.put("data/other.bin", testutil.RandomBytes(2, 6<<20+7))
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := os.ReadFile(e.path("data/other.bin"))
				if err != nil {
					errs <- err.Error()
					return
				}
				if string(got) != string(other) {
					errs <- "bytes differ"
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// A second read of a file costs no request: the blocks are in the cache.
func TestMountSecondReadNoGets(t *testing.T) {
	e := newMountEnv(t)
	data := e.put("obj.bin", testutil.RandomBytes(3, 5<<20+99))
	e.mountDefault()
	mustEqual(t, "first read", copyMounted(t, e.path("obj.bin")), data)
	before := e.stats()
	dropPageCache(t, e.path("obj.bin"))
	mustEqual(t, "second read", copyMounted(t, e.path("obj.bin")), data)
	if d := e.stats().Gets - before.Gets; d != 0 {
		t.Errorf("second read sent %d GETs, want 0", d)
	}
}

// A cold 4 KiB read in the middle of a large object fetches one block: one
// GET of at most 1 MiB, whatever the kernel's read-ahead does.
func TestMountColdRandomReadOneGet(t *testing.T) {
	e := newMountEnv(t)
	data := e.put("big64.bin", testutil.RandomBytes(4, 64<<20))
	e.mountDefault()
	f, err := os.Open(e.path("big64.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := e.stats()
	off := int64(37<<20 + 300<<10) // inside block 37
	buf := make([]byte, 4096)
	if _, err := f.ReadAt(buf, off); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "4 KiB read", buf, data[off:off+4096])
	after := e.stats()
	if gets := after.Gets - before.Gets; gets != 1 {
		t.Errorf("cold 4 KiB read sent %d GETs, want 1", gets)
	}
	if b := after.BodyBytes - before.BodyBytes; b > 1<<20 {
		t.Errorf("cold 4 KiB read fetched %d bytes, want at most 1 MiB", b)
	}
}

// A small object is fetched whole by its first read, wherever it starts.
func TestMountSmallObjectFetchedWhole(t *testing.T) {
	e := newMountEnv(t)
	data := e.put("small.bin", testutil.RandomBytes(5, 700<<10))
	e.mountDefault()
	f, err := os.Open(e.path("small.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 100)
	if _, err := f.ReadAt(buf, 500<<10); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "read", buf, data[500<<10:500<<10+100])
	if _, err := f.ReadAt(buf, 10); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "read", buf, data[10:110])
	if s := e.stats(); s.Gets != 1 || s.BodyBytes != int64(len(data)) {
		t.Errorf("server saw %d GETs for %d bytes, want 1 GET of the whole %d-byte object", s.Gets, s.BodyBytes, len(data))
	}
}
