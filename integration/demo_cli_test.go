package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
)

// ownTmpfs mounts a tmpfs of size bytes in a new temporary directory, for
// a test that must see every file a command leaves behind, or run out of
// room, without touching any filesystem it did not make.
func ownTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+strconv.FormatInt(size, 10)+",mode=1777"); err != nil {
		t.Fatalf("mount a tmpfs at %s: %v", dir, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// listTree lists every path under dir, relative to it.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// demoRun is "ossmount demo" running with its own TMPDIR.
type demoRun struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *testutil.LogBuffer
	exited chan struct{}
	err    error
}

func startDemo(t *testing.T, tmpdir string, args ...string) *demoRun {
	t.Helper()
	requireFUSE(t)
	cmd := exec.Command(ossmountBinary(t), append([]string{"demo", "--latency", "0", "--bandwidth", "0"}, args...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmpdir)
	d := &demoRun{t: t, cmd: cmd, out: &testutil.LogBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.err = cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-d.exited
	})
	return d
}

// await polls until ready reports true, failing if the demo exits first.
func (d *demoRun) await(what string, ready func() bool) {
	d.t.Helper()
	testutil.Eventually(d.t, 60*time.Second, func() bool {
		select {
		case <-d.exited:
			d.t.Fatalf("demo exited (%v) before %s:\n%s", d.err, what, d.out.String())
		default:
		}
		return ready()
	}, what)
}

// mounted waits until the demo says it is mounted and returns the
// mountpoint it names.
func (d *demoRun) mounted() string {
	d.t.Helper()
	re := regexp.MustCompile(`is mounted at\n  (\S+)\n`)
	var mp string
	d.await("the demo is mounted", func() bool {
		m := re.FindStringSubmatch(d.out.String())
		if m != nil {
			mp = m[1]
		}
		return m != nil && strings.Contains(d.out.String(), "Press Ctrl-C")
	})
	return mp
}

// end sends sig and waits for the demo to exit, returning its exit code.
func (d *demoRun) end(sig os.Signal) int {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatal(err)
	}
	return d.wait()
}

func (d *demoRun) wait() int {
	d.t.Helper()
	select {
	case <-d.exited:
	case <-time.After(60 * time.Second):
		d.t.Fatalf("demo did not exit:\n%s", d.out.String())
	}
	return d.cmd.ProcessState.ExitCode()
}

// assertEmpty fails if the demo left anything in dir.
func assertEmpty(t *testing.T, what, dir string, out *testutil.LogBuffer) {
	t.Helper()
	if left := listTree(t, dir); len(left) > 0 {
		t.Errorf("%s left in %s: %q\noutput:\n%s", what, dir, left, out.String())
	}
}

// Once mounted, the demo ends on SIGINT or SIGTERM, or when unmounted from
// outside, and removes everything it created: the sample data, the cache,
// the mountpoint, the file its materialize hint writes, and the missing
// parents of a DIR it was given. What was there before stays.
func TestDemoRemovesWhatItCreatedOnceMounted(t *testing.T) {
	for _, c := range []struct {
		name string
		end  func(d *demoRun, mp string) int
	}{
		{"SIGINT", func(d *demoRun, _ string) int { return d.end(os.Interrupt) }},
		{"SIGTERM", func(d *demoRun, _ string) int { return d.end(syscall.SIGTERM) }},
		{"unmounted from outside", func(d *demoRun, mp string) int {
			if err := syscall.Unmount(mp, 0); err != nil {
				d.t.Fatal(err)
			}
			return d.wait()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmp := ownTmpfs(t, 256<<20)
			d := startDemo(t, tmp, "--big-size", "4MiB")
			mp := d.mounted()
			if b := readMounted(t, filepath.Join(mp, "big.bin")); len(b) != 4<<20 {
				t.Fatalf("big.bin has %d bytes, want 4 MiB", len(b))
			}
			hint := regexp.MustCompile(`materialize (\S+/train\.csv) (\S+)\n`).FindStringSubmatch(d.out.String())
			if hint == nil {
				t.Fatalf("the demo gives no materialize hint:\n%s", d.out.String())
			}
			if !strings.HasPrefix(hint[2], tmp+"/") {
				t.Fatalf("the hint writes %s, outside the demo's temporary directory %s", hint[2], tmp)
			}
			if out, err := exec.Command(ossmountBinary(t), "materialize", hint[1], hint[2]).CombinedOutput(); err != nil {
				t.Fatalf("the demo's hint failed (%v):\n%s", err, out)
			}
			if _, err := os.Stat(hint[2]); err != nil {
				t.Fatalf("the hint's file: %v", err)
			}
			if code := c.end(d, mp); code != 0 {
				t.Errorf("demo exited %d:\n%s", code, d.out.String())
			}
			if isMounted(t, mp) {
				t.Errorf("%s is still mounted", mp)
			}
			assertEmpty(t, "the demo", tmp, d.out)
		})
	}
}

