package cache

// ReplacedVersion describes an older version of a key that Cache.Open
// dropped because the object now has another ETag.
type ReplacedVersion struct {
	ETag string
	Size int64
	// CachedBytes is how much of it the cache held: bytes that were
	// fetched once and are now discarded.
	CachedBytes int64
}

// Replaced reports whether opening this Handle dropped an older version of
// the same key (the object changed since it was cached), and which. Only
// the Open that loaded the version reports it, so a replacement is told
// once.
func (h *Handle) Replaced() (ReplacedVersion, bool) {
	if h.replaced == nil {
		return ReplacedVersion{}, false
	}
	return *h.replaced, true
}

// describeVersion returns what the cache knows of version id before it is
// dropped: its ETag, size and the bytes of its present blocks.
func (c *Cache) describeVersion(id vid) *ReplacedVersion {
	c.mu.Lock()
	if v := c.versions[id]; v != nil && v.loaded {
		v.mu.Lock()
		r := &ReplacedVersion{ETag: v.m.ETag, Size: v.size, CachedBytes: v.presentBytes()}
		v.mu.Unlock()
		c.mu.Unlock()
		return r
	}
	c.mu.Unlock()
	m, found, err := c.ix.getMeta(id)
	if err != nil || !found {
		return &ReplacedVersion{}
	}
	r := &ReplacedVersion{ETag: m.ETag, Size: m.Size}
	nblocks := (m.Size + c.blockSize - 1) / c.blockSize
	if present, _, err := c.ix.loadBlocks(id, nblocks); err == nil {
		for b := range nblocks {
			if present.has(b) {
				r.CachedBytes += min(c.blockSize, m.Size-b*c.blockSize)
			}
		}
	}
	return r
}

// presentBytes is the bytes of v's present blocks. Called with v.mu held.
func (v *version) presentBytes() int64 {
	n := v.npresent * v.bs
	if last := v.nblocks - 1; last >= 0 && v.present.has(last) {
		n -= v.bs - v.blockLen(last)
	}
	return n
}
