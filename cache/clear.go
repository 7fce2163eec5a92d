package cache

import "strings"

// Clear removes the cached versions of bucket whose keys start with prefix
// (every version when bucket is ""). Versions pinned by open Handles are
// removed when their last Handle closes. It returns how many versions it
// removed or scheduled for removal.
func (c *Cache) Clear(bucket, prefix string) (int, error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	var ids []vid
	var broken []vid
	err := c.forEachMeta(func(s scanned) bool {
		switch {
		case !s.ok:
			broken = append(broken, s.id)
		case bucket == "" || (s.m.Bucket == bucket && strings.HasPrefix(s.m.Key, prefix)):
			ids = append(ids, s.id)
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	if bucket == "" {
		ids = append(ids, broken...)
	}
	n := 0
	for _, id := range ids {
		removed, err := c.removeOrMarkStale(id)
		if err != nil {
			return n, err
		}
		if removed {
			n++
		}
	}
	if bucket == "" && prefix == "" {
		c.removeOrphans()
	}
	return n, nil
}

// removeOrMarkStale removes version id now if nothing uses it, or marks it
// to go when its last user lets go. A version that is busy (loading,
// unloading or being removed) is waited for and looked at again, so that a
// Clear racing with an unload never leaves the version behind.
func (c *Cache) removeOrMarkStale(id vid) (bool, error) {
	for {
		removed, err := c.removeVersion(id)
		if err != nil || removed {
			return removed, err
		}
		c.mu.Lock()
		v := c.versions[id]
		if v == nil { // gone meanwhile: removeVersion decides again
			c.mu.Unlock()
			continue
		}
		if v.busy == nil {
			v.stale = true
			c.mu.Unlock()
			return true, nil
		}
		busy := v.busy
		c.mu.Unlock()
		<-busy
	}
}
