package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ossmount/ossmount/object"
)

// version is the in-memory state of one object version while it is loaded,
// that is while a Handle pins it or work for it (a fetch, a commit) is in
// progress. Unloaded versions exist only in the index and on disk.
type version struct {
	id      vid
	path    string
	ref     object.Ref
	size    int64
	bs      int64
	nblocks int64

	// Guarded by Cache.mu.
	busy    chan struct{} // non-nil while loading, unloading, removing or detaching
	pins    int           // open Handles
	loaded  bool
	stale   bool  // superseded or cleared: remove when unloaded
	touched bool  // pinned by a user Handle: record the access when unloaded
	lastUse int64 // when a Handle last let go (unix ns): the access recorded

	file     *os.File // set once loaded; closed when unloaded; nil if uncached
	uncached bool     // the cache cannot hold this version: reads bypass it
	// outside: the data file is path, outside the cache directory
	// (OpenOutside). Its bytes are not counted against the cap (no usage
	// entry, no admission) and it is never evicted (no recency key).
	outside bool

	detached atomic.Bool // the data file was given away (Handle.Detach)

	// replaced describes the older version of the key that loading this
	// one dropped; set by load, read by the Open that loaded it.
	replaced *ReplacedVersion

	// fileMu is held shared while reading present blocks from the file and
	// exclusively while dropping blocks, so that no reader sees a block
	// whose hole is being punched.
	fileMu sync.RWMutex

	mu      sync.Mutex // guards the fields below
	m       meta
	present bitset
	// verified holds the blocks whose bytes in the data file are known
	// good: present blocks that matched their CRC since the load, and
	// blocks this process wrote from a checksummed buffer (present, or
	// waiting for the committer). Readers read exactly these from the file.
	verified bitset
	npresent int64
	crcs     []uint64
	flights  map[int64]*flight
	inflight int    // fetches running and blocks queued for commit
	gen      uint64 // bumped by DropAll so that older fetches are not committed
	// checking is set while a background check of the complete version
	// (checkInBackground) runs, so that one runs at a time; repair is
	// the Repair running, which other callers join.
	checking bool
	// checked is closed when that check ends (nil before the first).
	checked chan struct{}
	// selfCheckers counts the open Handles whose callers check the
	// version themselves (Handle.ChecksItself): no background check
	// starts while there is one.
	selfCheckers int
	repair       *repairJob
	// agreement is what repairs of this load learned of the blocks, so
	// that a later repair goes on from there.
	agreement *agreement
	// mismatchLogged: the disagreement with the CRC64 was logged and
	// counted in this load.
	mismatchLogged bool
}

func (v *version) blockLen(b int64) int64 { return min(v.bs, v.size-b*v.bs) }

// Open pins the version of the object described by info (bucket, key,
// ETag, size) and returns a Handle to read it through the cache. If the
// index knows another ETag for the key, that older version is dropped (once
// no Handle pins it): its blocks are never served for the new one.
func (c *Cache) Open(ctx context.Context, info object.Info) (*Handle, error) {
	if info.Bucket == "" || info.Key == "" || info.ETag == "" || info.Size < 0 {
		return nil, fmt.Errorf("cache open: incomplete object info (bucket %q, key %q, ETag %q, size %d)",
			info.Bucket, info.Key, info.ETag, info.Size)
	}
	return c.openPinned(ctx, info, "")
}

// openPinned pins the version of info, its data file at outside (or in the
// cache directory when outside is ""), and returns a Handle on it.
func (c *Cache) openPinned(ctx context.Context, info object.Info, outside string) (*Handle, error) {
	v, loaded, err := c.pin(ctx, info, false, outside)
	if err != nil {
		return nil, err
	}
	h := &Handle{c: c, v: v}
	if loaded {
		h.replaced = v.replaced
		c.checkIfAllPresent(v)
	}
	return h, nil
}

var errVersionGone = errors.New("cached version no longer exists")

