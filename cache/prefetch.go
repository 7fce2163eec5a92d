package cache

import (
	"context"
	"errors"
)

// Fetch makes [off, off+n) present in the cache (prefetch, materialize),
// waiting until the blocks are recorded. It fails with ErrNotStored if some
// could not be kept (the cap is full of pinned data, or the disk is full).
func (h *Handle) Fetch(ctx context.Context, off, n int64) error {
	if err := h.check(); err != nil {
		return err
	}
	v := h.v
	off = max(off, 0)
	end := min(off+n, v.size)
	if end <= off {
		return nil
	}
	return h.await(ctx, off/v.bs, (end-1)/v.bs)
}

// await fetches the missing blocks in [first, last] and waits until each
// is recorded, or will not be (ErrNotStored).
func (h *Handle) await(ctx context.Context, first, last int64) error {
	v := h.v
	if _, err := h.c.ensure(v, first, last); err != nil {
		return err
	}
	var notStored error
	for b := first; b <= last; {
		v.mu.Lock()
		if v.present.has(b) {
			v.mu.Unlock()
			b++
			continue
		}
		fl := v.flights[b]
		v.mu.Unlock()
		if fl == nil {
			if _, err := h.c.ensure(v, b, last); err != nil {
				return err
			}
			continue
		}
		fb := fl.block(b)
		if err := h.c.awaitSettled(ctx, fb); err != nil {
			return err
		}
		if errors.Is(fb.err, errAbandoned) {
			continue // its fetch gave up: fetch it again
		}
		if fb.err != nil {
			return fb.err
		}
		if fb.stored != nil {
			notStored = fb.stored
			b++
		}
		// A settled block is present now, or was dropped meanwhile and is
		// fetched again.
	}
	return notStored
}

// StartFetch starts fetching the blocks of [off, off+n) that are neither
// present nor being fetched, one GET per run, and returns without waiting
// for them: the GETs run under the cache's own context (Close stops them),
// and readers of those blocks wait for them instead of fetching again.
func (h *Handle) StartFetch(off, n int64) error {
	if err := h.check(); err != nil {
		return err
	}
	v := h.v
	off = max(off, 0)
	end := min(off+n, v.size)
	if end <= off {
		return nil
	}
	_, err := h.c.ensure(v, off/v.bs, (end-1)/v.bs)
	return err
}

// AwaitArrived returns once every byte of [off, off+n) is readable: present,
// in the data file, or arrived in a fetch's buffer. It does not wait for the
// blocks to be recorded. Blocks that nobody is fetching are fetched (as
// StartFetch does); a fetch that fails is reported, one that was abandoned
// is started again.
func (h *Handle) AwaitArrived(ctx context.Context, off, n int64) error {
	if err := h.check(); err != nil {
		return err
	}
	v := h.v
	off = max(off, 0)
	end := min(off+n, v.size)
	if end <= off {
		return nil
	}
	last := (end - 1) / v.bs
	for b := off / v.bs; b <= last; {
		v.mu.Lock()
		if v.present.has(b) {
			v.mu.Unlock()
			b++
			continue
		}
		fl := v.flights[b]
		if fl == nil {
			v.mu.Unlock()
			if _, err := h.c.ensure(v, b, last); err != nil {
				return err
			}
			continue
		}
		fb := fl.block(b)
		written := fb.written
		v.mu.Unlock()
		if written {
			b++ // in the data file, readable
			continue
		}
		select {
		case <-fb.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		switch {
		case errors.Is(fb.err, errAbandoned):
			continue // its fetch gave up: fetch it again
		case fb.err != nil:
			return fb.err
		}
		b++
	}
	return nil
}
