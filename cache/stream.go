package cache

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/ossmount/ossmount/object"
)

// Streaming flights carry FetchAllWith's runs, which may be far longer
// than a buffer should be. Each chunk of the body is written to the data
// file where it belongs as soon as it arrives (one pwrite, from the
// client's own read buffer: no copy of ours), and each block's CRC64 is
// computed on the way, once per byte. When a block's last byte is written
// the block has arrived: it is queued for the committer and readers read it
// from the file, exactly as a buffered flight's block after store. Memory
// does not grow with the run length.

// streamState is the part of a flight that only a streaming flight has.
// It is guarded by flight.mu.
type streamState struct {
	pos      int64  // object offset of the next byte expected
	crc      uint64 // CRC64 of the bytes of the block being received
	reserved int    // blocks[:reserved] hold disk space and pending-commit weight
	err      error  // why the stream stopped taking bytes (ErrNotStored, ...)
	recorded *recordedBytes
}

// recordedBytes counts the bytes of a FetchAllWith's blocks that the
// committer recorded, and wakes the goroutine that reports progress. The
// committer never calls the caller's code itself, so a slow progress
// display cannot hold up the index.
type recordedBytes struct {
	n    atomic.Int64
	kick chan struct{} // capacity 1: wake-ups coalesce
}

func newRecordedBytes() *recordedBytes { return &recordedBytes{kick: make(chan struct{}, 1)} }

