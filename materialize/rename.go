package materialize

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// renameInto puts tmp in dest's place in one step, so a reader of dest
// sees the old file or the complete new one. With noClobber the step fails
// if dest exists by then (RENAME_NOREPLACE, or link+unlink where the
// filesystem lacks it: link(2) never replaces either).
func renameInto(tmp, dest string, noClobber bool) error {
	if !noClobber {
		return os.Rename(tmp, dest)
	}
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dest, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		if err = os.Link(tmp, dest); err == nil {
			return os.Remove(tmp)
		}
		err = unwrapLinkError(err)
	}
	if errors.Is(err, unix.EEXIST) {
		return fs.ErrExist
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: tmp, New: dest, Err: err}
	}
	return nil
}

func unwrapLinkError(err error) error {
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return err
	}
	return nil
}

// exists reports whether path names anything, even a dangling symlink.
func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// newFileMode is the mode a file created with 0666 gets under the process
// umask. A file moved out of the cache (mode 0600) is given this mode so
// that DEST looks as if it had been created anew.
var newFileMode = sync.OnceValue(func() os.FileMode {
	// umask(2) can only be read by setting it, which would race with other
	// goroutines creating files; /proc shows it without changing it.
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0o644
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return os.FileMode(0o666 &^ m)
			}
		}
	}
	return 0o644
})
