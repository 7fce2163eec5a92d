package cache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ossmount/ossmount/object"
)

// Versions outside the cache directory.
//
// An object larger than the cache can hold is still worth fetching
// resumably and checking block by block: materialize keeps its data file
// where the object is going (beside DEST) and the index records its
// blocks and their CRCs as for any version, so a rerun after a crash
// resumes. Such a version is not the cache's: its bytes are not counted
// against the cap, nothing is admitted for it, and it is never evicted (it
// has no recency key). Clearing the cache, a newer ETag of the key, or a
// data file that is gone or replaced removes it as any other version;
// Detach (renaming the file to DEST, on the same filesystem) ends it.

// OpenOutside is Open for a version whose data file is path, outside the
// cache directory (path's directory must exist; the file is created, or
// the one a previous run left there is reused with its blocks). A version
// the index already holds elsewhere, in the cache or beside another path,
// is renamed to path with its blocks when it can be (same filesystem), and
// fetched afresh at path otherwise. A version loaded already (a mount
// reading it) keeps its file where it is; Handle.DataPath says where.
func (c *Cache) OpenOutside(ctx context.Context, info object.Info, path string) (*Handle, error) {
	if info.Bucket == "" || info.Key == "" || info.ETag == "" || info.Size < 0 {
		return nil, fmt.Errorf("cache open: incomplete object info (bucket %q, key %q, ETag %q, size %d)",
			info.Bucket, info.Key, info.ETag, info.Size)
	}
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("cache open: data file %q is not an absolute path", path)
	}
	return c.openPinned(ctx, info, filepath.Clean(path))
}

// DataPath is the version's data file: in the cache directory, or outside
// it for a version opened with OpenOutside.
func (h *Handle) DataPath() string { return h.v.path }

// Outside reports whether the version's data file is outside the cache
// directory (OpenOutside), taking none of the cache's space.
func (h *Handle) Outside() bool { return h.v.outside }

// Fits reports whether the version info describes can be held whole in
// the cache: within the cap, lowered to keep the free-space floor, next to
// the other versions that are in use and so cannot be evicted. It waits
// for the startup scan, which counts the cache's usage.
func (c *Cache) Fits(ctx context.Context, info object.Info) bool {
	self := versionID(info.Bucket, info.Key, info.ETag)
	select {
	case <-c.scanDone:
	case <-ctx.Done():
		return false
	}
	c.spaceMu.Lock()
	defer c.spaceMu.Unlock()
	c.mu.Lock()
	used := c.used
	var inUse int64
	for id, v := range c.versions {
		if id != self && (v.loaded || v.busy != nil) {
			inUse += c.usage[id]
		}
	}
	c.mu.Unlock()
	return inUse+c.allocSize(info.Size) <= c.limit(used)
}

// moveOutside renames v's data file, open as v.file, to at, keeping its
// blocks, and records the new place in m (which load writes). It reports
// false, with the file closed and removed, if the rename failed (another
// filesystem): the version is then fetched afresh at at. A crash before
// load writes m leaves a record naming a file that is gone, which the next
// load forgets.
func (c *Cache) moveOutside(v *version, m *meta, at string) bool {
	old := v.path
	if err := os.Rename(old, at); err != nil {
		v.file.Close()
		v.file = nil
		os.Remove(old)
		return false
	}
	_ = syncDir(filepath.Dir(at))
	v.path, v.outside, m.Path = at, true, at
	c.mu.Lock()
	c.dropUsageLocked(v.id)
	c.mu.Unlock()
	return true
}

// dataFile is where the data file of the version m describes lives.
func (m meta) dataFile(cacheDir string) string {
	if m.Path != "" {
		return m.Path
	}
	return dataPath(cacheDir, m.Bucket, m.Key, m.ETag)
}