// pin loads (if needed) and pins a version; loaded reports whether this
// call loaded it. internal pins (Verify) only look at versions the index
// already has and leave recency alone. at, if not "", is where the
// version's data file is to live outside the cache directory (OpenOutside);
// a version loaded already keeps its file where it is.
func (c *Cache) pin(ctx context.Context, info object.Info, internal bool, at string) (v *version, loaded bool, err error) {
	id := versionID(info.Bucket, info.Key, info.ETag)
	for {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		c.mu.Lock()
		if c.closed.Load() {
			c.mu.Unlock()
			return nil, false, ErrClosed
		}
		v = c.versions[id]
		if v != nil && v.busy != nil {
			busy := v.busy
			c.mu.Unlock()
			select {
			case <-busy:
				continue
			case <-ctx.Done():
				return nil, false, ctx.Err()
			}
		}
		if v != nil {
			if v.size != info.Size {
				c.mu.Unlock()
				return nil, false, fmt.Errorf("cache open oss://%s/%s: size %d differs from the cached version's %d with the same ETag",
					info.Bucket, info.Key, info.Size, v.size)
			}
			v.pins++
			v.touched = v.touched || !internal
			c.mu.Unlock()
			c.learnCRC(v, info)
			return v, false, nil
		}
		v = &version{id: id, busy: make(chan struct{})}
		c.versions[id] = v
		c.mu.Unlock()

		err = c.load(v, info, internal, at)

		c.mu.Lock()
		busy := v.busy
		v.busy = nil
		if err != nil {
			delete(c.versions, id)
		} else {
			v.loaded = true
			v.pins = 1
			v.touched = !internal
		}
		c.mu.Unlock()
		close(busy)
		if err != nil {
			return nil, false, err
		}
		return v, true, nil
	}
}

// load reads a version's record and block map, or creates its data file. It
// runs with v as a busy placeholder, so nothing else touches the version.
func (c *Cache) load(v *version, info object.Info, internal bool, at string) error {
	v.path = dataPath(c.dir, info.Bucket, info.Key, info.ETag)
	v.ref = info.Ref()
	v.size = info.Size
	v.bs = c.blockSize
	v.nblocks = (info.Size + c.blockSize - 1) / c.blockSize
	v.flights = make(map[int64]*flight)

	if !internal {
		cur, found, err := c.ix.currentVersion(info.Bucket, info.Key)
		if err != nil {
			return fmt.Errorf("cache index: %w", err)
		}
		if found && cur != v.id {
			v.replaced = c.describeVersion(cur)
			c.supersede(cur)
		}
	}
	m, found, err := c.ix.getMeta(v.id)
	if err != nil && !errors.Is(err, errBadMeta) {
		return fmt.Errorf("cache index: %w", err)
	}
	oldAccess := int64(0)
	if found {
		oldAccess = m.Access
		if m.Path != "" {
			v.path, v.outside = m.Path, true
		}
	}
	valid := found && m.Bucket == info.Bucket && m.Key == info.Key && m.ETag == info.ETag && m.Size == info.Size
	var alloc int64
	if valid {
		valid = false
		if f, err := os.OpenFile(v.path, os.O_RDWR, 0); err == nil {
			ino, a, err := fileInfo(f)
			fi, serr := f.Stat()
			if err == nil && serr == nil && ino == m.Inode && fi.Size() == info.Size {
				v.file, alloc, valid = f, a, true
			} else {
				f.Close()
			}
		}
	}
	if valid && at != "" && v.path != at {
		valid = c.moveOutside(v, &m, at)
	}
	if valid {
		if v.present, v.crcs, err = c.ix.loadBlocks(v.id, v.nblocks); err != nil {
			v.file.Close()
			return fmt.Errorf("cache index: %w", err)
		}
		v.npresent = v.present.count()
	} else {
		if internal {
			if found {
				c.removeVersionUnderPlaceholder(v.id)
			}
			return errVersionGone
		}
		// Blocks recorded for a data file that is gone, replaced or of
		// another size describe nothing: forget them first.
		if err := c.ix.deleteAllBlocks(v.id); err != nil {
			return fmt.Errorf("cache index: %w", err)
		}
		v.path, v.outside = dataPath(c.dir, info.Bucket, info.Key, info.ETag), false
		if at != "" {
			v.path, v.outside = at, true
		}
		f, ino, err := c.createFile(v.path, info.Size)
		if err != nil {
			if v.outside {
				return fmt.Errorf("create %s: %w", v.path, err)
			}
			return c.loadUncached(v, info, err)
		}
		v.file = f
		_, alloc, _ = fileInfo(f)
		now := time.Now().UnixNano()
		m = meta{Bucket: info.Bucket, Key: info.Key, ETag: info.ETag, Size: info.Size, Inode: ino, Created: now}
		if v.outside {
			m.Path = v.path
		}
		v.present, v.crcs = newBitset(v.nblocks), make([]uint64, v.nblocks)
	}
	v.verified = newBitset(v.nblocks)
	if !m.HasCRC64 && info.HasCRC64 {
		m.CRC64, m.HasCRC64 = info.CRC64, true
	}
	if m.Complete && v.npresent != v.nblocks {
		m.Complete = false
	}
	if v.nblocks == 0 && (!m.HasCRC64 || m.CRC64 == 0) {
		m.Complete = true
	}
	if !internal {
		m.Access = uniqueNow(oldAccess)
		if err := c.ix.putMeta(v.id, m, oldAccess, true); err != nil {
			if !valid {
				v.file.Close()
				os.Remove(v.path)
				if v.outside {
					return fmt.Errorf("cache index: %w", err)
				}
				return c.loadUncached(v, info, err)
			}
			// The blocks already cached can still be served.
			c.warnOnce("index", "cache: cannot write to the cache index", "dir", c.dir, "err", err)
		}
	}
	v.m = m
	if !v.outside {
		c.setUsage(v.id, alloc)
	}
	return nil
}

