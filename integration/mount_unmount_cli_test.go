package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
)

// foregroundMount is "ossmount mount --foreground" running as a child.
type foregroundMount struct {
	cmd    *exec.Cmd
	out    *testutil.LogBuffer // stdout and stderr
	exited chan struct{}       // closed once the process has been waited for
}

// startForeground starts "ossmount mount --foreground" of the test bucket
// at e.mp, with extra flags, and waits until name can be stat'ed in it.
func (e *mountEnv) startForeground(t *testing.T, name string, flags ...string) *foregroundMount {
	t.Helper()
	args := append([]string{"mount", "--foreground", "--endpoint", e.srv.Endpoint, "--region", "cn-hangzhou",
		"--cache-dir", e.cacheDir}, flags...)
	cmd := exec.Command(ossmountBinary(t), append(args, "oss://"+mountBucket, e.mp)...)
	cmd.Env = append(os.Environ(), "OSS_ACCESS_KEY_ID="+e.creds.AccessKeyID, "OSS_ACCESS_KEY_SECRET="+e.creds.AccessKeySecret)
	m := &foregroundMount{cmd: cmd, out: &testutil.LogBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = m.out, m.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		close(m.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-m.exited
		syscall.Unmount(e.mp, syscall.MNT_DETACH)
	})
	testutil.Eventually(t, 60*time.Second, func() bool {
		select {
		case <-m.exited:
			t.Fatalf("the mount exited before it was ready:\n%s", m.out)
		default:
		}
		_, err := os.Stat(e.path(name))
		return err == nil
	}, "the foreground mount to serve "+name)
	return m
}

// hasExited reports whether the process has ended.
func (m *foregroundMount) hasExited() bool {
	select {
	case <-m.exited:
		return true
	default:
		return false
	}
}

// mountTmpfs mounts a tmpfs of the test's own on a new temporary directory,
// holding one file, and returns the directory. Only root may.
func mountTmpfs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("ossmount-test", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if isMounted(t, dir) {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("not ossmount's"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// "ossmount unmount" unmounts only ossmount mounts: another filesystem,
// one stacked on top of an ossmount mount, or a plain directory is refused
// with a message naming what is there, with --lazy too, and left as it is.
func TestUnmountCLIRefusesWhatIsNotOssmount(t *testing.T) {
	e := newMountEnv(t)
	tmpfs := mountTmpfs(t)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(tmpfs, link); err != nil {
		t.Fatal(err)
	}
	plain := t.TempDir()
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"tmpfs", []string{tmpfs}, []string{"not an ossmount mount", "tmpfs", `"ossmount-test"`}},
		{"tmpfs, lazily", []string{"--lazy", tmpfs}, []string{"not an ossmount mount", "tmpfs"}},
		{"a symbolic link to a tmpfs", []string{link}, []string{"not an ossmount mount", "tmpfs"}},
		{"a plain directory", []string{plain}, []string{"not a mount point"}},
		{"a plain directory, lazily", []string{"--lazy", plain}, []string{"not a mount point"}},
		{"a missing directory", []string{filepath.Join(plain, "missing")}, []string{"no such directory"}},
	}
	for _, c := range cases {
		code, out := e.runOssmount(t, nil, append([]string{"unmount"}, c.args...)...)
		if code != 1 || strings.Count(out, "\n") != 1 {
			t.Errorf("unmount %s: exit %d, output %q; want exit 1 and one line", c.name, code, out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("unmount %s: %q does not say %q", c.name, out, w)
			}
		}
	}
	if !isMounted(t, tmpfs) {
		t.Fatal("the tmpfs was unmounted")
	}
	if b, err := os.ReadFile(filepath.Join(tmpfs, "keep.txt")); err != nil || string(b) != "not ossmount's" {
		t.Fatalf("the tmpfs's file: %q, %v", b, err)
	}

	// A filesystem mounted over an ossmount mount hides it: the one on
	// top is what would be unmounted, so it is refused.
	e.put("f.txt", []byte("x"))
	e.mountDefault()
	if err := syscall.Mount("ossmount-test-top", e.mp, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs over the mount: %v", err)
	}
	topMounted := true
	t.Cleanup(func() { // before the ossmount mount's own cleanup
		if topMounted {
			syscall.Unmount(e.mp, syscall.MNT_DETACH)
		}
	})
	code, out := e.runOssmount(t, nil, "unmount", "--lazy", e.mp)
	if code != 1 || !strings.Contains(out, "ossmount-test-top") {
		t.Errorf("unmount of a tmpfs over an ossmount mount: exit %d, output %q", code, out)
	}
	if err := syscall.Unmount(e.mp, 0); err != nil { // the tmpfs on top, which must still be there
		t.Fatalf("unmount the tmpfs on top: %v", err)
	}
	topMounted = false
	mustEqual(t, "the ossmount mount under the tmpfs", readMounted(t, e.path("f.txt")), []byte("x"))
}

// A mount whose process crashed is named for what it is, with the command
// that clears it, and "ossmount unmount" clears it.
func TestUnmountCLIDeadMount(t *testing.T) {
	e := newMountEnv(t)
	e.put("f.txt", []byte("x"))
	// A short TTL, so that the kernel soon forgets the attributes of the
	// mount's root and even stat fails, as it does some time after a crash.
	m := e.startForeground(t, "f.txt", "--metadata-ttl", "1s")
	if err := m.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-m.exited
	var st syscall.Statfs_t
	if err := syscall.Statfs(e.mp, &st); err != syscall.ENOTCONN {
		t.Fatalf("statfs of the mount after its process was killed: %v, want ENOTCONN", err)
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		_, err := os.Stat(e.mp)
		return errors.Is(err, syscall.ENOTCONN)
	}, "stat of the dead mount to fail with ENOTCONN")

	base := []string{"mount", "--endpoint", e.srv.Endpoint, "--region", "cn-hangzhou", "--cache-dir", e.cacheDir, "oss://" + mountBucket}
	want := "run 'ossmount unmount " + e.mp + "'"
	for _, mp := range []string{e.mp, e.path("sub")} {
		code, out := e.runOssmount(t, nil, append(base, mp)...)
		if code != 1 || !strings.Contains(out, "dead ossmount mount") || !strings.Contains(out, want) ||
			strings.Count(out, "\n") != 1 {
			t.Errorf("mount on %s: exit %d, output %q; want exit 1 naming the dead mount and %q", mp, code, out, want)
		}
	}

	// materialize from or into the dead mount says the same, exit 6.
	for _, args := range [][]string{
		{"materialize", e.path("f.txt"), filepath.Join(t.TempDir(), "f.txt")},
		{"materialize", "--endpoint", e.srv.Endpoint, "--region", "cn-hangzhou", "--cache-dir", t.TempDir(),
			"oss://" + mountBucket + "/f.txt", e.path("copy.txt")},
	} {
		code, out := e.runOssmount(t, nil, args...)
		if code != 6 || !strings.Contains(out, "dead ossmount mount") || !strings.Contains(out, want) {
			t.Errorf("%s: exit %d, output %q; want exit 6 naming the dead mount and %q", strings.Join(args, " "), code, out, want)
		}
	}

	code, out := e.runOssmount(t, nil, "unmount", e.mp)
	if code != 0 {
		t.Fatalf("unmount of the dead mount: exit %d:\n%s", code, out)
	}
	if isMounted(t, e.mp) {
		t.Fatal("the dead mount is still there")
	}
}

