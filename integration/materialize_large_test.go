package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/materialize"
	"github.com/ossmount/ossmount/object"
)

// An object larger than the cache's cap is materialized anyway, byte
// exact and verified, without passing through the cache: the versions the
// cache holds stay, and nothing is left beside DEST.
func TestMaterializeCLILargerThanTheCache(t *testing.T) {
	e := newMatEnv(t)
	other := e.put("other.bin", testutil.RandomBytes(60, 2*mib))
	e.prefill("other.bin", object.Range{Off: 0, Len: int64(len(other))})
	data := e.put("large.bin", testutil.RandomBytes(61, 12*mib+7))
	dest := e.dest("large.bin")

	r := e.run("--progress=json", "--cache-size", "4MiB", "oss://"+matBucket+"/large.bin", dest)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	assertFile(t, dest, data)
	assertNoTemps(t, e.outDir)
	assertMissing(t, filepath.Join(e.outDir, ".large.bin.ossmount-partial"))
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var last jsonProgress
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Result == nil {
		t.Fatalf("last progress line %q: %v", lines[len(lines)-1], err)
	}
	if !last.Result.Verified || last.Result.Install != materialize.InstallMove {
		t.Errorf("result %+v: want verified and moved into place", last.Result)
	}
	if strings.Contains(r.stderr, "cannot") || !strings.Contains(r.stderr, "does not fit in the cache") {
		t.Errorf("stderr %q: want only the note that the object bypasses the cache", r.stderr)
	}
	if got := e.cacheHolds("other.bin"); got != int64(len(other)) {
		t.Errorf("the cache holds %d of other.bin's %d bytes: evicted for an object that does not fit", got, len(other))
	}
	if got := allocatedUnder(t, filepath.Join(e.cacheDir, "data")); got > 4*mib {
		t.Errorf("the cache's data files take %d bytes, over its 4 MiB cap", got)
	}
}

// A run of an object larger than the cache that is cancelled half-way
// leaves its blocks beside DEST, recorded in the cache's index; the rerun
// fetches only the rest.
func TestMaterializeLargerThanTheCacheResumes(t *testing.T) {
	e := newMatEnv(t)
	data := e.put("resume.bin", testutil.RandomBytes(62, 16*mib+3))
	size := int64(len(data))
	dest := e.dest("resume.bin")
	req := e.request(materialize.Request{Key: "resume.bin", Dest: dest, Threads: 2, PartSize: 1 << 20, MultigetThreshold: 1})
	run := func(ctx context.Context, progress func(done, total int64)) (materialize.Result, error) {
		client := e.client()
		c, err := cache.Open(cache.Options{Dir: e.cacheDir, Logger: e.log, MaxBytes: 4 << 20}, client)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return materialize.Materialize(ctx, c, client, req, progress)
	}

	// Paced bodies, so that the cancel lands while blocks are still to come.
	e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 16 << 20})
	ctx, cancel := context.WithCancel(context.Background())
	var doneAtCancel int64
	_, err := run(ctx, func(done, total int64) {
		if total > 0 && done >= total/2 && doneAtCancel == 0 {
			doneAtCancel = done
			cancel()
		}
	})
	cancel()
	if err == nil || doneAtCancel == 0 {
		t.Fatalf("the first run was not cut short (err %v, done %d)", err, doneAtCancel)
	}
	assertMissing(t, dest)
	if _, err := os.Stat(filepath.Join(e.outDir, ".resume.bin.ossmount-partial")); err != nil {
		t.Fatalf("no partial file beside DEST: %v", err)
	}

	e.srv.SetFaults(ossserver.Faults{})
	e.srv.ResetStats()
	res, err := run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)
	assertNoTemps(t, e.outDir)
	fetched := e.srv.Stats().BodyBytes
	if fetched > size-doneAtCancel || fetched == 0 {
		t.Errorf("the rerun fetched %d bytes; %d were recorded before the cancel, so at most %d were left",
			fetched, doneAtCancel, size-doneAtCancel)
	}
	if !res.Verified || res.ReusedBytes < doneAtCancel {
		t.Errorf("result %+v: want verified, reusing at least %d bytes", res, doneAtCancel)
	}
}

