package cache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// VerifyComplete checks a version whose blocks are all present: the CRC64
// combined from the block CRCs must equal the object's CRC64. On success
// the version is marked complete. On a mismatch it returns an error
// wrapping ErrCorrupt and leaves the blocks alone; the caller decides
// whether to drop them (DropAll). It never re-reads the data.
func (h *Handle) VerifyComplete(ctx context.Context) error {
	if err := h.check(); err != nil {
		return err
	}
	c, v := h.c, h.v
	if v.uncached {
		return fmt.Errorf("%w: the cache cannot hold oss://%s/%s", ErrNotStored, v.ref.Bucket, v.ref.Key)
	}
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	v.mu.Lock()
	if v.npresent != v.nblocks {
		missing := v.nblocks - v.npresent
		v.mu.Unlock()
		return fmt.Errorf("%w: %d of %d blocks missing", ErrIncomplete, missing, v.nblocks)
	}
	sum := combineCRCs(v.crcs, v.bs, v.size)
	if v.m.HasCRC64 && sum != v.m.CRC64 {
		v.mu.Unlock()
		return fmt.Errorf("%w: oss://%s/%s has CRC64 %d, the cached blocks %d",
			ErrCorrupt, v.ref.Bucket, v.ref.Key, v.m.CRC64, sum)
	}
	if v.m.Complete {
		v.mu.Unlock()
		return nil
	}
	v.m.Complete = true
	m := v.m
	v.mu.Unlock()
	return c.ix.putMeta(v.id, m, m.Access, false)
}

// Verified reports whether the version is complete and was checked
// against the CRC64 OSS reported: only then is its data file known to be
// the object. A complete version without a CRC64 is unverified.
func (h *Handle) Verified() bool {
	v := h.v
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.m.Complete && v.m.HasCRC64
}

// dropBlocks forgets the given blocks: they are fetched again when next
// needed.
func (h *Handle) dropBlocks(blocks ...int64) {
	if h.check() != nil {
		return
	}
	for _, b := range blocks {
		if b >= 0 && b < h.v.nblocks {
			h.c.dropIf(h.v, b, b, nil)
		}
	}
}

// DropAll forgets every block of the version, including blocks still being
// fetched, which will not be recorded.
func (h *Handle) DropAll() {
	if h.check() != nil || h.v.nblocks == 0 {
		return
	}
	v := h.v
	v.mu.Lock()
	v.gen++
	v.mu.Unlock()
	h.c.dropIf(v, 0, v.nblocks-1, nil)
}

// dataPath is the path of the data file of a complete version, which is the
// object byte for byte. It fails with ErrIncomplete otherwise.
func (h *Handle) dataPath() (string, error) {
	if err := h.check(); err != nil {
		return "", err
	}
	if !h.Complete() {
		return "", ErrIncomplete
	}
	return h.v.path, nil
}

// DataFile opens the data file of a complete version read-only, which is
// the object byte for byte (for FUSE passthrough); the caller closes it. It
// fails with ErrIncomplete if the version is not complete.
func (h *Handle) DataFile() (*os.File, error) {
	path, err := h.dataPath()
	if err != nil {
		return nil, err
	}
	return os.Open(path)
}

// Detach moves the data file of a complete version to dest (on the same
// filesystem) and removes the version from the cache, in that order: after
// a crash in between, the index names a file that is gone, which the next
// load notices and forgets. The Handle must be the version's only one and
// no fetch may be running (else ErrBusy; copy DataFile instead). Afterwards
// the Handle only accepts Close. The file keeps mode 0600.
func (h *Handle) Detach(dest string) error {
	if err := h.check(); err != nil {
		return err
	}
	c, v := h.c, h.v
	// A background check of the version holds a pin while it runs; one
	// that is ending (the version is complete, so it has nothing left to
	// do) is waited for a moment rather than making the caller copy.
	v.mu.Lock()
	checking, checked := v.checking, v.checked
	v.mu.Unlock()
	if checking && checked != nil {
		select {
		case <-checked:
		case <-time.After(detachCheckWait):
		}
	}
	c.mu.Lock()
	v.mu.Lock()
	switch {
	case !v.m.Complete:
		v.mu.Unlock()
		c.mu.Unlock()
		return ErrIncomplete
	case v.pins != 1 || v.busy != nil || v.inflight > 0:
		v.mu.Unlock()
		c.mu.Unlock()
		return ErrBusy
	}
	v.mu.Unlock()
	v.busy = make(chan struct{})
	c.mu.Unlock()

	err := fdatasync(v.file)
	if err == nil {
		err = os.Rename(v.path, dest)
	}
	if err == nil {
		_ = syncDir(filepath.Dir(dest))
		if ierr := c.ix.deleteVersion(v.id); ierr != nil {
			c.log.Warn("cache: cannot forget a detached version", "err", ierr)
		}
	}

	c.mu.Lock()
	if err == nil {
		v.detached.Store(true)
		delete(c.versions, v.id)
		c.dropUsageLocked(v.id)
	}
	busy := v.busy
	v.busy = nil
	c.mu.Unlock()
	close(busy)
	if err != nil {
		return fmt.Errorf("detach cached file: %w", err)
	}
	return nil
}

// detachCheckWait bounds how long Detach waits for a background check of
// the version to end before it reports ErrBusy.
const detachCheckWait = 2 * time.Second
