package cache

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/dgraph-io/badger/v4"
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
			for c.ctx.Err() == nil && c.ix.db.RunValueLogGC(0.5) == nil {
			}
		}
	}
}

type scanned struct {
	id vid
	m  meta
	ok bool // record decoded
}

// forEachMeta calls fn for every version record, in chunks, so that no
// read transaction stays open for long.
func (c *Cache) forEachMeta(fn func(s scanned) bool) error {
	prefix := []byte{prefixMeta}
	seek := prefix
	for {
		var chunk []scanned
		err := c.ix.db.View(func(txn *badger.Txn) error {
			it := prefixIterator(txn, prefix)
			defer it.Close()
			for it.Seek(seek); it.ValidForPrefix(prefix) && len(chunk) < 1000; it.Next() {
				item := it.Item()
				k := item.Key()
				if len(k) != 17 {
					continue
				}
				var s scanned
				copy(s.id[:], k[1:])
				if err := item.Value(func(v []byte) error {
					m, err := decodeMeta(v)
					s.m, s.ok = m, err == nil
					return nil
				}); err != nil {
					return err
				}
				chunk = append(chunk, s)
			}
			return nil
		})
		if err != nil || len(chunk) == 0 {
			return err
		}
		for _, s := range chunk {
			if c.ctx.Err() != nil || !fn(s) {
				return c.ctx.Err()
			}
		}
		// Continue just after the last key of the chunk.
		seek = append(metaKey(chunk[len(chunk)-1].id), 0)
	}
}

// scanVersions counts every unloaded version's allocated bytes and removes
// the versions that cannot be served.
func (c *Cache) scanVersions() {
	current, err := c.currentVersions()
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
		fi, err := os.Stat(dataPath(c.dir, s.m.Bucket, s.m.Key, s.m.ETag))
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
		if _, known := c.usage[s.id]; !known && c.versions[s.id] == nil {
			c.setUsageLocked(s.id, allocatedBytes(fi))
		}
		c.mu.Unlock()
		return true
	})
	if err != nil && c.ctx.Err() == nil {
		c.log.Warn("cache: scan of the index failed", "err", err)
	}
}

// currentVersions reads the key -> version mapping in one sequential pass
// (random lookups per version would cost far more).
func (c *Cache) currentVersions() (map[vid]struct{}, error) {
	out := make(map[vid]struct{})
	prefix := []byte{prefixKeyMap}
	err := c.ix.db.View(func(txn *badger.Txn) error {
		it := prefixIterator(txn, prefix)
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			if err := it.Item().Value(func(v []byte) error {
				var id vid
				if len(v) == len(id) {
					copy(id[:], v)
					out[id] = struct{}{}
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// sameFile reports whether fi is the data file the record describes.
func sameFile(fi os.FileInfo, m meta) bool {
	ino, _, ok := statIno(fi)
	return ok && ino == m.Inode && fi.Size() == m.Size
}

// scanStrayBlocks removes block keys whose version record is gone (a crash
// during removeVersion). The block keys are few (the cap divided by the
// block size, at most a few per version), so one sequential pass is cheap;
// only versions the scan did not count need a lookup.
func (c *Cache) scanStrayBlocks() {
	prefix := []byte{prefixBlock}
	var stray []vid
	_ = c.ix.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		var last vid
		first := true
		for it.Seek(prefix); it.ValidForPrefix(prefix) && c.ctx.Err() == nil; it.Next() {
			id, _, ok := parseBlockKey(it.Item().Key())
			if !ok || (!first && id == last) {
				continue
			}
			first, last = false, id
			c.mu.Lock()
			_, known := c.usage[id]
			inUse := c.versions[id] != nil
			c.mu.Unlock()
			if known || inUse {
				continue
			}
			if _, err := txn.Get(metaKey(id)); errors.Is(err, badger.ErrKeyNotFound) {
				stray = append(stray, id)
			}
		}
		return nil
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
