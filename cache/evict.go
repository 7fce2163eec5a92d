package cache

import "golang.org/x/sys/unix"

// Limits: the data files may occupy at most Options.MaxBytes of allocated
// space, and never push the filesystem below Options.MinFreeRatio free.
// Space is reserved for a block before its pwrite; if it does not fit, the
// least recently used versions that no Handle pins are evicted; if it
// still does not fit (everything left is pinned) the block is not stored.
// So the limit is only ever exceeded by blocks being written.

// limit is the cap in force given the current usage: MaxBytes, lowered so
// that the filesystem keeps its free-space floor.
func (c *Cache) limit(used int64) int64 {
	lim := c.opts.MaxBytes
	var st unix.Statfs_t
	if err := c.statfs(c.dataDir(), &st); err == nil {
		bs := int64(st.Bsize)
		avail := int64(st.Bavail) * bs
		floor := int64(c.opts.MinFreeRatio * float64(int64(st.Blocks)*bs))
		lim = min(lim, max(0, used+avail-floor))
	}
	return lim
}

// admit reserves n bytes of disk for a block of version id, evicting
// unpinned versions if needed. It fails with errCacheFull if the space
// cannot be found.
func (c *Cache) admit(id vid, n int64) error {
	// Until the startup scan is done the usage is not known. The scan ends
	// promptly on Close too, so blocks fetched just before Close are still
	// stored.
	<-c.scanDone
	c.spaceMu.Lock()
	defer c.spaceMu.Unlock()
	c.mu.Lock()
	used := c.used
	c.mu.Unlock()
	lim := c.limit(used)
	if used+n > lim {
		// Evict a little more than needed so that the next blocks do not
		// each evict again.
		c.evict(used + n - lim + lim/32)
		c.mu.Lock()
		used = c.used
		c.mu.Unlock()
		lim = c.limit(used)
		if used+n > lim && c.heldByCommits(id) {
			// Versions nobody uses stay loaded, and so cannot be
			// evicted, while their blocks wait for the committer:
			// record them now rather than leave this block out.
			c.flushCommits()
			c.evict(used + n - lim + lim/32)
			c.mu.Lock()
			used = c.used
			c.mu.Unlock()
			lim = c.limit(used)
		}
		if used+n > lim {
			c.warnOnce("full", "cache: the cache is full of data in use; serving reads without caching them",
				"dir", c.dir, "used", used, "limit", lim)
			return errCacheFull
		}
	}
	c.addUsage(id, n)
	return nil
}

// heldByCommits reports whether a version other than id is loaded only
// because blocks of it wait to be recorded.
func (c *Cache) heldByCommits(id vid) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.versions {
		if v.id == id || !v.loaded || v.pins > 0 || v.busy != nil {
			continue
		}
		v.mu.Lock()
		held := v.inflight > 0
		v.mu.Unlock()
		if held {
			return true
		}
	}
	return false
}

// evictIfNeeded brings the cache back within its limit (after the startup
// scan, or when the cap was lowered).
func (c *Cache) evictIfNeeded() {
	c.spaceMu.Lock()
	defer c.spaceMu.Unlock()
	c.mu.Lock()
	used := c.used
	c.mu.Unlock()
	if lim := c.limit(used); used > lim {
		c.evict(used - lim)
	}
}

// evict removes unpinned versions, least recently used first, until need
// bytes were freed or none is left. Called with spaceMu held.
func (c *Cache) evict(need int64) {
	var after recencyCursor
	freed := int64(0)
	for freed < need && c.ctx.Err() == nil {
		cands, next := c.lruCandidates(after, 64)
		if len(cands) == 0 {
			return
		}
		after = next
		for _, id := range cands {
			c.mu.Lock()
			size, known := c.usage[id]
			c.mu.Unlock()
			removed, err := c.removeVersion(id)
			if err != nil {
				c.log.Warn("cache: cannot evict", "err", err)
				continue
			}
			if !removed {
				continue // pinned or busy
			}
			if known {
				freed += size
			}
			c.stats.evictions.Add(1)
			if freed >= need {
				return
			}
		}
	}
}

// lruCandidates returns up to n versions in recency order (oldest first)
// after the cursor after, skipping loaded ones, and the cursor to continue
// from. A failed read of the index returns what was found before it.
func (c *Cache) lruCandidates(after recencyCursor, n int) ([]vid, recencyCursor) {
	ids, next, _ := c.ix.leastRecentlyUsed(after, n, func(id vid) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.versions[id] != nil
	})
	return ids, next
}
