package cache

// dropIf forgets the present blocks of v in [first, last] (only those whose
// CRC is *want, if want is set: another reader may already have dropped and
// refetched the block). Without want it also marks blocks in flight so
// their commit is skipped. The holes are punched so the space counts no
// more. Readers of the file are excluded meanwhile (fileMu), so none reads a
// block whose bytes are going away.
//
// The index forgets the blocks after the holes are punched. After a crash
// in between, the index names a hole: its CRC check fails on the first
// read and the block is fetched again.
func (c *Cache) dropIf(v *version, first, last int64, want *uint64) {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	v.fileMu.Lock()
	defer v.fileMu.Unlock()

	v.mu.Lock()
	if v.m.Complete && c.anyDroppable(v, first, last, want) {
		// A complete version may be served without checks (passthrough,
		// Detach): it must be durably incomplete before a hole appears.
		v.m.Complete = false
		err := c.ix.putMeta(v.id, v.m, v.m.Access, false)
		if err == nil {
			err = c.ix.sync()
		}
		if err != nil {
			v.m.Complete = true
			v.mu.Unlock()
			c.log.Warn("cache: cannot record an incomplete version; keeping its blocks", "err", err)
			return
		}
	}
	var drop []int64
	var freed int64
	for b := first; b <= last; b++ {
		switch {
		case v.present.has(b):
			if want != nil && v.crcs[b] != *want {
				continue
			}
			// Punch before the block stops being present: from then on a
			// reader may fetch and write it again, and the hole must not
			// land on the new bytes.
			n := v.blockLen(b)
			if punchHole(v.file, b*v.bs, n) == nil {
				freed += c.allocSize(n)
			}
			v.present.clear(b)
			v.verified.clear(b)
			v.crcs[b] = 0
			v.npresent--
			drop = append(drop, b)
		case want == nil && v.flights[b] != nil:
			v.flights[b].block(b).dropped = true
			v.verified.clear(b) // if already written, not to be read either
		}
	}
	v.mu.Unlock()
	if len(drop) == 0 {
		return
	}

	if err := c.ix.deleteBlocks(v.id, drop); err != nil {
		// The blocks stay recorded on disk; the checksum check on the
		// next load catches any that are wrong.
		c.log.Warn("cache: cannot forget dropped blocks", "err", err)
	}
	c.addUsage(v.id, -freed)
}

// checksumFailed reports a present block that could not be read back
// intact; the caller drops it and fetches it again.
func (c *Cache) checksumFailed(v *version, b int64, readErr error) {
	if readErr != nil {
		c.log.Warn("cache: cannot read a cached block; fetching it again",
			"object", "oss://"+v.ref.Bucket+"/"+v.ref.Key, "block", b, "err", readErr)
		return
	}
	c.stats.checksumFailures.Add(1)
	c.log.Warn("cache: cached block failed its checksum and was dropped",
		"object", "oss://"+v.ref.Bucket+"/"+v.ref.Key, "block", b)
}

// anyDroppable reports whether dropIf would drop a present block. Called
// with v.mu held.
func (c *Cache) anyDroppable(v *version, first, last int64, want *uint64) bool {
	for b := first; b <= last; b++ {
		if v.present.has(b) && (want == nil || v.crcs[b] == *want) {
			return true
		}
	}
	return false
}