// kill -9 half-way through an object larger than the cache: the partial
// file beside DEST and the blocks the index recorded survive, and the
// rerun fetches only what the killed run had not reported.
func TestMaterializeCLILargerThanTheCacheResumesAfterKill9(t *testing.T) {
	e := newMatEnv(t)
	size := 24*mib + 5
	data := e.put("k9large.bin", testutil.RandomBytes(64, size))
	dest := e.dest("k9large.bin")
	src := "oss://" + matBucket + "/k9large.bin"
	e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 4 * mib})

	run := e.start("--cache-size", "4MiB", "--threads", "2", "--part-size", "1MiB", src, dest)
	p := run.waitProgress(t, func(p jsonProgress) bool { return p.Total != nil && p.Done >= 4*mib })
	if err := run.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	run.wait(t)
	if p.Done >= int64(size) {
		t.Fatalf("the run finished before it could be killed")
	}
	assertMissing(t, dest)
	if _, err := os.Stat(filepath.Join(e.outDir, ".k9large.bin.ossmount-partial")); err != nil {
		t.Fatalf("no partial file beside DEST after the kill: %v", err)
	}

	e.srv.SetFaults(ossserver.Faults{})
	e.srv.ResetStats()
	r := e.run("--progress=none", "--cache-size", "4MiB", src, dest)
	if r.code != 0 {
		t.Fatalf("rerun: exit %d: %s", r.code, r.stderr)
	}
	assertFile(t, dest, data)
	assertNoTemps(t, e.outDir)
	assertMissing(t, filepath.Join(e.outDir, ".k9large.bin.ossmount-partial"))
	// One part of slack: the server counts body bytes as it writes them,
	// which is not exactly what the client kept.
	if got, left := e.srv.Stats().BodyBytes, int64(size)-p.Done; got > left+mib {
		t.Errorf("the rerun fetched %d bytes, more than the %d the killed run had not reported (plus one part)", got, left)
	}
}

// What would fail at the end fails before the first GET: no room on
// DEST's filesystem (whether the object goes through the cache or beside
// DEST), or a read-only one.
func TestMaterializeCLIFailsEarlyOnDest(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	e := newMatEnv(t)
	e.put("early.bin", testutil.RandomBytes(63, 3*mib))
	src := "oss://" + matBucket + "/early.bin"
	mountTmpfs := func(opts string) string {
		dir := t.TempDir()
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
			t.Skipf("cannot mount a tmpfs: %v", err)
		}
		t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
		return dir
	}
	small := mountTmpfs("size=1m")
	ro := mountTmpfs("size=16m")
	if err := unix.Mount("", ro, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"full, through the cache", []string{src, filepath.Join(small, "early.bin")}, "free"},
		{"full, beside DEST", []string{"--cache-size", "1MiB", src, filepath.Join(small, "early.bin")}, "free"},
		{"read-only", []string{src, filepath.Join(ro, "early.bin")}, "read-only file system"},
	} {
		before := e.srv.Stats()
		r := e.run(append([]string{"--progress=none"}, c.args...)...)
		msg := strings.TrimSpace(r.stderr)
		if r.code != 6 || strings.Contains(msg, "\n") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: exit %d, %q; want exit 6 and one line saying %q", c.name, r.code, msg, c.want)
		}
		if gets := e.srv.Stats().Gets - before.Gets; gets != 0 {
			t.Errorf("%s: %d GETs before the refusal", c.name, gets)
		}
		if entries, _ := os.ReadDir(small); len(entries) != 0 {
			t.Errorf("%s: left %v on the full filesystem", c.name, entries)
		}
	}
}

// allocatedUnder sums the disk space the files under dir take.
func allocatedUnder(t *testing.T, dir string) int64 {
	t.Helper()
	var sum int64
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			return err
		}
		sum += st.Blocks * 512
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}
