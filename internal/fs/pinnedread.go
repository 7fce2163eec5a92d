package fs

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// pinnedFdResult answers a READ with a range of a cache data file that the
// cache keeps from being dropped until the reply was written. go-fuse
// splices the range into /dev/fuse (it recognises the Seekable method),
// so the bytes are not copied through this process; it calls Done after
// the reply was written, which lets the cache drop blocks again.
type pinnedFdResult struct {
	fd      uintptr
	off     int64
	sz      int
	release func()
}

var _ fuse.ReadResult = (*pinnedFdResult)(nil)

// Seekable is the method go-fuse splices from.
func (r *pinnedFdResult) Seekable() (fd uintptr, off int64, sz int) { return r.fd, r.off, r.sz }

// Bytes reads the range into buf, for when splicing is not possible.
func (r *pinnedFdResult) Bytes(buf []byte) ([]byte, fuse.Status) {
	sz := min(len(buf), r.sz)
	n, err := syscall.Pread(int(r.fd), buf[:sz], r.off)
	if err != nil {
		return nil, fuse.ToStatus(err)
	}
	if n != sz {
		// The cache vouched for the whole range; a short read means the
		// file was changed behind its back.
		return nil, fuse.EIO
	}
	return buf[:n], fuse.OK
}

func (r *pinnedFdResult) Size() int { return r.sz }

func (r *pinnedFdResult) Done() {
	if r.release != nil {
		r.release()
		r.release = nil
	}
}
