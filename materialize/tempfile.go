package materialize

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// tempMarker joins DEST and a random suffix in the name of a file that is
// being written beside DEST. A rerun after kill -9 finds and removes such
// files by this marker.
const tempMarker = ".ossmount-tmp-"

// tempFile is a file beside DEST that holds the new contents until the
// rename. It is flock'ed from creation to removal or rename, which is how a
// concurrent run tells a live temporary file from one left by a killed
// process (the kernel drops a dead process's locks).
type tempFile struct {
	*os.File
	path string
}

// createTemp creates an empty, locked temporary file beside dest. The file
// gets the mode a new file would get (0666 less the umask).
func createTemp(dest string) (*tempFile, error) {
	for {
		suffix := make([]byte, 8)
		_, _ = rand.Read(suffix)
		path := dest + tempMarker + hex.EncodeToString(suffix)
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, localIOf("create temporary file beside %s: %w", dest, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			os.Remove(path)
			return nil, localIOf("lock %s: %w", path, err)
		}
		// Between the create and the lock, a cleaner may have taken the
		// file for a dead run's and removed it; then start again.
		if sameFile(f, path) {
			return &tempFile{File: f, path: path}, nil
		}
		f.Close()
	}
}

// discard closes and removes the temporary file; after a successful rename
// the path is DEST's and only the descriptor is closed.
func (t *tempFile) discard(renamed bool) {
	if !renamed {
		os.Remove(t.path)
	}
	t.File.Close()
}

// sameFile reports whether path still names the open file f.
func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(path)
	return err == nil && os.SameFile(a, b)
}

// removeStaleTemps removes the temporary files of earlier runs for dest
// that died without cleaning up (kill -9, power loss). A file some live run
// holds locked is left alone. It returns how many files it removed.
func removeStaleTemps(dest string) int {
	dir, base := filepath.Split(dest)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	removed := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), base+tempMarker) || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil && sameFile(f, path) {
			if os.Remove(path) == nil {
				removed++
			}
		}
		f.Close()
	}
	return removed
}
