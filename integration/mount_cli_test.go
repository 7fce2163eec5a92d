package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/internal/testutil"
)

// runOssmount runs the built ossmount with the test server's credentials in
// its environment (env adds to it, and overrides) and returns its exit code
// and output.
func (e *mountEnv) runOssmount(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	return e.runOssmountIn(t, "", env, args...)
}

// runOssmountIn is runOssmount in the working directory dir.
func (e *mountEnv) runOssmountIn(t *testing.T, dir string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ossmountBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OSS_ACCESS_KEY_ID="+e.creds.AccessKeyID, "OSS_ACCESS_KEY_SECRET="+e.creds.AccessKeySecret)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("run ossmount %q: %v", args, err)
	}
	return 0, string(out)
}

// "ossmount mount" returns once the mount works, keeps it running in the
// background, and "ossmount unmount" ends it and waits until the cache is
// free again.
func TestMountCLIBackground(t *testing.T) {
	e := newMountEnv(t)
	data := e.put("dir/file.txt", []byte("through the daemon\n"))
	code, out := e.runOssmount(t, nil, "mount", "--endpoint", e.srv.Endpoint, "--region", "cn-hangzhou",
		"--cache-dir", e.cacheDir, "oss://"+mountBucket, e.mp)
	if code != 0 {
		t.Fatalf("ossmount mount exited %d:\n%s", code, out)
	}
	t.Cleanup(func() { syscall.Unmount(e.mp, syscall.MNT_DETACH) })
	// Ready means ready: no polling needed.
	mustEqual(t, "read through the background mount", readMounted(t, e.path("dir/file.txt")), data)
	if _, locked, _ := cache.LockHolder(e.cacheDir); !locked {
		t.Errorf("the cache is not owned while the mount runs")
	}
	if b, err := os.ReadFile(filepath.Join(e.cacheDir, "ossmount.log")); err != nil || !strings.Contains(string(b), "mounted") {
		t.Errorf("the daemon's log: %v\n%s", err, b)
	}

	code, out = e.runOssmount(t, nil, "unmount", e.mp)
	if code != 0 {
		t.Fatalf("ossmount unmount exited %d:\n%s", code, out)
	}
	if isMounted(t, e.mp) {
		t.Errorf("still mounted after ossmount unmount")
	}
	if _, locked, _ := cache.LockHolder(e.cacheDir); locked {
		t.Errorf("the cache is still owned after ossmount unmount returned")
	}
}

// Relative paths mean what they mean where the command runs, although the
// background process runs in "/": the mountpoint, --cache-dir and
// --credentials-file.
func TestMountCLIRelativePaths(t *testing.T) {
	e := newMountEnv(t)
	data := e.put("rel.txt", []byte("relative paths\n"))
	work := t.TempDir()
	for _, d := range []string{"mnt", "cache"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	creds := "OSS_ACCESS_KEY_ID=" + e.creds.AccessKeyID + "\nOSS_ACCESS_KEY_SECRET=" + e.creds.AccessKeySecret + "\n"
	if err := os.WriteFile(filepath.Join(work, "creds"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	mp := filepath.Join(work, "mnt")
	t.Cleanup(func() {
		if isMounted(t, mp) {
			syscall.Unmount(mp, syscall.MNT_DETACH)
		}
	})
	run := func(args ...string) {
		t.Helper()
		// Credentials only from the file.
		noCreds := []string{"OSS_ACCESS_KEY_ID=", "OSS_ACCESS_KEY_SECRET="}
		if code, out := e.runOssmountIn(t, work, noCreds, args...); code != 0 {
			t.Fatalf("ossmount %q exited %d:\n%s", args, code, out)
		}
	}
	run("mount", "--endpoint", e.srv.Endpoint, "--region", "cn-hangzhou",
		"--cache-dir", "cache", "--credentials-file", "creds", "oss://"+mountBucket, "mnt")
	mustEqual(t, "read through a mount made with relative paths", readMounted(t, filepath.Join(mp, "rel.txt")), data)
	if _, locked, _ := cache.LockHolder(filepath.Join(work, "cache")); !locked {
		t.Errorf("the cache in ./cache is not owned while the mount runs")
	}
	run("unmount", "mnt")
	if isMounted(t, mp) {
		t.Errorf("still mounted after ossmount unmount mnt")
	}
}

// A mount that cannot work fails at once, with the reason, and leaves
// nothing running.
func TestMountCLIRefusesToMount(t *testing.T) {
	e := newMountEnv(t)
	base := []string{"mount", "--endpoint", e.srv.Endpoint, "--region", "cn-hangzhou", "--cache-dir", e.cacheDir}
	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"unknown bucket", nil, []string{"oss://no-such-bucket", e.mp}, 1, "bucket not found"},
		{"refused credentials", []string{"OSS_ACCESS_KEY_SECRET=wrong"}, []string{"oss://" + mountBucket, e.mp}, 1, "OSS_ACCESS_KEY_SECRET"},
		{"missing mountpoint", nil, []string{"oss://" + mountBucket, filepath.Join(e.mp, "missing")}, 1, "does not exist"},
		{"bad URL", nil, []string{"s3://" + mountBucket, e.mp}, 2, "oss://"},
	}
	for _, c := range cases {
		code, out := e.runOssmount(t, c.env, append(base, c.args...)...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, output %q; want exit %d mentioning %q", c.name, code, out, c.code, c.want)
		}
	}
	if isMounted(t, e.mp) {
		t.Errorf("something was mounted")
	}
	if _, locked, _ := cache.LockHolder(e.cacheDir); locked {
		t.Errorf("a failed mount left the cache owned")
	}
}

// "ossmount demo" serves its sample bucket until Ctrl-C, then unmounts.
func TestMountDemo(t *testing.T) {
	requireFUSE(t)
	mp := t.TempDir()
	cmd := exec.Command(ossmountBinary(t), "demo", "--big-size", "4MiB", "--latency", "0", "--bandwidth", "0",
		"--cache-dir", t.TempDir(), mp)
	// The demo keeps its sample data in the temporary directory for the
	// next run; this one's goes away with the test.
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	out := &testutil.LogBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		syscall.Unmount(mp, syscall.MNT_DETACH)
	})
	testutil.Eventually(t, 60*time.Second, func() bool {
		select {
		case err := <-exited:
			t.Fatalf("demo exited early (%v):\n%s", err, out.String())
		default:
		}
		_, err := os.Stat(filepath.Join(mp, "README.txt"))
		return err == nil
	}, "the demo's README.txt")
	if b := readMounted(t, filepath.Join(mp, "README.txt")); !strings.Contains(string(b), "ossmount") {
		t.Errorf("README.txt says %q", b)
	}
	if b := readMounted(t, filepath.Join(mp, "big.bin")); len(b) != 4<<20 {
		t.Errorf("big.bin has %d bytes, want 4 MiB", len(b))
	}
	if !strings.Contains(out.String(), "ossmount materialize "+mp) {
		t.Errorf("the demo does not say what to try:\n%s", out.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("demo exited with %v after Ctrl-C:\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("demo did not exit after Ctrl-C:\n%s", out.String())
	}
	if isMounted(t, mp) {
		t.Errorf("demo left %s mounted", mp)
	}
}
