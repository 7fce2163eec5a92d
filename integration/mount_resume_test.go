package integration

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
	"golang.org/x/sys/unix"
)

const resumeSize = 16 << 20

// readPrefix reads the first n bytes of a file of the mount.
func readPrefix(t testing.TB, path string, n int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(f, buf); err != nil {
		t.Fatalf("read %d bytes of %s: %v", n, path, err)
	}
	return buf
}

// readBackwards reads the first n bytes of a file 1 MiB at a time from the
// end, with the kernel's read-ahead off, so that neither the kernel nor the
// mount's prefetch asks for anything past n.
func readBackwards(t testing.TB, path string, n int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, n)
	for off := (n - 1) / (1 << 20) * (1 << 20); off >= 0; off -= 1 << 20 {
		end := min(off+1<<20, n)
		if _, err := f.ReadAt(buf[off:end], off); err != nil {
			t.Fatalf("read %s at %d: %v", path, off, err)
		}
	}
	return buf
}

// checkResumed reads a file of which the first half was read before the
// cache directory changed hands: the first half costs no GET, the whole
// file at most the other half.
func checkResumed(t *testing.T, e *mountEnv, data []byte) {
	t.Helper()
	half := int64(len(data) / 2)
	before := e.stats()
	mustEqual(t, "first half after resume", readBackwards(t, e.path("r.bin"), half), data[:half])
	if gets := e.stats().Gets - before.Gets; gets != 0 {
		t.Errorf("reading the half read before cost %d GETs, want 0", gets)
	}
	mustEqual(t, "whole file after resume", copyMounted(t, e.path("r.bin")), data)
	if b := e.stats().BodyBytes - before.BodyBytes; b > int64(len(data))-half {
		t.Errorf("reading the whole file after resume fetched %d bytes, want at most the other half (%d)", b, int64(len(data))-half)
	}
}

func TestMountRemountResume(t *testing.T) {
	e := newMountEnv(t)
	data := e.put("r.bin", testutil.RandomBytes(30, resumeSize))
	e.mountDefault()
	half := int64(len(data) / 2)
	mustEqual(t, "first half", readPrefix(t, e.path("r.bin"), half), data[:half])
	e.unmount()

	e.mountDefault()
	checkResumed(t, e, data)
}

// A mount killed with SIGKILL leaves a consistent cache: after a lazy
// unmount of the dead mount and a new mount on the same cache directory,
// nothing read before is fetched again.
func TestMountKill9Resume(t *testing.T) {
	e := newMountEnv(t)
	data := e.put("r.bin", testutil.RandomBytes(31, resumeSize))
	half := int64(len(data) / 2)

	metrics := freeAddr(t)
	child := exec.Command(ossmountBinary(t), "mount", "--foreground",
		"--endpoint", e.srv.Endpoint, "--region", "cn-hangzhou",
		"--cache-dir", e.cacheDir, "--metrics-addr", metrics,
		// A small window keeps the object incomplete, so that re-reads
		// reach the process (a complete one is read by the kernel).
		"--read-ahead", "1MiB",
		"oss://"+mountBucket, e.mp)
	child.Env = append(os.Environ(), "OSS_ACCESS_KEY_ID="+e.creds.AccessKeyID, "OSS_ACCESS_KEY_SECRET="+e.creds.AccessKeySecret)
	logs := &testutil.LogBuffer{}
	child.Stderr = logs
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { child.Wait(); close(exited) }()
	killed := false
	t.Cleanup(func() {
		if !killed {
			child.Process.Kill()
			<-exited
			syscall.Unmount(e.mp, syscall.MNT_DETACH)
		}
	})
	testutil.Eventually(t, 30*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("mount process exited early:\n%s", logs.String())
		default:
		}
		_, err := os.Stat(e.path("r.bin"))
		return err == nil
	}, "the child's mount")
	mustEqual(t, "first half through the child", readPrefix(t, e.path("r.bin"), half), data[:half])

	// Blocks are recorded in the cache's index a moment after they are
	// served, once the burst of fetching is over: wait until a re-read of
	// exactly the first half is all cache hits and nothing written waits
	// to be recorded.
	testutil.Eventually(t, 30*time.Second, func() bool {
		dropPageCache(t, e.path("r.bin"))
		hits := scrapeMetric(t, metrics, "ossmount_cache_hit_bytes_total")
		readBackwards(t, e.path("r.bin"), half)
		return scrapeMetric(t, metrics, "ossmount_cache_hit_bytes_total")-hits >= float64(half) &&
			scrapeMetric(t, metrics, "ossmount_cache_unrecorded_bytes") == 0
	}, "the first half to be recorded in the cache")

	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	killed = true
	if err := syscall.Unmount(e.mp, syscall.MNT_DETACH); err != nil {
		t.Fatalf("lazy unmount of the dead mount: %v", err)
	}

	e.mountDefault()
	checkResumed(t, e, data)
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// scrapeMetric reads a metric of one series (labelled or not) from a
// Prometheus endpoint.
func scrapeMetric(t testing.TB, addr, name string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
			v := rest[strings.LastIndexByte(rest, ' ')+1:] // label values may hold spaces, the value none
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}
