package cache

import (
	"context"
	"fmt"
	"time"
)

// commitItem is a block written to its data file, waiting to be recorded.
type commitItem struct {
	fl    *flight
	block int64
	crc   uint64
	size  int64
	// flushed, when set, makes the item a marker rather than a block:
	// the committer records everything queued before it, then closes it.
	flushed chan struct{}
}

// commitBatchMax bounds one round of the committer.
const commitBatchMax = 4096

// When the committer records blocks. Nobody reads faster for a block being
// recorded: readers use it as soon as it is written (page cache). So while
// blocks keep arriving and nobody waits for them to be durable, the
// committer lets them gather, and the fdatasync (which writes them all to
// disk and commits the filesystem's journal) does not compete with every
// write of the fetches still running. A burst is recorded once it has been
// quiet for commitQuiet, or once its oldest block waited commitMaxAge, or
// once it holds commitBatchBytes, whichever comes first; and at once while
// somebody waits for durability (materialize, Handle.Fetch) or the cache
// closes.
//
// The rule, whatever the rate: a block waits unrecorded at most
// commitMaxAge (1 s) plus the syncs of the round before it and its own,
// and at most pendingCommitBytes (256 MiB) are ever unrecorded, since
// fetches wait for the committer beyond that. So a crash loses about the
// last second of arrivals and never more than 256 MiB, which are fetched
// again: the index never names a block that is not on disk.
const (
	commitQuiet      = 250 * time.Millisecond
	commitMaxAge     = 1 * time.Second
	commitBatchBytes = pendingCommitBytes / 2
)

// committer records written blocks in the index, in the only order that is
// safe after a crash or power cut: data durable first (one fdatasync per
// touched file), then one badger WriteBatch for every block of the round.
// While it syncs, new blocks queue up and form the next round, so the cost
// of a sync is shared by everything written meanwhile.
func (c *Cache) committer() {
	defer close(c.committerDone)
	var (
		batch        []commitItem
		bytes        int64
		oldest, last time.Time
	)
	wake := time.NewTimer(commitMaxAge)
	wake.Stop()
	defer wake.Stop()
	// take adds an item to the batch; a flush marker commits the batch
	// first. It reports false once the channel is closed.
	take := func(item commitItem, ok bool) bool {
		switch {
		case !ok:
			if len(batch) > 0 {
				c.commit(batch)
			}
			return false
		case item.flushed != nil:
			if len(batch) > 0 {
				c.commit(batch)
				batch, bytes = nil, 0
			}
			close(item.flushed)
		default:
			if len(batch) == 0 {
				oldest = time.Now()
			}
			batch, bytes = append(batch, item), bytes+item.size
			last = time.Now()
		}
		return true
	}
	for {
		kicked := false
		select {
		case item, ok := <-c.commitCh:
			if !take(item, ok) {
				return
			}
			// Everything queued meanwhile joins the batch, so that one
			// fdatasync serves it all.
		drain:
			for len(batch) < commitBatchMax {
				select {
				case item, ok := <-c.commitCh:
					if !take(item, ok) {
						return
					}
				default:
					break drain
				}
			}
		case <-c.commitKick:
			kicked = true
		case <-wake.C:
		}
		if len(batch) == 0 {
			continue
		}
		now := time.Now()
		due := last.Add(commitQuiet)
		if aged := oldest.Add(commitMaxAge); aged.Before(due) {
			due = aged
		}
		if kicked || c.durableWaiters.Load() > 0 || !now.Before(due) ||
			bytes >= commitBatchBytes || len(batch) >= commitBatchMax {
			c.commit(batch)
			batch, bytes = nil, 0
			wake.Stop()
			continue
		}
		wake.Reset(due.Sub(now))
	}
}

// flushCommits returns once every block queued for the committer before
// the call is recorded (or known not to be).
func (c *Cache) flushCommits() {
	done := make(chan struct{})
	c.flightGate.RLock()
	closing := c.closing
	if !closing {
		c.commitCh <- commitItem{flushed: done}
	}
	c.flightGate.RUnlock()
	if !closing {
		<-done
	}
}

// commitSoon asks the committer to record what it holds now rather than
// wait for the burst to end.
func (c *Cache) commitSoon() {
	select {
	case c.commitKick <- struct{}{}:
	default:
	}
}

