package cache

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Data files: one sparse file per version, named by the hex SHA-256 of
// (bucket, key, ETag) in a two-level fan-out so no directory grows huge.

const dataDirName = "data"

func dataPath(dir, bucket, key, etag string) string {
	sum := versionHash(bucket, key, etag)
	name := hex.EncodeToString(sum[:])
	return filepath.Join(dir, dataDirName, name[:2], name)
}

// vidFromDataName parses a data file name back into its vid.
func vidFromDataName(name string) (vid, bool) {
	var id vid
	if len(name) != 64 {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(name[:32])); err != nil {
		return id, false
	}
	if _, err := hex.DecodeString(name[32:]); err != nil {
		return id, false
	}
	return id, true
}

// createDataFile makes an empty sparse file of the object's size: a
// truncate, never zeros, so unfetched ranges take no disk space. The
// directory entry is synced so that a power cut does not lose a file the
// index will name.
func createDataFile(path string, size int64) (*os.File, uint64, error) {
	parent := filepath.Dir(path)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, 0, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, 0, err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, 0, err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, 0, err
	}
	ino, _, err := fileInfo(f)
	if err == nil {
		err = syncDir(parent)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, ino, nil
}

// fileInfo returns the inode and allocated bytes of f.
func fileInfo(f *os.File) (ino uint64, allocated int64, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, fmt.Errorf("stat %s: no inode", f.Name())
	}
	return st.Ino, st.Blocks * 512, nil
}

// allocatedBytes is the disk space a file uses (not its apparent size).
func allocatedBytes(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// fdatasync makes the data written to f durable without forcing its
// timestamps out.
func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}

// punchHole gives the space of [off, off+n) back to the filesystem, so a
// dropped block stops counting against the cap. Filesystems without hole
// punching keep the bytes, which the index no longer names.
func punchHole(f *os.File, off, n int64) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}

// statIno returns the inode and allocated bytes from a FileInfo.
func statIno(fi os.FileInfo) (uint64, int64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fi.Size(), false
	}
	return st.Ino, st.Blocks * 512, true
}
