package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
)

// mountCLI mounts the test bucket (or url) through the built binary in the
// background with extra flags, and unmounts it when the test ends.
func (e *mountEnv) mountCLI(t *testing.T, url string, flags ...string) string {
	t.Helper()
	args := append([]string{"mount", "--endpoint", e.srv.Endpoint, "--region", "cn-hangzhou", "--cache-dir", e.cacheDir}, flags...)
	code, out := e.runOssmount(t, nil, append(args, url, e.mp)...)
	if code != 0 {
		t.Fatalf("ossmount mount exited %d:\n%s", code, out)
	}
	t.Cleanup(func() {
		if isMounted(t, e.mp) {
			if code, out := e.runOssmount(t, nil, "unmount", e.mp); code != 0 {
				t.Errorf("ossmount unmount exited %d:\n%s", code, out)
				syscall.Unmount(e.mp, syscall.MNT_DETACH)
			}
		}
	})
	return out
}

// A mount in the background logs where --log-file says, and nowhere else.
func TestMountCLILogFile(t *testing.T) {
	e := newMountEnv(t)
	e.put("a.txt", []byte("logged\n"))
	logPath := filepath.Join(t.TempDir(), "mount.log")
	out := e.mountCLI(t, "oss://"+mountBucket, "--log-file", logPath)
	if !strings.Contains(out, "log "+logPath) {
		t.Errorf("mount does not name its log %s:\n%s", logPath, out)
	}
	readMounted(t, e.path("a.txt"))
	if b, err := os.ReadFile(logPath); err != nil || !strings.Contains(string(b), "mounted") {
		t.Errorf("--log-file %s: %v\n%s", logPath, err, b)
	}
	if _, err := os.Stat(filepath.Join(e.cacheDir, "ossmount.log")); !os.IsNotExist(err) {
		t.Errorf("the cache directory has a log too: %v", err)
	}
}

// A busy mount's log is rotated at --log-size: no file grows past it and
// only three old ones are kept.
func TestMountCLILogIsBounded(t *testing.T) {
	e := newMountEnv(t)
	for i := range 20 {
		e.put(fmt.Sprintf("f%02d.txt", i), []byte("some bytes\n"))
	}
	const bound = 16 << 10
	e.mountCLI(t, "oss://"+mountBucket, "--debug", "--log-size", "16KiB", "--metadata-ttl", "1ms")
	logPath := filepath.Join(e.cacheDir, "ossmount.log")
	rotated := func() int {
		matches, _ := filepath.Glob(filepath.Join(e.cacheDir, "ossmount-*.log"))
		return len(matches)
	}
	// Every lookup and read is a debug line (or several); with a TTL of
	// 1ms each pass asks the mount again.
	deadline := time.Now().Add(60 * time.Second)
	for rotated() < 4 && time.Now().Before(deadline) {
		for i := range 20 {
			readMounted(t, e.path(fmt.Sprintf("f%02d.txt", i)))
			dropPageCache(t, e.path(fmt.Sprintf("f%02d.txt", i)))
		}
		if fi, err := os.Stat(logPath); err == nil && fi.Size() > bound {
			t.Fatalf("the log has %d bytes, over --log-size %d", fi.Size(), bound)
		}
	}
	if rotated() < 3 {
		t.Fatalf("the log was rotated %d times", rotated())
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return rotated() <= 3 }, "at most three rotated logs")
	matches, _ := filepath.Glob(filepath.Join(e.cacheDir, "ossmount*.log"))
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.Size() > bound {
			t.Errorf("%s has %d bytes, over --log-size %d", m, fi.Size(), bound)
		}
	}
}

// A prefix without objects mounts, as an empty folder, with a warning on
// mount's standard error and in the log.
func TestMountCLIWarnsOfAnEmptyPrefix(t *testing.T) {
	e := newMountEnv(t)
	e.put("data/a.txt", []byte("a\n"))
	out := e.mountCLI(t, "oss://"+mountBucket+"/dtaa")
	want := "warning: no objects under oss://" + mountBucket + "/dtaa/"
	if !strings.Contains(out, "ossmount: "+want) || strings.Count(out, want) != 1 {
		t.Errorf("mount of a prefix without objects says:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(e.cacheDir, "ossmount.log")); err != nil || !strings.Contains(string(b), "no objects under") {
		t.Errorf("the log does not hold the warning: %v\n%s", err, b)
	}
	if entries, err := os.ReadDir(e.mp); err != nil || len(entries) != 0 {
		t.Errorf("the mount holds %v (%v)", entries, err)
	}
	if code, out := e.runOssmount(t, nil, "unmount", e.mp); code != 0 {
		t.Fatalf("unmount: %d %s", code, out)
	}

	// A prefix with objects mounts without a word.
	out = e.mountCLI(t, "oss://"+mountBucket+"/data")
	if strings.Contains(out, "warning") {
		t.Errorf("mount of a prefix with objects warns:\n%s", out)
	}
}

// With --foreground and --log-file the log goes to the file, and warnings
// still reach the terminal.
func TestMountCLIForegroundLogFile(t *testing.T) {
	e := newMountEnv(t)
	logPath := filepath.Join(t.TempDir(), "fg.log")
	cmd := exec.Command(ossmountBinary(t), "mount", "--foreground", "--log-file", logPath,
		"--endpoint", e.srv.Endpoint, "--region", "cn-hangzhou", "--cache-dir", e.cacheDir,
		"oss://"+mountBucket+"/none", e.mp)
	cmd.Env = append(os.Environ(), "OSS_ACCESS_KEY_ID="+e.creds.AccessKeyID, "OSS_ACCESS_KEY_SECRET="+e.creds.AccessKeySecret)
	stderr := &testutil.LogBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		syscall.Unmount(e.mp, syscall.MNT_DETACH)
	})
	testutil.Eventually(t, 60*time.Second, func() bool {
		select {
		case err := <-exited:
			t.Fatalf("mount exited early (%v):\n%s", err, stderr.String())
		default:
		}
		return isMounted(t, e.mp)
	}, "the mount")
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("mount exited with %v after Ctrl-C:\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("mount did not exit after Ctrl-C")
	}
	out := stderr.String()
	if !strings.Contains(out, "ossmount: warning: no objects under") || strings.Contains(out, "level=INFO") {
		t.Errorf("the terminal shows:\n%s", out)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"no objects under", "msg=mounted", "msg=unmounting"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the log lacks %q:\n%s", want, b)
		}
	}
}
