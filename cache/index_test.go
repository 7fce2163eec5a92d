package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

func openTestIndex(t *testing.T, dir string) *index {
	t.Helper()
	ix, err := openIndex(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func testMeta(bucket, key, etag string, access int64) (vid, meta) {
	return versionID(bucket, key, etag), meta{Bucket: bucket, Key: key, ETag: etag, Size: 3 * testBS, Inode: 42, Access: access, Created: 1}
}

// rawIndex returns every key and value of the database, as doc.go lays
// them out.
func rawIndex(t *testing.T, ix *index) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	err := ix.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(it.Item().KeyCopy(nil))] = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIndexKeyLayout pins the on-disk format of doc.go: a cache directory
// written by an earlier build must open and serve as before.
func TestIndexKeyLayout(t *testing.T) {
	ix := openTestIndex(t, t.TempDir())
	defer ix.close()
	if _, err := ix.blockSize(testBS); err != nil {
		t.Fatal(err)
	}
	id, m := testMeta("bkt", "dir/obj", `"E1"`, 0x0102030405060708)
	if err := ix.putMeta(id, m, 0, true); err != nil {
		t.Fatal(err)
	}
	if err := ix.recordBlocks([]blockRecord{{id: id, block: 2, crc: 0xA1B2C3D4E5F60718}}); err != nil {
		t.Fatal(err)
	}

	full := sha256.Sum256([]byte("bkt\x00dir/obj\x00\"E1\""))
	if !bytes.Equal(id[:], full[:16]) {
		t.Fatalf("vid %x, want the first 16 bytes of %x", id, full)
	}
	keySum := sha256.Sum256([]byte("bkt\x00dir/obj"))
	be := func(n uint64) string { return string(binary.BigEndian.AppendUint64(nil, n)) }
	want := map[string][]byte{
		"cblocksize":                                 []byte(be(testBS)),
		"m" + string(id[:]):                          m.encode(),
		"b" + string(id[:]) + be(2):                  []byte(be(0xA1B2C3D4E5F60718)),
		"k" + string(keySum[:16]):                    id[:],
		"r" + be(0x0102030405060708) + string(id[:]): {},
	}
	got := rawIndex(t, ix)
	if len(got) != len(want) {
		t.Fatalf("%d keys, want %d: %q", len(got), len(want), slices.Collect(maps.Keys(got)))
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || !bytes.Equal(g, v) {
			t.Errorf("key %q = %x (present %v), want %x", k, g, ok, v)
		}
	}

	// The record's encoding: format 1, three uvarint-prefixed strings,
	// flags, then size, CRC64, inode, access and creation time.
	rec := []byte{1, 3, 'b', 'k', 't', 7, 'd', 'i', 'r', '/', 'o', 'b', 'j', 4, '"', 'E', '1', '"', 0}
	for _, n := range []uint64{3 * testBS, 0, 42, 0x0102030405060708, 1} {
		rec = binary.BigEndian.AppendUint64(rec, n)
	}
	if !bytes.Equal(m.encode(), rec) {
		t.Fatalf("record %x, want %x", m.encode(), rec)
	}
}

func TestIndexBlockSizeIsFixedAtCreation(t *testing.T) {
	dir := t.TempDir()
	ix := openTestIndex(t, dir)
	if bs, err := ix.blockSize(1 << 20); err != nil || bs != 1<<20 {
		t.Fatalf("block size %d, %v", bs, err)
	}
	ix.close()
	ix = openTestIndex(t, dir)
	defer ix.close()
	if bs, err := ix.blockSize(4096); err != nil || bs != 1<<20 {
		t.Fatalf("block size after reopen %d, %v; want the recorded 1 MiB", bs, err)
	}
}

func TestIndexRecordsAndForgetsVersions(t *testing.T) {
	ix := openTestIndex(t, t.TempDir())
	defer ix.close()
	old, mOld := testMeta("bkt", "k", `"1"`, 10)
	cur, mCur := testMeta("bkt", "k", `"2"`, 20)
	for _, v := range []struct {
		id vid
		m  meta
	}{{old, mOld}, {cur, mCur}} {
		if err := ix.putMeta(v.id, v.m, 0, true); err != nil {
			t.Fatal(err)
		}
	}
	if id, found, err := ix.currentVersion("bkt", "k"); err != nil || !found || id != cur {
		t.Fatalf("current version %v %v %v, want %v", id, found, err, cur)
	}
	if m, found, err := ix.getMeta(old); err != nil || !found || m != mOld {
		t.Fatalf("record %+v %v %v", m, found, err)
	}

	// Moving the access time moves the recency key: the version is listed
	// once, at its new place.
	mOld.Access = 30
	if err := ix.putMeta(old, mOld, 10, false); err != nil {
		t.Fatal(err)
	}
	none := func(vid) bool { return false }
	if ids, _, err := ix.leastRecentlyUsed(nil, 10, none); err != nil || !slices.Equal(ids, []vid{cur, old}) {
		t.Fatalf("recency order %v %v, want [%v %v]", ids, err, cur, old)
	}

	// Forgetting the old version leaves the key mapping, which names the
	// current one; forgetting the current one removes it.
	if err := ix.recordBlocks([]blockRecord{{old, 0, 1}, {old, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	if err := ix.deleteVersion(old); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := ix.getMeta(old); found {
		t.Fatal("deleted record still there")
	}
	if p, _, _ := ix.loadBlocks(old, 3); p.count() != 0 {
		t.Fatalf("%d blocks of a deleted version", p.count())
	}
	if id, found, _ := ix.currentVersion("bkt", "k"); !found || id != cur {
		t.Fatal("deleting an older version removed the key mapping")
	}
	if err := ix.deleteVersion(cur); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := ix.currentVersion("bkt", "k"); found {
		t.Fatal("key mapping of a deleted version still there")
	}
	if ids, _, _ := ix.leastRecentlyUsed(nil, 10, none); len(ids) != 0 {
		t.Fatalf("recency keys left: %v", ids)
	}
	if got := rawIndex(t, ix); len(got) != 0 {
		t.Fatalf("keys left: %q", slices.Collect(maps.Keys(got)))
	}
}

func TestIndexBlocks(t *testing.T) {
	ix := openTestIndex(t, t.TempDir())
	defer ix.close()
	id, _ := testMeta("bkt", "k", `"1"`, 1)
	other, _ := testMeta("bkt", "k", `"2"`, 1)
	// More blocks than deleteAllBlocks deletes per batch.
	const n = 10_001
	var recs []blockRecord
	for b := int64(0); b < n; b++ {
		recs = append(recs, blockRecord{id: id, block: b, crc: uint64(b) + 100})
	}
	recs = append(recs, blockRecord{id: other, block: 0, crc: 7})
	if err := ix.recordBlocks(recs); err != nil {
		t.Fatal(err)
	}
	present, crcs, err := ix.loadBlocks(id, n)
	if err != nil || present.count() != n {
		t.Fatalf("%d blocks present, %v", present.count(), err)
	}
	for b := int64(0); b < n; b++ {
		if crcs[b] != uint64(b)+100 {
			t.Fatalf("block %d has CRC %d", b, crcs[b])
		}
	}
	// Blocks past the version's end are not reported.
	if present, _, _ := ix.loadBlocks(id, 5); present.count() != 5 {
		t.Fatalf("%d of 5 blocks", present.count())
	}

	if err := ix.deleteBlocks(id, []int64{1, 3}); err != nil {
		t.Fatal(err)
	}
	present, _, _ = ix.loadBlocks(id, 5)
	if present.count() != 3 || present.has(1) || present.has(3) {
		t.Fatalf("after deleting blocks 1 and 3: %d present", present.count())
	}

	if err := ix.deleteAllBlocks(id); err != nil {
		t.Fatal(err)
	}
	if present, _, _ := ix.loadBlocks(id, n); present.count() != 0 {
		t.Fatalf("%d blocks left", present.count())
	}
	if present, crcs, _ := ix.loadBlocks(other, 1); present.count() != 1 || crcs[0] != 7 {
		t.Fatal("another version's block was deleted")
	}
}

func TestIndexLeastRecentlyUsedPages(t *testing.T) {
	ix := openTestIndex(t, t.TempDir())
	defer ix.close()
	var ids []vid
	for i := range 7 {
		id, m := testMeta("bkt", string(rune('a'+i)), `"1"`, int64(100-i)) // the last is the oldest
		if err := ix.putMeta(id, m, 0, true); err != nil {
			t.Fatal(err)
		}
		ids = append([]vid{id}, ids...)
	}
	skipped := ids[2]
	skip := func(id vid) bool { return id == skipped }
	var got []vid
	var after recencyCursor
	for range 10 {
		page, next, err := ix.leastRecentlyUsed(after, 2, skip)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 2 {
			t.Fatalf("page of %d", len(page))
		}
		got, after = append(got, page...), next
	}
	want := slices.Delete(slices.Clone(ids), 2, 3)
	if !slices.Equal(got, want) {
		t.Fatalf("walk %v, want %v", got, want)
	}
}

func TestIndexScans(t *testing.T) {
	ix := openTestIndex(t, t.TempDir())
	defer ix.close()
	// More versions than one chunk of forEachVersion.
	const n = 2500
	want := make(map[vid]bool)
	for i := range n {
		id, m := testMeta("bkt", "obj"+string(binary.BigEndian.AppendUint32(nil, uint32(i))), `"1"`, int64(i+1))
		if err := ix.putMeta(id, m, 0, i%2 == 0); err != nil {
			t.Fatal(err)
		}
		want[id] = i%2 == 0
	}
	seen := make(map[vid]int)
	var last vid
	err := ix.forEachVersion(func(s scanned) bool {
		if !s.ok || s.id != versionID(s.m.Bucket, s.m.Key, s.m.ETag) {
			t.Fatalf("bad record %v %+v", s.id, s.m)
		}
		if bytes.Compare(s.id[:], last[:]) <= 0 && len(seen) > 0 {
			t.Fatalf("out of order: %v after %v", s.id, last)
		}
		last = s.id
		seen[s.id]++
		// Changing the index between chunks is allowed.
		if len(seen) == 1500 {
			if err := ix.putMeta(s.id, meta{Bucket: s.m.Bucket, Key: s.m.Key, ETag: s.m.ETag, Access: 1 << 40}, s.m.Access, false); err != nil {
				t.Fatal(err)
			}
		}
		return true
	})
	if err != nil || len(seen) != n {
		t.Fatalf("visited %d of %d, %v", len(seen), n, err)
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("%v visited %d times", id, k)
		}
	}
	calls := 0
	if err := ix.forEachVersion(func(scanned) bool { calls++; return calls < 3 }); err != nil || calls != 3 {
		t.Fatalf("stopped after %d calls, %v", calls, err)
	}

	current, err := ix.currentVersions()
	if err != nil {
		t.Fatal(err)
	}
	for id, isCurrent := range want {
		if _, ok := current[id]; ok != isCurrent {
			t.Fatalf("%v current %v, want %v", id, ok, isCurrent)
		}
	}
	if len(current) != n/2 {
		t.Fatalf("%d current versions, want %d", len(current), n/2)
	}
}

func TestIndexStrayBlockVersions(t *testing.T) {
	ix := openTestIndex(t, t.TempDir())
	defer ix.close()
	kept, m := testMeta("bkt", "kept", `"1"`, 1)
	if err := ix.putMeta(kept, m, 0, true); err != nil {
		t.Fatal(err)
	}
	stray1 := versionID("bkt", "gone", `"1"`)
	stray2 := versionID("bkt", "gone", `"2"`)
	skipped := versionID("bkt", "busy", `"1"`)
	if err := ix.recordBlocks([]blockRecord{
		{kept, 0, 1}, {stray1, 0, 1}, {stray1, 5, 1}, {stray2, 1, 1}, {skipped, 0, 1},
	}); err != nil {
		t.Fatal(err)
	}
	asked := make(map[vid]int)
	got, err := ix.strayBlockVersions(context.Background(), func(id vid) bool {
		asked[id]++
		return id == skipped
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b vid) int { return bytes.Compare(a[:], b[:]) })
	want := []vid{stray1, stray2}
	slices.SortFunc(want, func(a, b vid) int { return bytes.Compare(a[:], b[:]) })
	if !slices.Equal(got, want) {
		t.Fatalf("stray %v, want %v", got, want)
	}
	if len(asked) != 4 || asked[stray1] != 1 {
		t.Fatalf("skip asked %v: want once per version with blocks", asked)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, _ := ix.strayBlockVersions(ctx, func(vid) bool { return false }); len(got) != 0 {
		t.Fatalf("a cancelled pass found %v", got)
	}
}

// TestIndexSurvivesReopen checks that what was synced is there after a
// reopen (TestPermissions checks the files close leaves).
func TestIndexSurvivesReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	ix := openTestIndex(t, dir)
	id, m := testMeta("bkt", "k", `"1"`, 5)
	if err := ix.putMeta(id, m, 0, true); err != nil {
		t.Fatal(err)
	}
	if err := ix.recordBlocks([]blockRecord{{id, 1, 9}}); err != nil {
		t.Fatal(err)
	}
	if err := ix.sync(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { ix.collectGarbage(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("value-log GC of an index without garbage does not return")
	}
	if err := ix.close(); err != nil {
		t.Fatal(err)
	}

	ix = openTestIndex(t, dir)
	defer ix.close()
	if got, found, err := ix.getMeta(id); err != nil || !found || got != m {
		t.Fatalf("record after reopen %+v %v %v", got, found, err)
	}
	if p, crcs, _ := ix.loadBlocks(id, 3); p.count() != 1 || !p.has(1) || crcs[1] != 9 {
		t.Fatal("block lost across reopen")
	}
}
