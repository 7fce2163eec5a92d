package integration

import (
	"errors"
	"os"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/testutil"
)

// Every change is refused with EROFS.
func TestMountReadOnly(t *testing.T) {
	e := newMountEnv(t)
	e.put("dir/file.txt", []byte("x"))
	e.mountDefault()
	file, dir := e.path("dir/file.txt"), e.path("dir")
	checks := map[string]func() error{
		"create":        func() error { return os.WriteFile(e.path("dir/new.txt"), []byte("x"), 0o644) },
		"open O_WRONLY": func() error { f, err := os.OpenFile(file, os.O_WRONLY, 0); f.Close(); return err },
		"open O_RDWR":   func() error { f, err := os.OpenFile(file, os.O_RDWR, 0); f.Close(); return err },
		"truncate":      func() error { return os.Truncate(file, 0) },
		"mkdir":         func() error { return os.Mkdir(e.path("dir/sub"), 0o755) },
		"rename":        func() error { return os.Rename(file, e.path("dir/renamed.txt")) },
		"unlink":        func() error { return os.Remove(file) },
		"rmdir":         func() error { return syscall.Rmdir(dir) },
		"chmod":         func() error { return os.Chmod(file, 0o600) },
		"symlink":       func() error { return os.Symlink("file.txt", e.path("dir/link")) },
		"setxattr":      func() error { return unix.Setxattr(file, "user.x", []byte("1"), 0) },
	}
	for name, op := range checks {
		if err := op(); !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", name, err)
		}
	}
	mustEqual(t, "file unchanged", readMounted(t, file), []byte("x"))
}

// Files and directories name their object and the cache in extended
// attributes, for "ossmount materialize".
func TestMountXattrs(t *testing.T) {
	e := newMountEnv(t)
	e.put("dir/file with space.txt", []byte("x"))
	e.mountDefault()
	get := func(path, name string) string {
		buf := make([]byte, 1024)
		n, err := unix.Getxattr(path, name, buf)
		if err != nil {
			t.Fatalf("getxattr %s %s: %v", path, name, err)
		}
		return string(buf[:n])
	}
	file := e.path("dir/file with space.txt")
	if got, want := get(file, "user.ossmount.source"), "oss://"+mountBucket+"/dir/file with space.txt"; got != want {
		t.Errorf("source = %q, want %q", got, want)
	}
	info, err := e.client.Stat(t.Context(), mountBucket, "dir/file with space.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got := get(file, "user.ossmount.etag"); got != info.ETag {
		t.Errorf("etag = %q, want %q", got, info.ETag)
	}
	if got := get(file, "user.ossmount.cache_dir"); got != e.cacheDir {
		t.Errorf("cache_dir = %q, want %q", got, e.cacheDir)
	}
	if got := get(e.mp, "user.ossmount.pid"); got != strconv.Itoa(os.Getpid()) {
		t.Errorf("pid = %q, want %d", got, os.Getpid())
	}
	buf := make([]byte, 1024)
	n, err := unix.Listxattr(file, buf)
	if err != nil || n == 0 {
		t.Errorf("listxattr: %d, %v", n, err)
	}
	if _, err := unix.Getxattr(file, "user.other", buf); !errors.Is(err, unix.ENODATA) {
		t.Errorf("unknown attribute: %v, want ENODATA", err)
	}
}

// An archived object cannot be read until it is restored: EIO (and a log
// line saying so), not a hang and not wrong bytes.
func TestMountArchivedObjectIsEIO(t *testing.T) {
	e := newMountEnv(t)
	data := e.put("cold.bin", testutil.RandomBytes(20, 2<<20))
	e.srv.SetStorageClass(mountBucket, "cold.bin", "Archive")
	e.mountDefault()
	if _, err := os.ReadFile(e.path("cold.bin")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of an archived object: %v, want EIO", err)
	}
	e.srv.Restore(mountBucket, "cold.bin")
	mustEqual(t, "after restore", readMounted(t, e.path("cold.bin")), data)
}

// Refused credentials show as EACCES. (The server has no per-object denial,
// so the whole mount uses a wrong secret; "ossmount mount" itself refuses
// to mount with such credentials, fs.Mount does not check.)
func TestMountAccessDeniedIsEACCES(t *testing.T) {
	e := newMountEnv(t)
	e.put("secret.txt", []byte("x"))
	good := e.creds
	e.creds = ossserver.Credentials{AccessKeyID: good.AccessKeyID, AccessKeySecret: "wrong-" + good.AccessKeySecret}
	e.mountDefault()
	if _, err := os.ReadDir(e.mp); !errors.Is(err, syscall.EACCES) {
		t.Errorf("listing with refused credentials: %v, want EACCES", err)
	}
	if _, err := os.Stat(e.path("secret.txt")); !errors.Is(err, syscall.EACCES) {
		t.Errorf("stat with refused credentials: %v, want EACCES", err)
	}
}
