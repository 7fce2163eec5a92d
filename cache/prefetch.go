package cache

import (
	"context"
	"errors"
)

// Fetch makes [off, off+n) present in the cache, waiting until every block
// is settled. It fails with ErrNotStored if some could not be kept (the cap
// is full of pinned data, or the disk is full).
func (h *Handle) Fetch(ctx context.Context, off, n int64) error {
	if err := h.check(); err != nil {
		return err
	}
	first, last, ok := h.blocksOf(off, n)
	if !ok {
		return nil
	}
	return h.await(ctx, first, last)
}

// await fetches the missing blocks in [first, last] and waits until each
// is settled: recorded, or not stored (ErrNotStored).
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
// present nor being fetched, one GET per run of them, and returns without
// waiting for any: the GETs run under the cache's own context (Close stops
// them), and readers of those blocks wait for them instead of fetching
// again. Like a read, it starts at most maxRunsPerEnsure runs from off on;
// the blocks after those are fetched by whoever reads them.
func (h *Handle) StartFetch(off, n int64) error {
	if err := h.check(); err != nil {
		return err
	}
	first, last, ok := h.blocksOf(off, n)
	if !ok {
		return nil
	}
	_, err := h.c.ensure(h.v, first, last)
	return err
}

// AwaitArrived returns once every block of [off, off+n) has arrived: it is
// present, or its bytes are in the data file or in a fetch's buffer, where
// readers waiting for it are served. It does not wait for the committer to
// record the blocks: a block of a fetch it started or waited on counts as
// arrived even if the cache cannot store it. Blocks nobody is fetching are
// fetched (as StartFetch does); a failed fetch is reported, an abandoned
// one (a FetchAllWith that gave up) is started again. Cancelling ctx stops
// the wait, not the fetches.
func (h *Handle) AwaitArrived(ctx context.Context, off, n int64) error {
	if err := h.check(); err != nil {
		return err
	}
	first, last, ok := h.blocksOf(off, n)
	if !ok {
		return nil
	}
	// Blocks are waited for through the flights that bring them, held
	// here: once arrived, a block that cannot be stored leaves
	// version.flights, and looking it up there again would fetch it again.
	v := h.v
	var held runs
	for b := first; b <= last; {
		fl := held.of(b)
		if fl == nil {
			v.mu.Lock()
			present := v.present.has(b)
			fl = v.flights[b]
			v.mu.Unlock()
			if present {
				b++
				continue
			}
		}
		if fl == nil {
			started, err := h.c.ensure(v, b, last)
			if err != nil {
				return err
			}
			held = started
			continue
		}
		next, abandoned, err := awaitArrival(ctx, fl, b, min(last, fl.last()))
		if err != nil {
			return err
		}
		if abandoned {
			held = nil // look block next up again: nobody fetches it now
		}
		b = next
	}
	return nil
}

// awaitArrival waits for blocks [b, end] of fl to arrive, in order, and
// returns the block after them; or, if abandoned, the first block whose
// fetch was given up, to be fetched again.
func awaitArrival(ctx context.Context, fl *flight, b, end int64) (next int64, abandoned bool, err error) {
	for ; b <= end; b++ {
		fb := fl.block(b)
		select {
		case <-fb.arrived:
		case <-ctx.Done():
			return b, false, ctx.Err()
		}
		switch {
		case errors.Is(fb.err, errAbandoned):
			return b, true, nil
		case fb.err != nil:
			return b, false, fb.err
		}
	}
	return b, false, nil
}

// blocksOf clips [off, off+n) to the object and returns its first and last
// block; ok is false if nothing is left.
func (h *Handle) blocksOf(off, n int64) (first, last int64, ok bool) {
	v := h.v
	off = max(off, 0)
	end := min(off+n, v.size)
	if end <= off {
		return 0, 0, false
	}
	return off / v.bs, (end - 1) / v.bs, true
}