// A DIR that did not exist is created for the mount and removed again, up
// to the directory that existed; a --cache-dir that is named is kept.
func TestDemoRemovesTheDirectoriesItMadeForDIR(t *testing.T) {
	tmp := ownTmpfs(t, 256<<20)
	base := t.TempDir()
	cacheDir := filepath.Join(base, "cache")
	d := startDemo(t, tmp, "--big-size", "1MiB", "--cache-dir", cacheDir, filepath.Join(base, "a", "b"))
	if mp := d.mounted(); mp != filepath.Join(base, "a", "b") {
		t.Fatalf("mounted at %s", mp)
	}
	if code := d.end(os.Interrupt); code != 0 {
		t.Errorf("demo exited %d:\n%s", code, d.out.String())
	}
	assertEmpty(t, "the demo", tmp, d.out)
	if left := listTree(t, base); len(left) == 0 || left[0] != "cache" || strings.HasPrefix(strings.Join(left, " "), "a") {
		t.Errorf("in %s: %q, want the named cache kept and a/b removed", base, left)
	}
	if _, err := os.Stat(filepath.Join(base, "a")); !os.IsNotExist(err) {
		t.Errorf("%s/a: %v, want it removed", base, err)
	}
}

// A signal while the sample bucket is being written stops the writing,
// mounts nothing and removes what was written.
func TestDemoInterruptedWhilePreparing(t *testing.T) {
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			tmp := ownTmpfs(t, 3<<30)
			d := startDemo(t, tmp, "--big-size", "2GiB")
			d.await("big.bin being written", func() bool {
				matches, _ := filepath.Glob(filepath.Join(tmp, "*", "buckets", "demo", "big.bin"))
				if len(matches) == 0 {
					return false
				}
				st, err := os.Stat(matches[0])
				return err == nil && st.Size() > 0
			})
			code := d.end(sig)
			if strings.Contains(d.out.String(), "is mounted at") {
				t.Fatalf("preparation finished before the signal; the test needs a larger --big-size:\n%s", d.out.String())
			}
			if code == 0 || !strings.Contains(d.out.String(), "interrupted") {
				t.Errorf("demo exited %d; want a failure saying it was interrupted:\n%s", code, d.out.String())
			}
			assertEmpty(t, "the interrupted demo", tmp, d.out)
		})
	}
}

// A start that fails after the sample bucket is written (here the cache
// directory is a file) removes what the demo created.
func TestDemoFailedStartRemovesWhatItCreated(t *testing.T) {
	tmp := ownTmpfs(t, 256<<20)
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDemo(t, tmp, "--big-size", "1MiB", "--cache-dir", notADir)
	if code := d.wait(); code == 0 {
		t.Fatalf("demo with a file as its cache directory exited 0:\n%s", d.out.String())
	}
	assertEmpty(t, "the failed demo", tmp, d.out)
	if b, err := os.ReadFile(notADir); err != nil || string(b) != "keep me" {
		t.Errorf("the file named as --cache-dir: %q, %v", b, err)
	}
}

// A --big-size the temporary directory has no room for is refused before
// anything is written, saying how much is needed and how much is free.
func TestDemoRefusesABigSizeWithoutRoom(t *testing.T) {
	tmp := ownTmpfs(t, 32<<20)
	d := startDemo(t, tmp, "--big-size", "1GiB")
	code := d.wait()
	out := d.out.String()
	if code != 1 || !strings.Contains(out, "needs 1.1 GiB free in "+tmp) || !strings.Contains(out, "32.0 MiB is free") {
		t.Errorf("demo --big-size 1GiB on a 32 MiB filesystem exited %d; want 1, saying what it needs and what is free:\n%s", code, out)
	}
	if n := strings.Count(strings.TrimSpace(out), "\n"); n != 0 {
		t.Errorf("the refusal takes %d lines, want one:\n%s", n+1, out)
	}
	assertEmpty(t, "the refused demo", tmp, d.out)
}