// loadUncached sets v up to serve reads without storing anything, because
// the cache cannot hold it (disk full, read-only, index unwritable): reads
// are fetched and served from memory, as if every block were evicted at
// once.
func (c *Cache) loadUncached(v *version, info object.Info, cause error) error {
	c.warnOnce("write", "cache: cannot write to the cache; serving reads without caching them",
		"dir", c.dir, "err", cause)
	v.uncached = true
	v.file = nil
	v.present, v.verified, v.crcs = newBitset(v.nblocks), newBitset(v.nblocks), make([]uint64, v.nblocks)
	v.m = meta{Bucket: info.Bucket, Key: info.Key, ETag: info.ETag, Size: info.Size, CRC64: info.CRC64, HasCRC64: info.HasCRC64}
	return nil
}

// uniqueNow returns the current time in nanoseconds, different from prev,
// so a version's recency key always moves.
func uniqueNow(prev int64) int64 {
	now := time.Now().UnixNano()
	if now == prev {
		now++
	}
	return now
}

// learnCRC records the object's CRC64 when a later opener knows it.
func (c *Cache) learnCRC(v *version, info object.Info) {
	if !info.HasCRC64 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.m.HasCRC64 {
		v.m.CRC64, v.m.HasCRC64 = info.CRC64, true
	}
}

