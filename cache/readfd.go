package cache

import (
	"context"
	"errors"
	"fmt"
)

// errNotInFile is returned by ReadFd when the range cannot be served from
// the data file right now (a block is only in a fetch buffer, or still to
// be checked against its CRC); ReadAt serves it instead.
var errNotInFile = errors.New("cache: range not readable from the data file")

// ReadFd makes [off, off+n) present, waiting for the blocks a fetch is
// bringing, and returns the data file's descriptor once every block of the
// range is verified in it, so that the caller can splice the bytes instead
// of copying them. Until release is called no block of the version is
// dropped (dropping punches holes, and a splice after the punch would send
// zeros): call it once the descriptor was read, and soon, since drops
// (and so fetches of dropped blocks) wait for it. The range must lie within
// the object. Any error means: use ReadAt, which fetches, checks or copies
// what ReadFd declined, or reports why it cannot.
func (h *Handle) ReadFd(ctx context.Context, off, n int64) (fd uintptr, release func(), err error) {
	if err := h.check(); err != nil {
		return 0, nil, err
	}
	v := h.v
	if off < 0 || n <= 0 || off+n > v.size {
		return 0, nil, fmt.Errorf("cache read of %d bytes at %d outside the object (size %d)", n, off, v.size)
	}
	if v.uncached {
		return 0, nil, errNotInFile
	}
	first, last := off/v.bs, (off+n-1)/v.bs
	started, err := h.c.ensure(v, first, last)
	if err != nil {
		return 0, nil, err
	}
	// waited: the range had to come from the source, a miss however it is
	// served (as in readSome).
	waited := len(started) > 0
	for {
		v.fileMu.RLock()
		v.mu.Lock()
		b := first
		for b <= last && v.verified.has(b) {
			b++
		}
		if b > last {
			v.mu.Unlock()
			if waited {
				h.c.countMiss(n)
			} else {
				h.c.countHit(n)
			}
			return v.file.Fd(), v.fileMu.RUnlock, nil
		}
		fl := v.flights[b]
		// Missing without a fetch, present but not yet checked, or written
		// and then dropped in flight: ReadAt fetches or checks it.
		inFlight := fl != nil && !v.present.has(b) && !fl.block(b).written
		v.mu.Unlock()
		v.fileMu.RUnlock()
		if !inFlight {
			return 0, nil, errNotInFile
		}
		waited = true
		if err := h.awaitInFile(ctx, fl.block(b)); err != nil {
			return 0, nil, err
		}
	}
}

// awaitInFile waits for fb, in flight, to arrive, and fails with
// errNotInFile unless its bytes are then in the data file: a buffered
// flight's block is copied from the buffer sooner than its write could be
// waited for, and a failed fetch is for ReadAt to report or retry.
func (h *Handle) awaitInFile(ctx context.Context, fb *flightBlock) error {
	select {
	case <-fb.arrived:
	case <-ctx.Done():
		return ctx.Err()
	}
	if fb.err != nil {
		return errNotInFile
	}
	v := h.v
	v.mu.Lock()
	written := fb.written
	v.mu.Unlock()
	if !written {
		return errNotInFile
	}
	return nil
}
