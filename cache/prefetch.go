package cache

import (
	"context"
	"errors"
	"sync"

	"github.com/ossmount/ossmount/rangefetch"
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
	_, err := h.await(ctx, off/v.bs, (end-1)/v.bs, true)
	return err
}

// await fetches the missing blocks in [first, last] and waits for them: for
// settle, until each is recorded (or will not be: ErrNotStored); otherwise
// only until its bytes arrived, returning the blocks still being stored.
func (h *Handle) await(ctx context.Context, first, last int64, settle bool) ([]*flightBlock, error) {
	v := h.v
	if err := h.c.ensure(v, first, last); err != nil {
		return nil, err
	}
	var pending []*flightBlock
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
			if err := h.c.ensure(v, b, last); err != nil {
				return pending, err
			}
			continue
		}
		fb := fl.block(b)
		wait := fb.done
		if settle {
			wait = fb.settled
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return pending, ctx.Err()
		}
		if fb.err != nil {
			return pending, fb.err
		}
		switch {
		case !settle:
			pending = append(pending, fb)
			b++
		case fb.stored != nil:
			notStored = fb.stored
			b++
		}
		// A settled block is present now, or was dropped meanwhile and is
		// fetched again.
	}
	return pending, notStored
}

// FetchAll makes the whole version present with up to workers concurrent
// GETs (default 8), calling progress (if not nil) with the bytes fetched so
// far and the object size. Workers do not wait for each block to become
// durable: the committer records blocks behind them, and FetchAll returns
// once every block is recorded. It stops at the first error; ErrNotStored
// means the blocks were fetched but the cache could not keep them all.
func (h *Handle) FetchAll(ctx context.Context, workers int, progress func(done, total int64)) error {
	if err := h.check(); err != nil {
		return err
	}
	if workers <= 0 {
		workers = 8
	}
	v := h.v
	var runs []rangefetch.Range
	missing := int64(0)
	for _, r := range h.Missing() {
		missing += r.Len
		runs = append(runs, rangefetch.SplitRanges(r.Off, r.Len, h.c.maxRun*v.bs)...)
	}
	total := v.size
	done := total - missing
	if progress != nil {
		progress(done, total)
	}
	if len(runs) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		pending []*flightBlock
		first   error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil || (errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
		mu.Unlock()
		cancel()
	}
	work := make(chan rangefetch.Range)
	var wg sync.WaitGroup
	for range min(workers, len(runs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				p, err := h.await(ctx, r.Off/v.bs, (r.End()-1)/v.bs, false)
				mu.Lock()
				pending = append(pending, p...)
				if err == nil {
					done += r.Len
					if progress != nil {
						progress(done, total)
					}
				}
				mu.Unlock()
				if err != nil {
					fail(err)
					return
				}
			}
		}()
	}
feed:
	for _, r := range runs {
		select {
		case work <- r:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	if first != nil {
		return first
	}
	for _, fb := range pending {
		select {
		case <-fb.settled:
		case <-ctx.Done():
			return ctx.Err()
		}
		if fb.stored != nil {
			return fb.stored
		}
	}
	// Blocks dropped while in flight are fetched again here.
	return h.Fetch(ctx, 0, total)
}