// awaitSettled waits until fb is settled: recorded, or known not to be.
// Meanwhile it keeps the committer from holding blocks back for the burst
// to end, since somebody waits for them.
func (c *Cache) awaitSettled(ctx context.Context, fb *flightBlock) error {
	select {
	case <-fb.settled:
		return nil
	default:
	}
	c.durableWaiters.Add(1)
	defer c.durableWaiters.Add(-1)
	c.commitSoon()
	select {
	case <-fb.settled:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Cache) commit(batch []commitItem) {
	synced := make(map[*version]error)
	for _, it := range batch {
		v := it.fl.v
		if _, done := synced[v]; !done {
			synced[v] = fdatasync(v.file)
		}
	}

	c.commitMu.Lock()
	ok := make([]bool, len(batch))
	// stale blocks were dropped while in flight: not an error, just not
	// recorded, so Fetch fetches them again.
	stale := make([]bool, len(batch))
	records := make([]blockRecord, 0, len(batch))
	for i, it := range batch {
		v := it.fl.v
		if err := synced[v]; err != nil {
			c.warnOnce("sync", "cache: cannot make cached data durable; serving reads without caching them",
				"dir", c.dir, "err", err)
			continue
		}
		v.mu.Lock()
		fresh := it.fl.gen == v.gen && !it.fl.block(it.block).dropped
		v.mu.Unlock()
		if !fresh {
			stale[i] = true
			continue
		}
		records = append(records, blockRecord{id: v.id, block: it.block, crc: it.crc})
		ok[i] = true
	}
	if werr := c.ix.recordBlocks(records); werr != nil {
		c.warnOnce("index", "cache: cannot record blocks in the index", "dir", c.dir, "err", werr)
		clear(ok)
	}

	// Readers switch from the flight's buffer to the file under v.mu.
	touched := make(map[*version]struct{})
	for i, it := range batch {
		v := it.fl.v
		touched[v] = struct{}{}
		v.mu.Lock()
		switch {
		case ok[i] && !v.present.has(it.block):
			v.present.set(it.block)
			v.crcs[it.block] = it.crc
			v.npresent++
		case !ok[i] && !v.present.has(it.block):
			v.verified.clear(it.block) // not recorded: read it from a fetch again
		}
		if v.flights[it.block] == it.fl {
			delete(v.flights, it.block)
		}
		v.mu.Unlock()
	}
	for v := range touched {
		c.markCompleteIfDone(v)
	}
	c.commitMu.Unlock()

	for i, it := range batch {
		fb := it.fl.block(it.block)
		if !ok[i] && !stale[i] {
			fb.stored = fmt.Errorf("%w: block %d was not recorded", ErrNotStored, it.block)
		}
		if st := it.fl.stream; ok[i] && st != nil && st.recorded != nil {
			st.recorded.add(it.size)
		}
		close(fb.settled)
		c.pending.Release(c.pendingWeight(it.size))
		c.countUnrecorded(-it.size)
	}
	for _, it := range batch {
		v := it.fl.v
		v.mu.Lock()
		v.inflight--
		v.mu.Unlock()
	}
	for v := range touched {
		c.maybeUnload(v)
	}
}

// markCompleteIfDone marks v complete once every block is present and the
// combined block CRCs match the object's CRC64. Without a CRC64 it asks
// OSS for one first (checkInBackground), if the source can; else, or if
// OSS has none, the version is complete but unverified. A mismatch is
// logged and counted once per load and repaired in the background
// (Repair); the version stays incomplete meanwhile, so nothing serves it
// as the object. Called with commitMu held.
func (c *Cache) markCompleteIfDone(v *version) {
	v.mu.Lock()
	if v.m.Complete || v.npresent != v.nblocks || v.repair != nil {
		v.mu.Unlock()
		return
	}
	if !v.m.HasCRC64 {
		if _, ok := c.src.(Stater); ok {
			v.mu.Unlock()
			c.checkInBackground(v)
			return
		}
	} else if sum := combineCRCs(v.crcs, v.bs, v.size); sum != v.m.CRC64 {
		first := !v.mismatchLogged
		v.mismatchLogged = true
		v.mu.Unlock()
		if first {
			c.stats.crcMismatches.Add(1)
			c.log.Warn("cache: cached object does not match its CRC64; fetching its blocks again until they agree",
				"object", "oss://"+v.ref.Bucket+"/"+v.ref.Key)
		}
		c.checkInBackground(v)
		return
	}
	v.m.Complete = true
	m := v.m
	v.mu.Unlock()
	if err := c.ix.putMeta(v.id, m, m.Access, false); err != nil {
		c.log.Warn("cache: cannot record a complete version", "err", err)
	}
}
