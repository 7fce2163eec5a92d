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
		removed, err := c.removeVersion(id)
		if err != nil {
			return n, err
		}
		if !removed {
			c.mu.Lock()
			if v := c.versions[id]; v != nil && v.loaded {
				v.stale = true
				removed = true
			}
			c.mu.Unlock()
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
