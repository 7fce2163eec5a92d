package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ossmount/ossmount/internal/testutil"
)

// When the disk under a running mount's cache goes away (its tmpfs lazily
// unmounted, or the cache directory removed), reads go on from the network
// with exact bytes, and SIGTERM ends the process on its normal path within
// about 10 s: closing the cache gives up on the index instead of retrying
// forever, the mountpoint is left unmounted, and badger's retries do not
// flood the log.
func TestMountCLICacheDiskGoesAway(t *testing.T) {
	for _, how := range []string{"lazy unmount", "remove"} {
		t.Run(how, func(t *testing.T) {
			e := newMountEnv(t)
			disk := ownTmpfs(t, 64<<20)
			e.cacheDir = filepath.Join(disk, "cache")
			a := e.put("a.bin", testutil.RandomBytes(1, 3<<20))
			b := e.put("b.bin", testutil.RandomBytes(2, 3<<20))
			m := e.startForeground(t, "a.bin", "--log-file=-")
			mustEqual(t, "a.bin, cache on its disk", readMounted(t, e.path("a.bin")), a)

			switch how {
			case "lazy unmount":
				if err := syscall.Unmount(disk, syscall.MNT_DETACH); err != nil {
					t.Fatal(err)
				}
			case "remove":
				if err := os.RemoveAll(e.cacheDir); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := os.Stat(e.cacheDir); !os.IsNotExist(err) {
				t.Fatalf("the cache directory is still there: %v", err)
			}
			mustEqual(t, "b.bin, cache gone", readMounted(t, e.path("b.bin")), b)
			mustEqual(t, "a.bin, cache gone", copyMounted(t, e.path("a.bin")), a)

			if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			s := signalled{proc: m, mp: e.mp}
			took := s.waitExit(t, signalBound, "SIGTERM with the cache's disk gone")
			t.Logf("ended %v after SIGTERM", took)
			if isMounted(t, e.mp) {
				t.Errorf("%s is still mounted", e.mp)
			}
			out := m.out.String()
			if !strings.Contains(out, "msg=unmounted") || strings.Contains(out, "exiting") {
				t.Errorf("the process did not end on its normal path:\n%s", out)
			}
			if !strings.Contains(out, "closing without finishing the index") {
				t.Errorf("the process did not say what it could not record:\n%s", out)
			}
			if n := strings.Count(out, "error flushing memtable"); n > 3 {
				t.Errorf("badger's retry logged %d times, want at most 3:\n%s", n, out)
			}
		})
	}
}
