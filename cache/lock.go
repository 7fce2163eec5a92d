package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// dirLock is the single-owner lock of a cache directory: an exclusive
// flock(2) on DIR/lock, taken before badger opens, holding the owner's pid so
// that a second process can say who owns the directory. flock locks die with
// the process, so a crash never leaves a stale lock behind.
type dirLock struct{ f *os.File }

func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open cache lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &LockedError{Dir: dir, PID: readLockPID(dir)}
		}
		return nil, fmt.Errorf("lock cache directory %s: %w", dir, err)
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
