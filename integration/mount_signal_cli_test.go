package integration

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/testutil"
)

// signalBound is how long a signalled mount may take to end, whatever its
// readers do: about 10 s, with room for a loaded machine. It guards
// against hangs; it is no performance figure.
const signalBound = 15 * time.Second

// signalled is a mount process to be signalled while a file in it is held
// open and another is being read from a slow server.
type signalled struct {
	proc     *foregroundMount
	mp       string
	cacheDir string
	stats    func() ossserver.Stats // the serving OSS server's counters
	held     string                 // a small file, opened and never closed
	slow     string                 // a large file, read at a slow pace
}

// startSlowForeground is "ossmount mount --foreground" against a server
// that sends object bodies at 64 KiB/s.
func startSlowForeground(t *testing.T) signalled {
	e := newMountEnv(t)
	e.put("held.txt", []byte("held open"))
	e.put("slow.bin", testutil.RandomBytes(7, 8<<20))
	e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 64 << 10})
	m := e.startForeground(t, "held.txt")
	return signalled{proc: m, mp: e.mp, cacheDir: e.cacheDir, stats: e.srv.Stats, held: e.path("held.txt"), slow: e.path("slow.bin")}
}

// startSlowDemo is "ossmount demo" with its built-in server at 64 KiB/s.
func startSlowDemo(t *testing.T) signalled {
	requireFUSE(t)
	mp, cacheDir := t.TempDir(), t.TempDir()
	cmd := exec.Command(ossmountBinary(t), "demo", "--big-size", "8MiB", "--latency", "0", "--bandwidth", "64KiB",
		"--cache-dir", cacheDir, mp)
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
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
		syscall.Unmount(mp, syscall.MNT_DETACH)
	})
	served := regexp.MustCompile(`served at (http://[^)\s]+)`)
	var endpoint string
	testutil.Eventually(t, 60*time.Second, func() bool {
		if m.hasExited() {
			t.Fatalf("demo exited early:\n%s", m.out)
		}
		match := served.FindStringSubmatch(m.out.String())
		if match == nil {
			return false
		}
		endpoint = match[1]
		_, err := os.Stat(filepath.Join(mp, "README.txt"))
		return err == nil
	}, "the demo to be mounted")
	stats := func() ossserver.Stats {
		var st ossserver.Stats
		resp, err := http.Get(endpoint + "/-/stats")
		if err != nil {
			t.Errorf("demo server stats: %v", err)
			return st
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Errorf("demo server stats: %v", err)
		}
		return st
	}
	return signalled{proc: m, mp: mp, cacheDir: cacheDir, stats: stats,
		held: filepath.Join(mp, "README.txt"), slow: filepath.Join(mp, "big.bin")}
}

// busy holds s.held open and starts a read of s.slow, returning once that
// read is receiving bytes from the server and the result of the read.
func (s signalled) busy(t *testing.T) <-chan error {
	t.Helper()
	held, err := os.Open(s.held)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	readErr := make(chan error, 1)
	go func() {
		f, err := os.Open(s.slow)
		if err != nil {
			readErr <- err
			return
		}
		defer f.Close()
		_, err = f.Read(make([]byte, 4<<20))
		readErr <- err
	}()
	testutil.Eventually(t, 30*time.Second, func() bool { return s.stats().BodyBytes > 0 }, "the slow read to receive bytes")
	select {
	case err := <-readErr:
		t.Fatalf("the read of a file served at 64 KiB/s finished at once: %v", err)
	default:
	}
	return readErr
}

// waitExit waits up to bound for the process to end and returns how long
// it took.
func (s signalled) waitExit(t *testing.T, bound time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-s.proc.exited:
		return time.Since(start)
	case <-time.After(bound):
		t.Fatalf("%s: the process did not end within %v:\n%s", what, bound, s.proc.out)
		return 0
	}
}

func signalTests(t *testing.T, run func(t *testing.T, start func(*testing.T) signalled)) {
	t.Run("mount --foreground", func(t *testing.T) { run(t, startSlowForeground) })
	t.Run("demo", func(t *testing.T) { run(t, startSlowDemo) })
}

// SIGTERM ends the process within about 10 s although a file in the mount
// stays open and a read is blocked on a slow server; the cache is closed
// on the way out and the mountpoint is left unmounted.
func TestMountCLISignalWithFilesOpen(t *testing.T) {
	signalTests(t, func(t *testing.T, start func(*testing.T) signalled) {
		s := start(t)
		readErr := s.busy(t)
		if err := s.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		took := s.waitExit(t, signalBound, "SIGTERM with files open")
		t.Logf("ended %v after SIGTERM", took)
		if code := s.proc.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit code %d after SIGTERM:\n%s", code, s.proc.out)
		}
		select {
		case err := <-readErr:
			if err == nil {
				t.Errorf("the blocked read succeeded")
			}
		case <-time.After(signalBound):
			t.Errorf("the blocked read did not return after the mount's process ended")
		}
		if isMounted(t, s.mp) {
			t.Errorf("%s is still mounted", s.mp)
		}
		checkCacheClosed(t, s)
	})
}

// A second signal ends the process at once, without waiting for files to
// be closed.
func TestMountCLISecondSignal(t *testing.T) {
	signalTests(t, func(t *testing.T, start func(*testing.T) signalled) {
		s := start(t)
		s.busy(t)
		if err := s.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, signalBound, func() bool {
			return strings.Contains(s.proc.out.String(), "detaching it")
		}, "the mount to say it detaches")
		if err := s.proc.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		// The files stay open: only the second signal can end the process
		// this soon.
		took := s.waitExit(t, 3*time.Second, "a second signal")
		t.Logf("ended %v after the second signal", took)
		if isMounted(t, s.mp) {
			t.Errorf("%s is still mounted", s.mp)
		}
		// Ended without closing the cache, it opens as after a crash.
		c, err := cache.Open(cache.Options{Dir: s.cacheDir, MinFreeRatio: -1}, nil)
		if err != nil {
			t.Fatalf("the cache after a second signal: %v", err)
		}
		c.Close()
	})
}

// checkCacheClosed checks that the process closed its cache before it
// ended: it logged the mount's end and no forced exit, and the cache opens.
func checkCacheClosed(t *testing.T, s signalled) {
	t.Helper()
	out := s.proc.out.String()
	if !strings.Contains(out, "msg=unmounted") || strings.Contains(out, "exiting") {
		t.Errorf("the process did not end on its normal path:\n%s", out)
	}
	if strings.Contains(out, "closing the cache") {
		t.Errorf("closing the cache failed:\n%s", out)
	}
	c, err := cache.Open(cache.Options{Dir: s.cacheDir, MinFreeRatio: -1}, nil)
	if err != nil {
		t.Fatalf("the cache after the mount ended: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("close the cache: %v", err)
	}
}
