package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// View is a read-only look at a cache directory, for commands that only
// inspect it (cache stats, cache list). Opening and reading it change
// nothing in the directory: no file is created (not the lock, not the
// marker, not the index), no mode is changed, nothing is evicted and
// badger is opened read-only. While a View is open it holds the lock file
// shared, so no owner opens the index under it; an owner that tries waits
// for the View to close (lock.go).
type View struct {
	dir       string
	opts      Options
	lock      *dirLock // nil if the directory has no lock file yet
	ix        *index   // nil if the cache has no index yet
	blockSize int64
}

// ErrUncleanIndex means the index was not closed cleanly (its owner was
// killed or crashed) and must be recovered, which takes a write a View
// does not make.
var ErrUncleanIndex = errors.New("the cache index was not closed cleanly")

// OpenView opens the cache directory opts.Dir for reading. It fails with
// an error wrapping ErrNoCache if the directory is missing or empty, with
// *NotCacheError if it holds something else, with *LockedError if a
// process owns the cache (only DiskUsage can look at it then), and with
// an error wrapping ErrUncleanIndex if its index needs recovery first.
// opts.MaxBytes and opts.MinFreeRatio only set the limit Stats reports.
func OpenView(opts Options) (*View, error) {
	opts = opts.withDefaults()
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	kind, err := classifyDir(dir)
	if err != nil {
		return nil, err
	}
	if kind == dirMissing || kind == dirEmpty {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoCache)
	}
	v := &View{dir: dir, opts: opts, blockSize: DefaultBlockSize}
	v.lock, err = lockDirShared(dir)
	if errors.Is(err, os.ErrNotExist) {
		err = nil // never opened by an owner: nothing to guard against but badger's own lock
	}
	if err != nil {
		return nil, err
	}
	ixDir := filepath.Join(dir, "index")
	ix, err := openIndexReadOnly(ixDir, opts.Logger)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return v, nil // a cache without an index yet holds nothing
	case errors.Is(err, errIndexNeedsRecovery):
		v.Close()
		return nil, fmt.Errorf("%s: %w (its owner stopped without closing it); the next mount, materialize or cache verify recovers it", dir, ErrUncleanIndex)
	case err != nil:
		v.Close()
		return nil, fmt.Errorf("open cache index %s read-only: %w", ixDir, err)
	}
	v.ix = ix
	if bs, found, err := v.ix.recordedBlockSize(); err != nil {
		v.Close()
		return nil, fmt.Errorf("read cache block size: %w", err)
	} else if found {
		v.blockSize = bs
	}
	return v, nil
}

// Dir is the absolute cache directory.
func (v *View) Dir() string { return v.dir }

// Close releases the index and the lock.
func (v *View) Close() error {
	var err error
	if v.ix != nil {
		err = v.ix.closeReadOnly()
		v.ix = nil
	}
	if v.lock != nil {
		if uerr := v.lock.unlock(); err == nil {
			err = uerr
		}
		v.lock = nil
	}
	return err
}

// VersionInfo describes one cached object version.
type VersionInfo struct {
	Bucket, Key, ETag string
	Size              int64     // the object's size
	Blocks            int64     // blocks of the object
	PresentBlocks     int64     // blocks the cache holds
	PresentBytes      int64     // object bytes the cache holds
	DiskBytes         int64     // allocated bytes of its data file
	Complete          bool      // every block present and their combined CRC64 checked
	Verified          bool      // complete, and checked against the CRC64 OSS reported
	LastUse           time.Time // last open or close
	Created           time.Time
}

// Versions lists every version the index records, most recently used
// first. Undecodable records are left out (the owner's next scan removes
// them).
func (v *View) Versions() ([]VersionInfo, error) {
	if v.ix == nil {
		return nil, nil
	}
	return listVersions(v.ix, v.dir, v.blockSize)
}

// Versions lists the versions the index of the open cache records, as
// View.Versions does (blocks not yet recorded are not counted), for
// "ossmount cache list" asking the owner of the directory.
func (c *Cache) Versions() ([]VersionInfo, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	return listVersions(c.ix, c.dir, c.blockSize)
}

// listVersions reads every version record of ix and the block keys that
// belong to them.
func listVersions(ix *index, dir string, bs int64) ([]VersionInfo, error) {
	type entry struct {
		m       meta
		present int64
		last    bool // the last (possibly short) block is present
	}
	byID := map[vid]*entry{}
	err := ix.forEachVersion(func(s scanned) bool {
		if s.ok {
			byID[s.id] = &entry{m: s.m}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	err = ix.forEachBlockKey(func(id vid, b int64) {
		e := byID[id]
		if e == nil {
			return
		}
		if n := blocksOf(e.m.Size, bs); b >= 0 && b < n {
			e.present++
			e.last = e.last || b == n-1
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]VersionInfo, 0, len(byID))
	for _, e := range byID {
		m := e.m
		n := blocksOf(m.Size, bs)
		present := e.present * bs
		if e.last {
			present -= n*bs - m.Size // the last block is short
		}
		vi := VersionInfo{
			Bucket: m.Bucket, Key: m.Key, ETag: m.ETag, Size: m.Size,
			Blocks: n, PresentBlocks: e.present, PresentBytes: present,
			Complete: m.Complete, Verified: m.Complete && m.HasCRC64,
			LastUse: time.Unix(0, m.Access), Created: time.Unix(0, m.Created),
		}
		if fi, err := os.Stat(dataPath(dir, m.Bucket, m.Key, m.ETag)); err == nil {
			vi.DiskBytes = allocatedBytes(fi)
		}
		out = append(out, vi)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastUse.Equal(out[j].LastUse) {
			return out[i].LastUse.After(out[j].LastUse)
		}
		if out[i].Bucket != out[j].Bucket {
			return out[i].Bucket < out[j].Bucket
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// blocksOf is the number of blocks of an object of size bytes.
func blocksOf(size, bs int64) int64 { return (size + bs - 1) / bs }

// Stats returns the figures of the cache as its files hold them; the
// counters of a running process (hits, misses, fetches) are zero.
func (v *View) Stats() (Stats, error) {
	s := Stats{Dir: v.dir, BlockSize: v.blockSize}
	if v.ix != nil {
		n := 0
		err := v.ix.forEachVersion(func(sc scanned) bool {
			n++
			if sc.ok && sc.m.Complete && !sc.m.HasCRC64 {
				s.Unverified++
			}
			return true
		})
		if err != nil {
			return s, err
		}
		s.Entries = n
		s.IndexBytes = v.ix.size()
	}
	_, bytes, err := DiskUsage(v.dir)
	if err != nil {
		return s, err
	}
	s.BytesOnDisk = bytes
	s.LimitBytes = v.limit(bytes)
	return s, nil
}

// limit is the cap an owner opened with the View's options would apply
// now (Cache.limit).
func (v *View) limit(used int64) int64 {
	lim := v.opts.MaxBytes
	var st unix.Statfs_t
	if err := statfs(v.dir, &st); err == nil {
		bs := int64(st.Bsize)
		avail := int64(st.Bavail) * bs
		floor := int64(v.opts.MinFreeRatio * float64(int64(st.Blocks)*bs))
		lim = min(lim, max(0, used+avail-floor))
	}
	return lim
}
