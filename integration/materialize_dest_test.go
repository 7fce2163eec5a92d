package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ossmount/ossmount/internal/testutil"
)

// A DEST that is not a regular file is refused before the object is even
// looked at, and is left as it was: the rename of the install would have
// replaced a device or FIFO with a regular file.
func TestMaterializeCLIRefusesSpecialDest(t *testing.T) {
	e := newMatEnv(t)
	e.put("special.bin", testutil.RandomBytes(40, 64<<10))
	src := "oss://" + matBucket + "/special.bin"

	fifo := e.dest("fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	dev := e.dest("null-dev")
	// The device numbers of /dev/null, on a node of the test's own.
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o600, int(1<<8|3)); err != nil {
		t.Skipf("mknod: %v (needs root)", err)
	}
	sock := e.dest("sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	dir := e.dest("dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		dest, kind string
		mode       os.FileMode
	}{
		{fifo, "a FIFO", os.ModeNamedPipe},
		{dev, "a character device", os.ModeDevice | os.ModeCharDevice},
		{sock, "a socket", os.ModeSocket},
		{dir, "a directory", os.ModeDir},
	} {
		before := e.srv.Stats()
		r := e.run("--progress=none", src, c.dest)
		if r.code != 6 {
			t.Errorf("%s: exit %d, want 6", c.kind, r.code)
		}
		msg := strings.TrimSpace(r.stderr)
		if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, c.kind) || !strings.Contains(msg, "not a regular file") {
			t.Errorf("%s: message %q: want one line naming it", c.kind, msg)
		}
		if after := e.srv.Stats(); after.Gets != before.Gets || after.Heads != before.Heads {
			t.Errorf("%s: %d GET and %d HEAD sent before the refusal", c.kind, after.Gets-before.Gets, after.Heads-before.Heads)
		}
		st, err := os.Lstat(c.dest)
		if err != nil || st.Mode().Type() != c.mode.Type() {
			t.Errorf("%s: DEST is now %v (err %v)", c.kind, st.Mode(), err)
		}
	}
	assertNoTemps(t, e.outDir)
}

// A symlink DEST is replaced by the file, as mv replaces it; what it
// pointed to is left alone.
func TestMaterializeCLIReplacesSymlinkDest(t *testing.T) {
	e := newMatEnv(t)
	data := e.put("link.bin", testutil.RandomBytes(41, 100<<10))
	target := e.dest("target")
	if err := os.WriteFile(target, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := e.dest("link")
	if err := os.Symlink(filepath.Base(target), link); err != nil {
		t.Fatal(err)
	}
	if r := e.run("--progress=none", "oss://"+matBucket+"/link.bin", link); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if st, err := os.Lstat(link); err != nil || !st.Mode().IsRegular() {
		t.Fatalf("DEST is %v (err %v), want a regular file", st.Mode(), err)
	}
	assertFile(t, link, data)
	assertFile(t, target, []byte("keep me"))
}
