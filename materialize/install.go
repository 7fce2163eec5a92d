package materialize

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// InstallMethod says how DEST got its bytes.
type InstallMethod string

const (
	// InstallReflink: DEST shares the cache file's blocks copy-on-write;
	// both stay valid and independent.
	InstallReflink InstallMethod = "reflink"
	// InstallMove: the cache gave up its file and it was renamed to DEST.
	InstallMove InstallMethod = "move"
	// InstallCopy: the bytes were copied (in the kernel where possible).
	InstallCopy InstallMethod = "copy"
)

// dataSource is what install needs from a complete cache entry.
type dataSource interface {
	// open opens the complete data file for reading.
	open() (*os.File, error)
	// detach moves the data file to path, the cache forgetting the
	// version so that no reader is ever served a file that is gone.
	// It fails when the cache cannot give the file up (for instance
	// while another reader has it open); install then copies.
	detach(path string) error
	// beside reports whether the data file was kept beside DEST, outside
	// the cache: moving it is then the way to install, whatever
	// KeepCache says, since the cache keeps nothing of it either way.
	beside() bool
}

// install puts a complete, verified version at req.Dest atomically: the
// bytes go to a locked temporary file beside DEST (reflink, else move if
// allowed and on the same filesystem, else copy), which is synced and then
// renamed over DEST. Nothing is left beside DEST on any failure.
func install(ctx context.Context, src dataSource, size int64, req Request) (InstallMethod, error) {
	unlock := destLocks.lock(req.Dest)
	defer unlock()
	if req.NoClobber {
		if err := refuseExisting(req.Dest); err != nil {
			return "", err
		}
	}
	data, err := src.open()
	if err != nil {
		return "", localIOf("open the cached copy: %w", err)
	}
	defer data.Close()

	tmp, err := createTemp(req.Dest)
	if err != nil {
		return "", err
	}
	renamed := false
	defer func() { tmp.discard(renamed) }()

	method, err := fill(ctx, tmp, data, src, size, req)
	if err != nil {
		return "", err
	}
	if err := finish(tmp, size, method); err != nil {
		return "", localIOf("write %s: %w", tmp.path, err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := renameInto(tmp.path, req.Dest, req.NoClobber); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("%w: %s appeared during the run (--no-clobber)", ErrExists, req.Dest)
		}
		return "", localIOf("install %s: %w", req.Dest, err)
	}
	renamed = true
	if err := syncDir(filepath.Dir(req.Dest)); err != nil {
		return "", localIOf("sync the directory of %s: %w", req.Dest, err)
	}
	return method, nil
}

// fill gives tmp the object's bytes by the cheapest means that keeps the
// cache consistent. After a move, tmp names the moved file.
func fill(ctx context.Context, tmp *tempFile, data *os.File, src dataSource, size int64, req Request) (InstallMethod, error) {
	// A reflink of a file kept beside DEST would leave a second copy of
	// the object there: move it first.
	move := (src.beside() || !req.KeepCache) && sameDevice(data, tmp.File)
	if src.beside() && move {
		if moved, err := moveInto(tmp, src); err == nil {
			return InstallMove, nil
		} else if moved {
			return "", localIOf("take over %s: %w", data.Name(), err)
		}
		move = false
	}
	if reflink(tmp.File, data) == nil {
		return InstallReflink, nil
	}
	if move {
		if moved, err := moveInto(tmp, src); err == nil {
			return InstallMove, nil
		} else if moved {
			return "", localIOf("take over the cache file: %w", err)
		}
	}
	if err := copyFile(ctx, tmp.File, data, size); err != nil {
		if isCancel(err) {
			return "", err
		}
		return "", localIOf("copy to %s: %w", tmp.path, err)
	}
	return InstallCopy, nil
}

// moveInto has the cache move its file onto tmp's path, then swaps tmp's
// descriptor and lock over to the moved file. moved reports whether the
// cache gave the file up (after which a failure cannot fall back to a copy).
func moveInto(tmp *tempFile, src dataSource) (moved bool, err error) {
	if err := src.detach(tmp.path); err != nil {
		return false, err
	}
	f, err := os.OpenFile(tmp.path, os.O_RDWR, 0)
	if err != nil {
		return true, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return true, err
	}
	if err := f.Chmod(newFileMode()); err != nil {
		f.Close()
		return true, err
	}
	tmp.File.Close()
	tmp.File = f
	return true, nil
}

// finish trims tmp to the object's size (a cache file may be padded to
// whole blocks), checks it is not short, and makes its bytes durable
// before the rename publishes them.
func finish(tmp *tempFile, size int64, method InstallMethod) error {
	st, err := tmp.Stat()
	if err != nil {
		return err
	}
	switch {
	case st.Size() > size:
		if err := tmp.Truncate(size); err != nil {
			return err
		}
	case st.Size() < size:
		return fmt.Errorf("%s copy holds %d of %d bytes", method, st.Size(), size)
	}
	return tmp.Sync()
}

func refuseExisting(dest string) error {
	ok, err := exists(dest)
	if err != nil {
		return localIOf("check %s: %w", dest, err)
	}
	if ok {
		return fmt.Errorf("%w: %s (--no-clobber)", ErrExists, dest)
	}
	return nil
}

// sameDevice reports whether two open files are on one filesystem, the
// condition for a rename between them.
func sameDevice(a, b *os.File) bool {
	sa, errA := a.Stat()
	sb, errB := b.Stat()
	if errA != nil || errB != nil {
		return false
	}
	da, okA := sa.Sys().(*syscall.Stat_t)
	db, okB := sb.Sys().(*syscall.Stat_t)
	return okA && okB && da.Dev == db.Dev
}

// destLocks serialises the runs of this process that install to one path,
// so that one's stale-file cleanup never races another's install. Runs of
// other processes on the same cache are delegated here; runs on other
// caches are kept apart by the temporary files' flocks.
var destLocks keyedMutex

type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*refMutex
}

type refMutex struct {
	sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = make(map[string]*refMutex)
	}
	m := k.locks[key]
	if m == nil {
		m = &refMutex{}
		k.locks[key] = m
	}
	m.refs++
	k.mu.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		k.mu.Lock()
		if m.refs--; m.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