func (r *recordedBytes) add(n int64) {
	r.n.Add(n)
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// errAbandoned ends the blocks of a streaming flight that stopped for a
// reason of its own (its caller gave up, the cache could not store the
// bytes): a reader waiting for them fetches them itself instead of failing.
var errAbandoned = errors.New("cache: fetch abandoned")

// errStreamEnded refuses bytes that a source writes after its fetch ended.
var errStreamEnded = errors.New("cache: write after the fetch ended")

// newStreamFlight is a streaming fetch of blocks [first, last]: no run
// buffer; the body goes to the data file as it arrives (streamWrite).
func newStreamFlight(c *Cache, v *version, first, last int64, recorded *recordedBytes) *flight {
	fl := flightOf(c, v, first, last)
	fl.stream = &streamState{pos: fl.off, recorded: recorded}
	return fl
}

// streamWrite takes the next chunk of a streaming flight's body. Bytes
// must come in order; a resumed body that repeats bytes already taken is
// fine (they are skipped), a gap is an error.
func (fl *flight) streamWrite(p []byte, off int64) (int, error) {
	n := len(p)
	c, v, st := fl.c, fl.v, fl.stream
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if st.err != nil {
		return 0, st.err
	}
	if off < fl.off || off+int64(n) > fl.off+fl.n {
		return 0, fmt.Errorf("cache: write at %d+%d outside the fetched range %d+%d", off, n, fl.off, fl.n)
	}
	if off < st.pos {
		skip := min(st.pos-off, int64(n))
		p, off = p[skip:], off+skip
	}
	if len(p) == 0 {
		return n, nil
	}
	if off > st.pos {
		return 0, fmt.Errorf("cache: fetched bytes at %d skip ahead of %d", off, st.pos)
	}
	// Every block the chunk reaches gets its disk space before a byte of
	// it is written, so the cap is exceeded only by blocks in flight.
	for last := (off + int64(len(p)) - 1) / v.bs; fl.first+int64(st.reserved) <= last; st.reserved++ {
		if err := c.reserve(v, fl.first+int64(st.reserved)); err != nil {
			st.err = err
			return 0, err
		}
	}
	if _, err := c.writeAt(v.file, p, off); err != nil {
		c.warnOnce("write", "cache: cannot write to the cache; serving reads without caching them",
			"dir", c.dir, "err", err)
		st.err = fmt.Errorf("%w: %w", ErrNotStored, err)
		return 0, st.err
	}
	st.pos = off + int64(len(p))
	for len(p) > 0 {
		b := fl.first + int64(fl.next)
		blockEnd := b*v.bs + v.blockLen(b)
		k := min(int64(len(p)), blockEnd-off)
		st.crc = object.CRC64(p[:k], st.crc)
		p, off = p[k:], off+k
		if off == blockEnd {
			crc := st.crc
			st.crc = 0
			fl.next++
			c.streamArrived(fl, b, crc)
		}
	}
	return n, nil
}

// reserve admits the disk space of block b and takes its share of the
// bytes that may wait for the committer.
func (c *Cache) reserve(v *version, b int64) error {
	size := v.blockLen(b)
	// A version outside the cache directory takes none of the cache's
	// space: its caller chose where it lives.
	if !v.outside {
		if err := c.admit(v.id, c.allocSize(size)); err != nil {
			return fmt.Errorf("%w: %w", ErrNotStored, err)
		}
	}
	// Bound the bytes written but not yet recorded, so that a slow disk
	// slows fetches down rather than piling up dirty pages. Not cancelled
	// by Close: the committer runs until every fetch has ended, and bytes
	// already fetched are worth keeping.
	if err := c.pending.Acquire(context.Background(), c.pendingWeight(size)); err != nil {
		c.addUsage(v.id, -c.allocSize(size))
		return fmt.Errorf("%w: %w", ErrNotStored, err)
	}
	return nil
}

// unreserve gives back what reserve took, for a block that will not arrive.
func (c *Cache) unreserve(v *version, b int64) {
	size := v.blockLen(b)
	c.pending.Release(c.pendingWeight(size))
	c.addUsage(v.id, -c.allocSize(size))
}

// streamArrived hands block b, whose bytes are all in the data file, to
// the readers and the committer. Called with fl.mu held.
func (c *Cache) streamArrived(fl *flight, b int64, crc uint64) {
	size := fl.v.blockLen(b)
	c.stats.fetched.Add(size)
	c.markWritten(fl, b)
	close(fl.block(b).arrived)
	fl.unref()
	c.queueCommit(fl, b, crc, size)
}

// runStream performs the GET of a streaming flight in the caller's
// goroutine, under ctx. On failure the blocks that did not arrive give
// their space back; readers waiting for them fetch them themselves if the
// failure was this flight's own (ctx ended, the bytes could not be
// stored), else they get the error. It returns the error for the caller:
// ErrNotStored when the cache could not keep the bytes.
func (c *Cache) runStream(ctx context.Context, fl *flight) error {
	defer c.flights.Done()
	v := fl.v
	err := c.src.ReadRange(ctx, v.ref, fl.off, fl.n, fl)
	if err == nil {
		err = fl.finish()
	}
	if err != nil {
		local := c.endStream(fl)
		forReaders := err
		if local != nil {
			err, forReaders = local, errAbandoned
		} else if ctx.Err() != nil && c.ctx.Err() == nil {
			forReaders = errAbandoned
		}
		c.failFlight(fl, forReaders)
	}
	fl.unref()
	v.mu.Lock()
	v.inflight--
	v.mu.Unlock()
	c.maybeUnload(v)
	return err
}

// endStream stops a failed streaming flight from taking more bytes, and
// releases the blocks it reserved that did not arrive, punching out any
// bytes written to them. It returns the local failure, if that is what
// stopped the stream.
func (c *Cache) endStream(fl *flight) error {
	fl.mu.Lock()
	st := fl.stream
	from, to := fl.next, st.reserved
	st.reserved = fl.next
	local := st.err
	if st.err == nil {
		st.err = errStreamEnded
	}
	fl.mu.Unlock()
	v := fl.v
	for i := from; i < to; i++ {
		b := fl.first + int64(i)
		_ = punchHole(v.file, b*v.bs, v.blockLen(b))
		c.unreserve(v, b)
	}
	return local
}
