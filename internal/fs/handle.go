package fs

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// smallObject is the size up to which an object is fetched whole on its
// first read: one request, and every later read of it is local.
const smallObject = 1 << 20

// fileHandle is one open of one version. Reads go through the cache
// handle; a version already complete in the cache is read from its data
// file directly (by the kernel with passthrough, or by splicing from it).
type fileHandle struct {
	node *fileNode
	ch   pinnedVersion
	size int64

	// data is the complete data file, or nil while blocks are missing.
	data        *os.File
	passthrough bool

	ra           *readahead
	wholeFetched atomic.Bool

	// ctx ends at Release (or shutdown): it stops this handle's prefetch.
	ctx    context.Context
	cancel context.CancelFunc

	releaseOnce sync.Once
}

var (
	_ gofs.FileReader          = (*fileHandle)(nil)
	_ gofs.FileReleaser        = (*fileHandle)(nil)
	_ gofs.FilePassthroughFder = (*fileHandle)(nil)
	_ gofs.FileFlusher         = (*fileHandle)(nil)
)

func newFileHandle(n *fileNode, ch pinnedVersion) *fileHandle {
	f := n.fsys
	ctx, cancel := context.WithCancel(f.ctx)
	h := &fileHandle{node: n, ch: ch, size: ch.Info().Size, ctx: ctx, cancel: cancel}
	if ch.Verified() {
		if df, err := ch.DataFile(); err == nil {
			h.data = df
		} else {
			f.log.Debug("verified version without a data file; reading through the cache", "key", n.info.Key, "err", err)
		}
	}
	n.mu.Lock()
	if h.data != nil && n.cachedOpens == 0 && !f.cfg.DisablePassthrough {
		h.passthrough = true
	} else {
		n.cachedOpens++
	}
	n.mu.Unlock()
	if h.data == nil {
		h.ra = newReadahead(h)
	}
	f.handlesMu.Lock()
	f.handles[h] = struct{}{}
	f.handlesMu.Unlock()
	return h
}

// PassthroughFd hands the complete data file to the kernel, which then
// serves reads from it without this process. go-fuse calls it once at
// open; the file stays open until Release.
func (h *fileHandle) PassthroughFd() (int, bool) {
	if !h.passthrough || h.data == nil {
		return 0, false
	}
	return int(h.data.Fd()), true
}

// Read serves a READ of the kernel: from the data file when the version is
// complete, otherwise through the cache, which fetches the missing blocks
// (and waits for blocks a prefetch is already fetching). Ranges whose
// blocks are verified in the data file are spliced from it, pinned until
// the reply is written; others are copied through ReadAt.
func (h *fileHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	f := h.node.fsys
	f.stats.reads.Add(1)
	if off >= h.size || len(dest) == 0 {
		return fuse.ReadResultData(nil), 0
	}
	n := int(min(int64(len(dest)), h.size-off))
	if h.data != nil {
		f.stats.readBytes.Add(int64(n))
		return fuse.ReadResultFd(h.data.Fd(), off, n), 0
	}
	ctx, cancel := f.requestContext(ctx)
	defer cancel()
	if h.size <= smallObject && h.wholeFetched.CompareAndSwap(false, true) {
		// One GET for the whole object; the read below waits for its
		// bytes to arrive, not for them to be written to disk.
		_ = h.ch.StartFetch(0, h.size)
	} else {
		h.ra.beforeRead(off, int64(n))
	}
	if fd, release, err := h.ch.ReadFd(ctx, off, int64(n)); err == nil {
		f.stats.readBytes.Add(int64(n))
		return &pinnedFdResult{fd: fd, off: off, sz: n, release: release}, 0
	}
	// The range is not (yet) verified in the data file: read it through
	// the cache, which copies from a fetch buffer, checks blocks, or
	// reports the failure.
	got, err := h.ch.ReadAt(ctx, dest[:n], off)
	if err != nil && !(errors.Is(err, io.EOF) && got == n) {
		f.stats.readErrors.Add(1)
		f.logFailure("read", h.node.info.Key, h.node.info.ETag, err)
		return nil, f.readErrno(err)
	}
	f.stats.readBytes.Add(int64(got))
	return fuse.ReadResultData(dest[:got]), 0
}

// Flush is close(2); there is nothing to write back.
func (h *fileHandle) Flush(ctx context.Context) syscall.Errno { return 0 }

// Release stops this handle's prefetch and unpins the version.
func (h *fileHandle) Release(ctx context.Context) syscall.Errno {
	h.release()
	return 0
}

func (h *fileHandle) release() {
	h.releaseOnce.Do(func() {
		f := h.node.fsys
		h.cancel()
		if h.ra != nil {
			h.ra.stop()
		}
		n := h.node
		n.mu.Lock()
		if !h.passthrough {
			n.cachedOpens--
		}
		n.mu.Unlock()
		if h.data != nil {
			h.data.Close()
		}
		if err := h.ch.Close(); err != nil {
			f.log.Debug("closing cache handle", "key", n.info.Key, "err", err)
		}
		f.handlesMu.Lock()
		delete(f.handles, h)
		f.handlesMu.Unlock()
	})
}