// A mountpoint that holds files is refused, as fusermount does, unless
// --nonempty says to mount over them.
func TestMountCLINonEmptyMountpoint(t *testing.T) {
	e := newMountEnv(t)
	data := e.put("f.txt", []byte("from the bucket"))
	if err := os.WriteFile(filepath.Join(e.mp, "mine.txt"), []byte("the user's"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"mount", "--endpoint", e.srv.Endpoint, "--region", "cn-hangzhou", "--cache-dir", e.cacheDir}
	for _, fg := range [][]string{nil, {"--foreground"}} {
		args := append(append(append([]string{}, base...), fg...), "oss://"+mountBucket, e.mp)
		code, out := e.runOssmount(t, nil, args...)
		if code != 1 || !strings.Contains(out, "not empty") || !strings.Contains(out, "--nonempty") || strings.Count(out, "\n") != 1 {
			t.Errorf("mount %q on a non-empty directory: exit %d, output %q; want exit 1 naming --nonempty", fg, code, out)
		}
		if isMounted(t, e.mp) {
			syscall.Unmount(e.mp, syscall.MNT_DETACH)
			t.Fatalf("mount %q mounted on a non-empty directory", fg)
		}
	}

	code, out := e.runOssmount(t, nil, append(base, "--nonempty", "oss://"+mountBucket, e.mp)...)
	if code != 0 {
		t.Fatalf("mount --nonempty: exit %d:\n%s", code, out)
	}
	t.Cleanup(func() {
		if isMounted(t, e.mp) {
			syscall.Unmount(e.mp, syscall.MNT_DETACH)
		}
	})
	mustEqual(t, "read through a mount over files", readMounted(t, e.path("f.txt")), data)
	if code, out := e.runOssmount(t, nil, "unmount", e.mp); code != 0 {
		t.Fatalf("unmount: exit %d:\n%s", code, out)
	}
	if b, err := os.ReadFile(filepath.Join(e.mp, "mine.txt")); err != nil || string(b) != "the user's" {
		t.Fatalf("the user's file after the mount: %q, %v", b, err)
	}
}

// When the cache directory of a running mount is removed, "ossmount
// unmount" cannot see the cache's lock: it waits for the mount's process
// instead, which ends within its bound, so that unmount still returns only
// once the mount has let go of everything.
func TestUnmountCLIWaitsWhenTheCacheDirectoryIsGone(t *testing.T) {
	e := newMountEnv(t)
	data := e.put("f.bin", testutil.RandomBytes(71, 3<<20))
	m := e.startForeground(t, "f.bin")
	mustEqual(t, "read before the removal", readMounted(t, e.path("f.bin")), data)
	if err := os.RemoveAll(e.cacheDir); err != nil {
		t.Fatal(err)
	}
	code, out := e.runOssmount(t, nil, "unmount", e.mp)
	if code != 0 {
		t.Fatalf("unmount: exit %d:\n%s", code, out)
	}
	select {
	case <-m.exited:
	case <-time.After(time.Second):
		t.Fatalf("unmount returned while the mount's process was still running:\n%s", m.out.String())
	}
	if isMounted(t, e.mp) {
		t.Error("still mounted")
	}
}
