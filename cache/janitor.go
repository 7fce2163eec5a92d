package cache

import (
	"errors"
	"os"
	"path/filepath"
	"time"
)

// The janitor is the Cache's background goroutine. Open does not scan the
// cache (a version's block map is loaded when the version is opened), so
// the janitor does, once, after Open returned: it counts the disk usage of
// every version (needed before anything is admitted or evicted), forgets
// versions whose data file is gone or replaced and older versions a crash
// left behind, removes index blocks without a version and data files
// without an index entry (orphans of a crash), and then runs badger's
// value-log garbage collection now and then until Close.

// gcInterval is how often the value log is garbage collected.
const gcInterval = 10 * time.Minute

func (c *Cache) janitor() {
	defer c.bg.Done()
	c.scanVersions()
	c.scanStrayBlocks()
	c.removeOrphans()
	close(c.scanDone)
	if c.ctx.Err() == nil {
		c.evictIfNeeded()
	}
	t := time.NewTicker(gcInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.ix.collectGarbage(c.ctx)
		}
	}
}

// forEachMeta calls fn for every version record until fn returns false
// or the Cache closes, in which case it returns the context's error.
func (c *Cache) forEachMeta(fn func(s scanned) bool) error {
	err := c.ix.forEachVersion(func(s scanned) bool {
		return c.ctx.Err() == nil && fn(s)
	})
	if err != nil {
		return err
	}
	return c.ctx.Err()
}

// scanVersions counts every unloaded version's allocated bytes and removes
// the versions that cannot be served.
func (c *Cache) scanVersions() {
	current, err := c.ix.currentVersions()
	if err != nil {
		c.log.Warn("cache: scan of the index failed", "err", err)
		return
	}
	err = c.forEachMeta(func(s scanned) bool {
		c.mu.Lock()
		_, known := c.usage[s.id]
		inUse := c.versions[s.id] != nil
		c.mu.Unlock()
		if known || inUse {
			return true
		}
		fi, err := os.Stat(s.m.dataFile(c.dir))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return true // unknown: keep it
		}
		_, isCurrent := current[s.id]
		if !s.ok || !isCurrent || err != nil || !sameFile(fi, s.m) {
			// Undecodable, superseded by a newer ETag before a crash, or
			// its data file is gone or replaced: nothing to serve.
			if _, err := c.removeVersion(s.id); err != nil {
				c.log.Warn("cache: cannot remove a broken entry", "err", err)
			}
			return true
		}
		c.mu.Lock()
		if _, known := c.usage[s.id]; !known && c.versions[s.id] == nil && s.m.Path == "" {
			c.setUsageLocked(s.id, allocatedBytes(fi))
		}
		c.mu.Unlock()
		return true
	})
	if err != nil && c.ctx.Err() == nil {
		c.log.Warn("cache: scan of the index failed", "err", err)
	}
}

// sameFile reports whether fi is the data file the record describes.
func sameFile(fi os.FileInfo, m meta) bool {
	ino, _, ok := statIno(fi)
	return ok && ino == m.Inode && fi.Size() == m.Size
}

// scanStrayBlocks removes block keys whose version record is gone (a crash
// during removeVersion). Only versions the scan did not count need a
// lookup. A failed pass leaves the rest for the next Open.
func (c *Cache) scanStrayBlocks() {
	stray, _ := c.ix.strayBlockVersions(c.ctx, func(id vid) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, known := c.usage[id]
		return known || c.versions[id] != nil
	})
	for _, id := range stray {
		if _, err := c.removeVersion(id); err != nil {
			c.log.Warn("cache: cannot remove stray blocks", "err", err)
		}
	}
}

// removeOrphans deletes data files that no version record names.
func (c *Cache) removeOrphans() {
	fans, err := os.ReadDir(c.dataDir())
	if err != nil {
		return
	}
	for _, fan := range fans {
		if !fan.IsDir() || c.ctx.Err() != nil {
			continue
		}
		sub := filepath.Join(c.dataDir(), fan.Name())
		files, err := os.ReadDir(sub)
		if err != nil {
			continue
		}
		for _, f := range files {
			if c.ctx.Err() != nil {
				return
			}
			id, ok := vidFromDataName(f.Name())
			if !ok {
				continue // not ours
			}
			c.removeIfOrphan(id, filepath.Join(sub, f.Name()))
		}
	}
}

// removeIfOrphan removes path if no record names version id, holding a
// busy placeholder so that no Open creates the version meanwhile.
func (c *Cache) removeIfOrphan(id vid, path string) {
	c.mu.Lock()
	_, known := c.usage[id]
	if known || c.versions[id] != nil {
		c.mu.Unlock()
		return
	}
	ph := &version{id: id, busy: make(chan struct{})}
	c.versions[id] = ph
	c.mu.Unlock()

	m, found, err := c.ix.getMeta(id)
	if err == nil && (!found || dataPath(c.dir, m.Bucket, m.Key, m.ETag) != path) {
		if err := os.Remove(path); err == nil {
			c.log.Debug("cache: removed an orphaned data file", "path", path)
		}
	}

	c.mu.Lock()
	delete(c.versions, id)
	c.mu.Unlock()
	close(ph.busy)
}
