package integration

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/materialize"
	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

const mib = 1 << 20

func TestMaterializeFreshObjectIsByteExact(t *testing.T) {
	e := newMatEnv(t)
	data := e.put("data/big.bin", testutil.RandomBytes(10, 37*mib+12345))
	dest := e.dest("big.bin")

	res, err := e.materialize(materialize.Request{Key: "data/big.bin", Dest: dest, PartSize: 4 * mib, Threads: 8})
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)
	assertNoTemps(t, e.outDir)
	st := e.srv.Stats()
	if st.BodyBytes != int64(len(data)) {
		t.Errorf("server sent %d body bytes, want %d (each byte once)", st.BodyBytes, len(data))
	}
	if st.Heads != 1 {
		t.Errorf("%d HEADs, want 1", st.Heads)
	}
	if !res.Verified || res.FetchedBytes != int64(len(data)) || res.ReusedBytes != 0 || res.Size != int64(len(data)) {
		t.Errorf("result %+v", res)
	}
	// A new file's mode follows the umask, whatever the cache's files use.
	if fi, err := os.Stat(dest); err != nil || fi.Mode().Perm()&0o600 != 0o600 {
		t.Errorf("dest mode %v, %v", fi.Mode(), err)
	}
}

func TestMaterializeSmallObjectTakesOneGET(t *testing.T) {
	e := newMatEnv(t)
	data := e.put("small.bin", testutil.RandomBytes(11, 3_000_000))
	dest := e.dest("small.bin")

	// Parts of 1 MiB would be 3 GETs; below the threshold it is one.
	if _, err := e.materialize(materialize.Request{Key: "small.bin", Dest: dest, PartSize: mib}); err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)
	if st := e.srv.Stats(); st.Gets != 1 || st.BodyBytes != int64(len(data)) {
		t.Errorf("%d GETs of %d bytes, want 1 of %d", st.Gets, st.BodyBytes, len(data))
	}
}

// The threshold, not a limit of the cache, decides: 9 MB under the
// default 10MB threshold is one GET, however small the parts.
func TestMaterializeUnderDefaultThresholdIsOneGET(t *testing.T) {
	e := newMatEnv(t)
	data := e.put("nine.bin", testutil.RandomBytes(16, 9_000_000))
	dest := e.dest("nine.bin")
	if _, err := e.materialize(materialize.Request{Key: "nine.bin", Dest: dest, PartSize: mib}); err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)
	if st := e.srv.Stats(); st.Gets != 1 || st.BodyBytes != int64(len(data)) {
		t.Errorf("%d GETs of %d bytes, want 1 of %d", st.Gets, st.BodyBytes, len(data))
	}
}

// Above the threshold each GET fetches one part of --part-size bytes.
func TestMaterializePartSizeIsTheGETSize(t *testing.T) {
	e := newMatEnv(t)
	data := e.put("parts.bin", testutil.RandomBytes(17, 64*mib))
	dest := e.dest("parts.bin")
	if _, err := e.materialize(materialize.Request{Key: "parts.bin", Dest: dest, PartSize: 16 * mib}); err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)
	if st := e.srv.Stats(); st.Gets != 4 || st.BodyBytes != int64(len(data)) {
		t.Errorf("%d GETs of %d bytes, want 4 of %d", st.Gets, st.BodyBytes, len(data))
	}
}

func TestMaterializeEmptyObject(t *testing.T) {
	e := newMatEnv(t)
	e.put("empty", nil)
	dest := e.dest("empty")
	if _, err := e.materialize(materialize.Request{Key: "empty", Dest: dest}); err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, nil)
	if st := e.srv.Stats(); st.Gets != 0 {
		t.Errorf("%d GETs for an empty object", st.Gets)
	}
}

// Blocks read earlier (through a mount, or by an interrupted run) are not
// fetched again: the server sends exactly the missing bytes.
func TestMaterializeReusesCachedBlocks(t *testing.T) {
	e := newMatEnv(t)
	size := 24*mib + 777
	data := e.put("reuse.bin", testutil.RandomBytes(12, size))
	prefilled := []object.Range{{Off: 0, Len: 3 * mib}, {Off: 10 * mib, Len: 5 * mib}, {Off: 24 * mib, Len: 777}}
	e.prefill("reuse.bin", prefilled...)
	e.srv.ResetStats()

	dest := e.dest("reuse.bin")
	res, err := e.materialize(materialize.Request{Key: "reuse.bin", Dest: dest, PartSize: 2 * mib})
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)
	var have int64
	for _, r := range prefilled {
		have += r.Len
	}
	missing := int64(size) - have
	if st := e.srv.Stats(); st.BodyBytes != missing {
		t.Errorf("server sent %d body bytes, want the %d missing ones", st.BodyBytes, missing)
	}
	if res.ReusedBytes != have || res.FetchedBytes != missing {
		t.Errorf("reused %d fetched %d, want %d and %d", res.ReusedBytes, res.FetchedBytes, have, missing)
	}
}

