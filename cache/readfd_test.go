package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
)

// preadFd reads [off, off+n) of the descriptor ReadFd returned.
func preadFd(t testing.TB, fd uintptr, off, n int64) []byte {
	t.Helper()
	p := make([]byte, n)
	got, err := syscall.Pread(int(fd), p, off)
	if err != nil || int64(got) != n {
		t.Fatalf("pread(%d, %d) = %d, %v", off, n, got, err)
	}
	return p
}

func TestReadFdServesVerifiedRange(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 5*testBS+77, true)
	o := src.object(info.Ref())
	c := openTest(t, t.TempDir(), testBS, src)
	h := openHandle(t, c, info)
	ctx := context.Background()

	// Cold: either served from the file or declined (the bytes are
	// still in a fetch buffer); never wrong.
	off, n := int64(testBS/2), int64(2*testBS)
	if fd, release, err := h.ReadFd(ctx, off, n); err == nil {
		if !bytes.Equal(preadFd(t, fd, off, n), o.bytesAt(off, n)) {
			t.Fatal("cold ReadFd: wrong bytes")
		}
		release()
	} else if !errors.Is(err, errNotInFile) {
		t.Fatal(err)
	}

	readCheck(t, h, o, 0, info.Size)
	for _, r := range [][2]int64{{0, info.Size}, {testBS - 1, 2}, {5 * testBS, 77}} {
		fd, release, err := h.ReadFd(ctx, r[0], r[1])
		if err != nil {
			t.Fatalf("ReadFd(%d, %d) after ReadAt: %v", r[0], r[1], err)
		}
		if !bytes.Equal(preadFd(t, fd, r[0], r[1]), o.bytesAt(r[0], r[1])) {
			t.Fatalf("ReadFd(%d, %d): wrong bytes", r[0], r[1])
		}
		release()
	}
	if _, _, err := h.ReadFd(ctx, info.Size-1, 2); err == nil {
		t.Fatal("ReadFd past the end succeeded")
	}
}

// A drop waits until the range ReadFd vouched for is released: the bytes
// read from the descriptor meanwhile are never a punched hole.
func TestReadFdHoldsDrops(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 4*testBS, true)
	o := src.object(info.Ref())
	c := openTest(t, t.TempDir(), testBS, src)
	h := openHandle(t, c, info)
	ctx := context.Background()
	readCheck(t, h, o, 0, info.Size)
	// Recorded: the reader may have been served from the fetch's buffer
	// before the last block was written and queued for the committer.
	if err := h.Fetch(ctx, 0, info.Size); err != nil {
		t.Fatal(err)
	}

	fd, release, err := h.ReadFd(ctx, testBS, testBS)
	if err != nil {
		t.Fatal(err)
	}
	dropped := make(chan struct{})
	go func() {
		defer close(dropped)
		h.dropBlocks(1)
	}()
	if !bytes.Equal(preadFd(t, fd, testBS, testBS), o.bytesAt(testBS, testBS)) {
		t.Fatal("bytes changed while pinned")
	}
	select {
	case <-dropped:
		t.Fatal("dropBlocks returned while the range was pinned")
	default:
	}
	release()
	<-dropped
	if m := h.Missing(); len(m) != 1 || m[0].Off != testBS {
		t.Fatalf("missing after the drop: %v", m)
	}
	if _, _, err := h.ReadFd(ctx, testBS, 1); err != nil && !errors.Is(err, errNotInFile) {
		t.Fatal(err)
	}
	readCheck(t, h, o, 0, info.Size)
}

// Readers through ReadFd, readers through ReadAt and drops at once: every
// byte ReadFd vouches for is right.
func TestReadFdConcurrentWithDrops(t *testing.T) {
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 30*testBS+5, true)
	o := src.object(info.Ref())
	c := openTest(t, t.TempDir(), testBS, src)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 6 {
		wg.Go(func() {
			h, err := c.Open(ctx, info)
			if err != nil {
				errs <- err
				return
			}
			defer h.Close()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			p := make([]byte, 3*testBS)
			for range 200 {
				off := rng.Int64N(info.Size)
				n := min(rng.Int64N(3*testBS)+1, info.Size-off)
				switch rng.IntN(6) {
				case 0:
					h.dropBlocks(off / testBS)
				case 1:
					if _, err := h.ReadAt(ctx, p[:n], off); err != nil {
						errs <- err
						return
					}
				default:
					fd, release, err := h.ReadFd(ctx, off, n)
					if errors.Is(err, errNotInFile) {
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					got, perr := syscall.Pread(int(fd), p[:n], off)
					release()
					if perr != nil || int64(got) != n || !bytes.Equal(p[:n], o.bytesAt(off, n)) {
						errs <- fmt.Errorf("ReadFd(%d, %d): wrong bytes (%d, %v)", off, n, got, perr)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
