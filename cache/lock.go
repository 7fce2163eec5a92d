package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// dirLock is the single-owner lock of a cache directory: an exclusive
// flock(2) on DIR/lock, taken before badger opens, holding the owner's pid so
// that a second process can say who owns the directory. flock locks die with
// the process, so a crash never leaves a stale lock behind.
//
// A View holds the same file with a shared lock while it reads the index,
// so that no owner opens badger under it (badger would refuse, or the View
// would read files the owner rewrites). An owner that finds only shared
// holders waits for them, up to inspectorWait, rather than fail.
type dirLock struct{ f *os.File }

// inspectorWait bounds how long Open waits for Views to finish reading.
const inspectorWait = 10 * time.Second

// waitForViews pauses between attempts at the owner's lock while Views
// hold it; tests replace it to see that Open waits.
var waitForViews = func() { time.Sleep(20 * time.Millisecond) }

func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open cache lock: %w", err)
	}
	if err := flockExclusive(f, dir); err != nil {
		f.Close()
		return nil, err
	}
	_ = f.Chmod(0o600)
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("write cache lock: %w", err)
		}
	}
	return &dirLock{f: f}, nil
}

// flockExclusive takes the owner's lock on f, waiting while only Views
// hold it.
func flockExclusive(f *os.File, dir string) error {
	fd := int(f.Fd())
	deadline := time.Now().Add(inspectorWait)
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("lock cache directory %s: %w", dir, err)
		}
		// A shared lock is refused exactly when an owner holds the
		// exclusive one; granted, only Views are there.
		if err := unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB); err != nil {
			if errors.Is(err, unix.EWOULDBLOCK) {
				return &LockedError{Dir: dir, PID: readLockPID(dir)}
			}
			return fmt.Errorf("lock cache directory %s: %w", dir, err)
		}
		_ = unix.Flock(fd, unix.LOCK_UN)
		if time.Now().After(deadline) {
			return fmt.Errorf("cache directory %s is being read by another process (ossmount cache stats or list) for over %v; try again", dir, inspectorWait)
		}
		waitForViews()
	}
}

// lockDirShared takes a View's shared lock on the lock file of dir,
// without creating it: it fails with os.ErrNotExist if there is none, and
// with *LockedError if an owner holds the directory.
func lockDirShared(dir string) (*dirLock, error) {
	f, err := os.Open(filepath.Join(dir, "lock"))
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &LockedError{Dir: dir, PID: readLockPID(dir)}
		}
		return nil, fmt.Errorf("lock cache directory %s: %w", dir, err)
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) unlock() error {
	// The file stays: removing it would let a third process lock a fresh
	// inode while a second still waits on the old one.
	_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	return l.f.Close()
}

// readLockPID returns the pid recorded by the owner of dir, 0 if unknown.
func readLockPID(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "lock"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

// LockHolder reports which process holds the lock of the cache directory
// dir, and so owns it: its pid and true if some process holds the lock now,
// (0, false) if none does. It does not take the lock.
func LockHolder(dir string) (pid int, locked bool, err error) {
	f, err := os.Open(filepath.Join(dir, "lock"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	// A shared lock attempt fails exactly when an owner holds LOCK_EX.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return readLockPID(dir), true, nil
		}
		return 0, false, err
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return 0, false, nil
}