// A fully cached object costs one HEAD and no object bytes; with
// --keep-cache the cache keeps it for the next run, without it the cache
// file is moved into place.
func TestMaterializeFullyCachedFetchesNothing(t *testing.T) {
	e := newMatEnv(t)
	data := e.put("cached.bin", testutil.RandomBytes(13, 9*mib+5))

	first, second, third := e.dest("first"), e.dest("second"), e.dest("third")
	if _, err := e.materialize(materialize.Request{Key: "cached.bin", Dest: first, KeepCache: true}); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetStats()
	res, err := e.materialize(materialize.Request{Key: "cached.bin", Dest: second})
	if err != nil {
		t.Fatal(err)
	}
	st := e.srv.Stats()
	if st.Gets != 0 || st.BodyBytes != 0 || st.Heads != 1 {
		t.Errorf("fully cached run: %d GETs, %d body bytes, %d HEADs; want 0, 0, 1", st.Gets, st.BodyBytes, st.Heads)
	}
	if res.ReusedBytes != int64(len(data)) || res.FetchedBytes != 0 || !res.Verified {
		t.Errorf("result %+v", res)
	}
	if res.Install != materialize.InstallMove && res.Install != materialize.InstallReflink {
		t.Errorf("installed by %s, want a move (or a reflink) on the same filesystem", res.Install)
	}
	assertFile(t, first, data)
	assertFile(t, second, data)

	// The move took the file out of the cache (a reflink left it there).
	e.srv.ResetStats()
	if _, err := e.materialize(materialize.Request{Key: "cached.bin", Dest: third}); err != nil {
		t.Fatal(err)
	}
	assertFile(t, third, data)
	if res.Install == materialize.InstallMove && e.srv.Stats().BodyBytes != int64(len(data)) {
		t.Errorf("after a move the cache should have had to fetch again")
	}
	assertNoTemps(t, e.outDir)
}

// The blocks of an older version are discarded, never spliced into the new.
func TestMaterializeObjectReplacedBetweenRuns(t *testing.T) {
	e := newMatEnv(t)
	old := e.put("v.bin", testutil.RandomBytes(14, 12*mib))
	e.prefill("v.bin", object.Range{Off: 0, Len: 6 * mib})
	fresh := e.put("v.bin", testutil.RandomBytes(15, 12*mib))
	if string(old[:100]) == string(fresh[:100]) {
		t.Fatal("test data is not different")
	}
	e.srv.ResetStats()

	dest := e.dest("v.bin")
	res, err := e.materialize(materialize.Request{Key: "v.bin", Dest: dest})
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, fresh)
	if st := e.srv.Stats(); st.BodyBytes != int64(len(fresh)) {
		t.Errorf("fetched %d bytes of the new version, want all %d", st.BodyBytes, len(fresh))
	}
	if res.ReusedBytes != 0 {
		t.Errorf("reused %d bytes of another version", res.ReusedBytes)
	}
	want := "changed since the last run: discarding 6291456 cached bytes of the old version"
	if n := strings.Count(strings.Join(res.Notes, "\n"), want); n != 1 {
		t.Errorf("notes %q: want one saying %q", res.Notes, want)
	}
}

func TestMaterializeReplacesDestAtomically(t *testing.T) {
	e := newMatEnv(t)
	data := e.put("r.bin", testutil.RandomBytes(16, 5*mib))
	dest := e.dest("r.bin")
	if err := os.WriteFile(dest, []byte("old contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Held open across the run: it must keep seeing the old file whole.
	old, err := os.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := e.materialize(materialize.Request{Key: "r.bin", Dest: dest}); err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)
	buf := make([]byte, 100)
	n, _ := old.ReadAt(buf, 0)
	if string(buf[:n]) != "old contents" {
		t.Errorf("the old file changed under its reader: %q", buf[:n])
	}
}

func TestMaterializeNoClobber(t *testing.T) {
	e := newMatEnv(t)
	e.put("nc.bin", testutil.RandomBytes(17, 2*mib))
	dest := e.dest("nc.bin")
	os.WriteFile(dest, []byte("keep me"), 0o644)

	_, err := e.materialize(materialize.Request{Key: "nc.bin", Dest: dest, NoClobber: true})
	if !errors.Is(err, materialize.ErrExists) {
		t.Fatalf("err = %v, want ErrExists", err)
	}
	assertFile(t, dest, []byte("keep me"))
	if st := e.srv.Stats(); st.Gets != 0 {
		t.Errorf("%d GETs although DEST existed before the run", st.Gets)
	}
	assertNoTemps(t, e.outDir)
}

// A run killed while writing DEST's temporary file leaves it behind; the
// next run removes it.
func TestMaterializeRemovesStaleTempFiles(t *testing.T) {
	e := newMatEnv(t)
	data := e.put("st.bin", testutil.RandomBytes(18, mib))
	dest := e.dest("st.bin")
	stale := dest + ".ossmount-tmp-5ca1ab1e5ca1ab1e"
	os.WriteFile(stale, []byte("half a file"), 0o644)

	res, err := e.materialize(materialize.Request{Key: "st.bin", Dest: dest})
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)
	assertMissing(t, stale)
	assertNoTemps(t, e.outDir)
	if len(res.Notes) == 0 || !strings.Contains(strings.Join(res.Notes, "\n"), "temporary") {
		t.Errorf("no note about the removed file: %q", res.Notes)
	}
}

func TestMaterializeMissingObject(t *testing.T) {
	e := newMatEnv(t)
	dest := e.dest("nope")
	_, err := e.materialize(materialize.Request{Key: "does/not/exist", Dest: dest})
	if !errors.Is(err, rangefetch.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	assertMissing(t, dest)
	_, err = e.materialize(materialize.Request{Bucket: "no-such-bucket", Key: "k", Dest: dest})
	if !errors.Is(err, rangefetch.ErrNoSuchBucket) && !errors.Is(err, rangefetch.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNoSuchBucket", err)
	}
}
