package cache

import (
	"errors"
	"fmt"

	"github.com/ossmount/ossmount/object"
)

// ensure starts fetches for the blocks in [first, last] of v that are
// neither present nor already being fetched, in runs of at most maxRun
// blocks (one GET each), and at most maxRunsPerEnsure runs at a time so a
// huge read does not allocate buffers for all of it at once: readers call
// it again as they get to blocks without a fetch. It returns the flights it
// started: reads of those blocks are misses, however fast the fetch is.
func (c *Cache) ensure(v *version, first, last int64) (started runs, err error) {
	if c.src == nil {
		v.mu.Lock()
		defer v.mu.Unlock()
		for b := first; b <= last; b++ {
			if !v.present.has(b) && v.flights[b] == nil {
				return nil, ErrNoSource
			}
		}
		return nil, nil
	}
	c.flightGate.RLock()
	defer c.flightGate.RUnlock()
	if c.closing {
		return nil, ErrClosed
	}
	v.mu.Lock()
	for b := first; b <= last && len(started) < maxRunsPerEnsure; {
		if v.present.has(b) || v.flights[b] != nil {
			b++
			continue
		}
		start := b
		for b <= last && b-start < c.maxRun && !v.present.has(b) && v.flights[b] == nil {
			b++
		}
		fl := newFlight(c, v, start, b-1)
		for i := start; i < b; i++ {
			v.flights[i] = fl
		}
		v.inflight++
		started = append(started, fl)
	}
	v.mu.Unlock()
	c.flights.Add(len(started))
	for _, fl := range started {
		go c.runFlight(fl)
	}
	return started, nil
}

// runs are flights, each a run of consecutive blocks.
type runs []*flight

// of returns the run that block b is in, or nil.
func (s runs) of(b int64) *flight {
	for _, fl := range s {
		if b >= fl.first && b <= fl.last() {
			return fl
		}
	}
	return nil
}

// has reports whether block b is in one of the runs.
func (s runs) has(b int64) bool { return s.of(b) != nil }

// maxRunsPerEnsure bounds the fetches one call of ensure starts.
const maxRunsPerEnsure = 16

// runFlight performs the GET of one flight. It runs under the Cache's
// context, not a reader's: other readers may be waiting for the same
// blocks, and a run is short, so it is finished even if its first reader
// gives up; Close cancels it.
func (c *Cache) runFlight(fl *flight) {
	defer c.flights.Done()
	v := fl.v
	err := c.src.ReadRange(c.ctx, v.ref, fl.off, fl.n, fl)
	if err == nil {
		err = fl.finish()
	}
	if err != nil {
		c.failFlight(fl, err)
	}
	fl.unref()
	v.mu.Lock()
	v.inflight--
	v.mu.Unlock()
	c.maybeUnload(v)
}

// failFlight ends every block of fl that has not arrived with err, and
// unregisters them so that the next reader tries again.
func (c *Cache) failFlight(fl *flight, err error) {
	fl.mu.Lock()
	rest := fl.next
	fl.next = len(fl.blocks)
	fl.mu.Unlock()
	v := fl.v
	v.mu.Lock()
	for i := rest; i < len(fl.blocks); i++ {
		b := fl.first + int64(i)
		if v.flights[b] == fl {
			delete(v.flights, b)
		}
	}
	v.mu.Unlock()
	for i := rest; i < len(fl.blocks); i++ {
		fb := &fl.blocks[i]
		fb.err, fb.stored = err, err
		close(fb.arrived)
		close(fb.settled)
		fl.unref()
	}
}

// blockArrived is called once all bytes of block b are in the flight's
// buffer: it checksums them, wakes the readers, and stores the block.
func (c *Cache) blockArrived(fl *flight, b int64) {
	data := fl.data(b)
	crc := object.CRC64(data, 0)
	c.stats.fetched.Add(int64(len(data)))
	close(fl.block(b).arrived)
	c.store(fl, b, data, crc)
}

// store writes a fetched block to the data file and queues it for the
// committer, which records it once the bytes are durable. From the write
// on, readers read the block from the file (page cache) and the flight's
// buffer is free for reuse, so memory does not grow with the disk's
// backlog. If the block cannot be kept (cap full of pinned data, disk full,
// I/O error) the readers already have it; it just stays missing.
func (c *Cache) store(fl *flight, b int64, data []byte, crc uint64) {
	v := fl.v
	if v.uncached {
		c.notStored(fl, b, errors.New("the cache cannot hold this object"))
		return
	}
	size := int64(len(data))
	if err := c.reserve(v, b); err != nil {
		c.notStored(fl, b, err)
		return
	}
	if _, err := c.writeAt(v.file, data, b*v.bs); err != nil {
		c.unreserve(v, b)
		_ = punchHole(v.file, b*v.bs, size)
		c.warnOnce("write", "cache: cannot write to the cache; serving reads without caching them",
			"dir", c.dir, "err", err)
		c.notStored(fl, b, fmt.Errorf("%w: %w", ErrNotStored, err))
		return
	}
	c.markWritten(fl, b)
	fl.unref()
	c.queueCommit(fl, b, crc, size)
}

// markWritten records that block b's bytes are in the data file: readers
// read it from there from now on (unless it was dropped in flight), and
// the version stays loaded until the committer is done with the block.
func (c *Cache) markWritten(fl *flight, b int64) {
	v := fl.v
	v.mu.Lock()
	fb := fl.block(b)
	fb.written = true
	if !fb.dropped {
		v.verified.set(b)
	}
	v.inflight++
	v.mu.Unlock()
}

// queueCommit hands a written block to the committer.
func (c *Cache) queueCommit(fl *flight, b int64, crc uint64, size int64) {
	c.countUnrecorded(size)
	c.commitCh <- commitItem{fl: fl, block: b, crc: crc, size: size}
}

// notStored settles a block that will not be recorded.
func (c *Cache) notStored(fl *flight, b int64, err error) {
	if !errors.Is(err, ErrNotStored) {
		err = fmt.Errorf("%w: %w", ErrNotStored, err)
	}
	v := fl.v
	v.mu.Lock()
	if v.flights[b] == fl {
		delete(v.flights, b)
	}
	v.mu.Unlock()
	fb := fl.block(b)
	fb.stored = err
	close(fb.settled)
	fl.unref()
}

// pendingCommitBytes bounds the bytes written to data files but not yet
// recorded (dirty pages, not memory of ours), and so what a crash makes
// fetch again; fetches wait when the disk falls behind. The committer
// records a burst at half of it (commitBatchBytes), so fetching goes on
// while it syncs; the kernel's own dirty-page limits still apply below it
// on a small machine.
const pendingCommitBytes = 256 << 20

func (c *Cache) pendingWeight(size int64) int64 { return min(size, pendingCommitBytes) }

// allocSize is the disk space n bytes of a block take.
func (c *Cache) allocSize(n int64) int64 { return (n + c.fsBlock - 1) / c.fsBlock * c.fsBlock }