// supersede drops version id because its key now has a newer ETag: now if
// nothing uses it, else when its last user lets go.
func (c *Cache) supersede(id vid) {
	c.mu.Lock()
	if v := c.versions[id]; v != nil {
		if v.busy == nil {
			v.stale = true
		}
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	if _, err := c.removeVersion(id); err != nil {
		c.log.Warn("cache: cannot drop an older version", "err", err)
	}
}

// unpin releases one pin of v and unloads it if nothing else uses it.
func (c *Cache) unpin(v *version) {
	c.mu.Lock()
	v.pins--
	// The access is the moment of use, not of the unload, which may come
	// later, after pending commits, and in another order across versions.
	v.lastUse = time.Now().UnixNano()
	if v.detached.Load() {
		last := v.pins == 0
		c.mu.Unlock()
		if last {
			v.file.Close()
		}
		return
	}
	c.mu.Unlock()
	c.maybeUnload(v)
}

// maybeUnload unloads v once no Handle pins it and no work for it is in
// progress: it records the access time (for LRU eviction), refreshes the
// disk usage, closes the data file, and removes the version if it went
// stale meanwhile.
func (c *Cache) maybeUnload(v *version) {
	c.mu.Lock()
	if v.pins > 0 || v.busy != nil || !v.loaded || c.versions[v.id] != v || c.closed.Load() {
		c.mu.Unlock()
		return
	}
	v.mu.Lock()
	idle := v.inflight == 0
	m := v.m
	v.mu.Unlock()
	if !idle {
		c.mu.Unlock()
		return
	}
	v.loaded = false
	v.busy = make(chan struct{})
	stale, touched, lastUse := v.stale, v.touched, v.lastUse
	c.mu.Unlock()

	if v.uncached {
		c.mu.Lock()
		delete(c.versions, v.id)
		busy := v.busy
		v.busy = nil
		c.mu.Unlock()
		close(busy)
		return
	}
	_, alloc, statErr := fileInfo(v.file)
	v.file.Close()
	if stale {
		c.removeFiles(v.id, v.path)
	} else {
		old := m.Access
		if touched {
			m.Access = max(lastUse, old+1)
		}
		if err := c.ix.putMeta(v.id, m, old, false); err != nil {
			c.log.Warn("cache: cannot record access", "err", err)
		}
	}

	c.mu.Lock()
	delete(c.versions, v.id)
	if !stale && statErr == nil && !v.outside {
		c.setUsageLocked(v.id, alloc)
	}
	busy := v.busy
	v.busy = nil
	c.mu.Unlock()
	close(busy)
}

// removeVersion deletes an unloaded version from the index and disk. It
// returns false, doing nothing, if the version is loaded or busy.
func (c *Cache) removeVersion(id vid) (bool, error) {
	c.mu.Lock()
	if c.versions[id] != nil {
		c.mu.Unlock()
		return false, nil
	}
	ph := &version{id: id, busy: make(chan struct{})}
	c.versions[id] = ph
	c.mu.Unlock()

	err := c.removeVersionUnderPlaceholder(id)

	c.mu.Lock()
	delete(c.versions, id)
	c.mu.Unlock()
	close(ph.busy)
	return true, err
}

// removeVersionUnderPlaceholder deletes version id from the index, then its
// data file; the caller holds a busy placeholder for id. A crash in between
// leaves an orphaned file, which the startup scan removes.
func (c *Cache) removeVersionUnderPlaceholder(id vid) error {
	m, found, _ := c.ix.getMeta(id)
	path := ""
	if found {
		path = m.dataFile(c.dir)
	}
	return c.removeFiles(id, path)
}

func (c *Cache) removeFiles(id vid, path string) error {
	err := c.ix.deleteVersion(id)
	if err != nil {
		return fmt.Errorf("cache index: %w", err)
	}
	if path != "" {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	c.mu.Lock()
	c.dropUsageLocked(id)
	c.mu.Unlock()
	return nil
}

func (c *Cache) setUsage(id vid, n int64) {
	c.mu.Lock()
	c.setUsageLocked(id, n)
	c.mu.Unlock()
}

func (c *Cache) setUsageLocked(id vid, n int64) {
	c.used += n - c.usage[id]
	c.usage[id] = n
}

func (c *Cache) addUsage(id vid, delta int64) {
	c.mu.Lock()
	if _, ok := c.usage[id]; ok {
		c.usage[id] += delta
		c.used += delta
	}
	c.mu.Unlock()
}

func (c *Cache) dropUsageLocked(id vid) {
	c.used -= c.usage[id]
	delete(c.usage, id)
}
