package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/internal/fs"
	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/materialize"
)

// DEST on another filesystem than the cache: the cache file cannot be
// moved there, so it is copied, and the cache keeps the object.
func TestMaterializeToAnotherFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	e := newMatEnv(t)
	data := e.put("x.bin", testutil.RandomBytes(50, 9*mib+321))
	other := t.TempDir()
	if err := unix.Mount("tmpfs", other, "tmpfs", 0, "size=64m,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(other, unix.MNT_DETACH) })

	dest := filepath.Join(other, "x.bin")
	res, err := e.materialize(materialize.Request{Key: "x.bin", Dest: dest})
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)
	assertNoTemps(t, other)
	if res.Install != materialize.InstallCopy {
		t.Errorf("installed by %s across filesystems, want copy", res.Install)
	}
	// The cache still has the whole object: a second run fetches nothing.
	e.srv.ResetStats()
	if _, err := e.materialize(materialize.Request{Key: "x.bin", Dest: filepath.Join(other, "again.bin")}); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(other, "again.bin"), data)
	if st := e.srv.Stats(); st.BodyBytes != 0 {
		t.Errorf("second run fetched %d bytes; the copy should have left the cache intact", st.BodyBytes)
	}
}

// SOURCE may be a file inside a running mount: bucket, key and cache
// directory come from its extended attributes, the request goes to the
// mount's process, and blocks the mount already read are not fetched again.
func TestMaterializeFromMountPath(t *testing.T) {
	requireFUSE(t)
	e := newMatEnv(t)
	size := 20*mib + 9
	data := e.put("dir/m.bin", testutil.RandomBytes(51, size))
	client := e.client()
	c := e.openCache(client)
	t.Cleanup(func() { c.Close() })
	mp := t.TempDir()
	m, err := fs.Mount(mp, fs.Config{Store: client, Cache: c, Bucket: matBucket, CacheDir: e.cacheDir, Logger: e.log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if m.Unmount() != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			m.UnmountForce(ctx)
		}
	})
	// What "ossmount mount" does next to the mount.
	server, err := materialize.StartServer(context.Background(), c, client, e.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })

	// Read the first 4 MiB through the mount.
	f, err := os.Open(filepath.Join(mp, "dir", "m.bin"))
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 4*mib)
	if _, err := f.ReadAt(head, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	mustEqual(t, "read through the mount", head, data[:4*mib])

	// No --cache-dir, and an endpoint that does not work: everything must
	// come from the mount.
	dest := e.dest("m.bin")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := e.bareCommand(ctx, "materialize", "--progress=json", "--endpoint", "127.0.0.1:1", filepath.Join(mp, "dir", "m.bin"), dest)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("materialize from the mount: %v: %s", err, out)
	}
	assertFile(t, dest, data)
	// The blocks the mount read count as reused, even those it had not
	// yet recorded when the request came.
	var last jsonProgress
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if err := json.Unmarshal([]byte(line), &last); err != nil {
			t.Fatalf("progress line %q: %v", line, err)
		}
	}
	if last.Result == nil || last.Result.ReusedBytes < 4*mib {
		t.Errorf("result %+v: want at least the 4 MiB read through the mount reused", last.Result)
	}
	if st := e.srv.Stats(); st.BodyBytes != int64(size) {
		t.Errorf("mount and materialize together fetched %d bytes, want each of the %d once", st.BodyBytes, size)
	}
}
