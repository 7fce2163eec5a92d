package materialize

import (
	"os"
	"path/filepath"
	"syscall"

	"github.com/dustin/go-humanize"
	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/object"
)

// What can fail at the end is checked before the first GET: DEST's
// directory takes a new file (not read-only, not denied) and its
// filesystem has room for what the run will write there.

// partialMarker ends the name of the hidden file beside DEST in which an
// object too large for the cache is fetched (cache.OpenOutside). Unlike a
// temporary file, it outlives a killed run: the cache's index records its
// blocks, so the next run resumes from it.
const partialMarker = ".ossmount-partial"

// partialPath is where an object that does not fit in the cache is
// fetched: a hidden file in DEST's directory, so that installing it is a
// rename within one directory.
func partialPath(dest string) string {
	dir, base := filepath.Split(dest)
	return filepath.Join(dir, "."+base+partialMarker)
}

// checkWritable creates and removes a temporary file beside dest, as the
// install will, so that a read-only filesystem or a denied directory is
// found before anything is fetched.
func checkWritable(dest string) error {
	tmp, err := createTemp(dest)
	if err != nil {
		return err
	}
	tmp.discard(false)
	return nil
}

// checkRoom fails if DEST's filesystem lacks the space the run will take
// there: the missing bytes when the data file is on it (kept beside DEST,
// or a cache on the same filesystem that is moved or reflinked into place),
// the whole object when the install copies onto it.
func checkRoom(h *cache.Handle, info object.Info, req Request) error {
	dir := filepath.Dir(req.Dest)
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil // unknown: the writes will tell
	}
	missing := total(h.Missing())
	need := info.Size
	if sameFilesystem(h.DataPath(), dir) {
		need = missing
		if req.KeepCache && !h.Outside() && !reflinks(st.Type) {
			need += info.Size
		}
	}
	return roomFor(dir, st, need, req)
}

// checkRoomBeside is checkRoom before a data file beside DEST is opened:
// what a killed run left in it need not be fetched again.
func checkRoomBeside(partial string, info object.Info, req Request) error {
	dir := filepath.Dir(req.Dest)
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil
	}
	need := info.Size
	if fi, err := os.Stat(partial); err == nil {
		if s, ok := fi.Sys().(*syscall.Stat_t); ok {
			need = max(0, need-s.Blocks*512)
		}
	}
	return roomFor(dir, st, need, req)
}

func roomFor(dir string, st unix.Statfs_t, need int64, req Request) error {
	avail := int64(st.Bavail) * int64(st.Bsize)
	if need <= avail {
		return nil
	}
	return localIOf("%s has %s free, but %s needs %s there; free space or choose a DEST on a larger disk",
		dir, humanize.IBytes(uint64(avail)), req.source(), humanize.IBytes(uint64(need)))
}

// sameFilesystem reports whether the file a and the directory dir are on
// one filesystem.
func sameFilesystem(a, dir string) bool {
	sa, errA := os.Stat(a)
	sd, errD := os.Stat(dir)
	if errA != nil || errD != nil {
		return false
	}
	da, okA := sa.Sys().(*syscall.Stat_t)
	dd, okD := sd.Sys().(*syscall.Stat_t)
	return okA && okD && da.Dev == dd.Dev
}

// reflinks reports whether a filesystem of this type shares blocks
// between files (FICLONE), so that a reflinked DEST takes no new space.
func reflinks(fsType int64) bool {
	const (
		btrfsMagic = 0x9123683e
		xfsMagic   = 0x58465342
	)
	return fsType == btrfsMagic || fsType == xfsMagic
}
