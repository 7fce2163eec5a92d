package cache

import (
	"fmt"
)

// commitItem is a block written to its data file, waiting to be recorded.
type commitItem struct {
	fl    *flight
	block int64
	crc   uint64
	size  int64
}

// commitBatchMax bounds one round of the committer.
const commitBatchMax = 4096

// committer records written blocks in the index, in the only order that is
// safe after a crash or power cut: data durable first (one fdatasync per
// touched file), then one badger WriteBatch for every block of the round.
// While it syncs, new blocks queue up and form the next round, so the cost
// of a sync is shared by everything written meanwhile.
func (c *Cache) committer() {
	defer close(c.committerDone)
	for {
		item, ok := <-c.commitCh
		if !ok {
			return
		}
		batch := []commitItem{item}
	drain:
		for len(batch) < commitBatchMax {
			select {
			case item, ok := <-c.commitCh:
				if !ok {
					break drain
				}
				batch = append(batch, item)
			default:
				break drain
			}
		}
		c.commit(batch)
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
	wb := c.ix.db.NewWriteBatch()
	var werr error
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
		if werr = wb.Set(blockKey(v.id, it.block), encodeCRC(it.crc)); werr != nil {
			break
		}
		ok[i] = true
	}
	if werr == nil {
		werr = wb.Flush()
	} else {
		wb.Cancel()
	}
	if werr != nil {
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
// combined block CRCs match the object's CRC64 (when OSS reported one). A
// mismatch is left for VerifyComplete to report. Called with commitMu held.
func (c *Cache) markCompleteIfDone(v *version) {
	v.mu.Lock()
	if v.m.Complete || v.npresent != v.nblocks {
		v.mu.Unlock()
		return
	}
	sum := combineCRCs(v.crcs, v.bs, v.size)
	if v.m.HasCRC64 && sum != v.m.CRC64 {
		v.mu.Unlock()
		c.log.Warn("cache: cached object does not match its CRC64; verify it before use",
			"object", "oss://"+v.ref.Bucket+"/"+v.ref.Key)
		return
	}
	v.m.Complete = true
	m := v.m
	v.mu.Unlock()
	if err := c.ix.putMeta(v.id, m, m.Access, false); err != nil {
		c.log.Warn("cache: cannot record a complete version", "err", err)
	}
}
