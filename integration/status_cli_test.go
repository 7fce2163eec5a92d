package integration

import (
	"encoding/json"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/internal/testutil"
)

// statusMount is one element of "ossmount status --json".
type statusMount struct {
	Mountpoint    string `json:"mountpoint"`
	State         string `json:"state"`
	Reason        string `json:"reason"`
	Source        string `json:"source"`
	PID           int    `json:"pid"`
	CacheDir      string `json:"cache_dir"`
	UptimeSeconds int64  `json:"uptime_seconds"`
	ReadBytes     int64  `json:"read_bytes"`
	HitBytes      int64  `json:"hit_bytes"`
	MissBytes     int64  `json:"miss_bytes"`
	FetchedBytes  int64  `json:"fetched_bytes"`
}

// status runs "ossmount status --json" and returns its mounts by
// mountpoint (other tests' mounts included).
func (e *mountEnv) status(t *testing.T) map[string]statusMount {
	t.Helper()
	code, out := e.runOssmount(t, nil, "status", "--json")
	if code != 0 {
		t.Fatalf("ossmount status --json exited %d:\n%s", code, out)
	}
	var got struct{ Mounts []statusMount }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("ossmount status --json printed what is not JSON (%v):\n%s", err, out)
	}
	byPoint := map[string]statusMount{}
	for _, m := range got.Mounts {
		byPoint[m.Mountpoint] = m
	}
	return byPoint
}

// "ossmount status" lists two mounts, each with its own cache directory and
// process, and what each has fetched; a mount whose process was killed is
// listed as not responding.
func TestStatusCLIListsMounts(t *testing.T) {
	e := newMountEnv(t)
	data := e.put("data/one.bin", testutil.RandomBytes(11, 3<<20))
	mp2, cache2 := t.TempDir(), t.TempDir()
	mount := func(cacheDir, mp string) int {
		t.Helper()
		code, out := e.runOssmount(t, nil, "mount", "--endpoint", e.srv.Endpoint, "--region", "cn-hangzhou",
			"--cache-dir", cacheDir, "oss://"+mountBucket, mp)
		if code != 0 {
			t.Fatalf("ossmount mount %s exited %d:\n%s", mp, code, out)
		}
		t.Cleanup(func() { syscall.Unmount(mp, syscall.MNT_DETACH) })
		pid, err := unixGetxattr(mp, "user.ossmount.pid")
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	pid1 := mount(e.cacheDir, e.mp)
	pid2 := mount(cache2, mp2)
	mustEqual(t, "read through the first mount", readMounted(t, e.path("data/one.bin")), data)

	got := e.status(t)
	first, second := got[e.mp], got[mp2]
	for _, c := range []struct {
		m       statusMount
		mp, dir string
		pid     int
		wasRead bool
	}{{first, e.mp, e.cacheDir, pid1, true}, {second, mp2, cache2, pid2, false}} {
		m := c.m
		if m.State != "serving" || m.PID != c.pid || m.CacheDir != c.dir || m.Source != "oss://"+mountBucket+"/" || m.UptimeSeconds < 0 {
			t.Errorf("status of %s: %+v, want serving by pid %d from cache %s", c.mp, m, c.pid, c.dir)
		}
		if c.wasRead && (m.FetchedBytes < int64(len(data)) || m.ReadBytes == 0 || m.MissBytes == 0) {
			t.Errorf("status of %s after reading %d bytes: %+v, want them fetched", c.mp, len(data), m)
		}
		if !c.wasRead && (m.FetchedBytes != 0 || m.ReadBytes != 0 || m.HitBytes != 0) {
			t.Errorf("status of %s, never read: %+v, want nothing fetched", c.mp, m)
		}
	}

	code, out := e.runOssmount(t, nil, "status")
	if code != 0 {
		t.Fatalf("ossmount status exited %d:\n%s", code, out)
	}
	for _, want := range []string{"MOUNTPOINT", e.mp, mp2, e.cacheDir, cache2, strconv.Itoa(pid1), strconv.Itoa(pid2)} {
		if !strings.Contains(out, want) {
			t.Errorf("ossmount status does not show %q:\n%s", want, out)
		}
	}

	// A stopped process answers nothing: status says so after its timeout
	// instead of waiting for it.
	if err := syscall.Kill(pid2, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got = e.status(t)
	if err := syscall.Kill(pid2, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if m := got[mp2]; m.State != "not responding" || !strings.Contains(m.Reason, "did not answer") {
		t.Errorf("status of %s while its process is stopped: %+v, want not responding", mp2, m)
	}
	if m := got[e.mp]; m.State != "serving" {
		t.Errorf("status of %s beside a stopped mount: %+v, want serving", e.mp, m)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("status took %v beside a stopped mount", took)
	}

	// A killed process leaves a dead mount behind.
	if err := syscall.Kill(pid2, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() bool { return syscall.Kill(pid2, 0) != nil }, "the killed mount process to exit")
	got = e.status(t)
	if m := got[mp2]; m.State != "not responding" || m.Reason == "" {
		t.Errorf("status of the dead mount %s: %+v, want not responding, with a reason", mp2, m)
	}
	if m := got[e.mp]; m.State != "serving" {
		t.Errorf("status of %s beside a dead mount: %+v, want serving", e.mp, m)
	}
	code, out = e.runOssmount(t, nil, "status")
	if code != 0 || !strings.Contains(out, mp2+": not responding: ") {
		t.Errorf("ossmount status exited %d; want 0 and %s named as not responding:\n%s", code, mp2, out)
	}
	if code, out := e.runOssmount(t, nil, "unmount", e.mp); code != 0 {
		t.Fatalf("ossmount unmount exited %d:\n%s", code, out)
	}
	if _, listed := e.status(t)[e.mp]; listed {
		t.Errorf("%s is still listed after its unmount", e.mp)
	}
}

// unixGetxattr reads a numeric extended attribute.
func unixGetxattr(path, name string) (int, error) {
	buf := make([]byte, 64)
	n, err := unix.Getxattr(path, name, buf)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(buf[:n]))
}
