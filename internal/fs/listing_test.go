package fs

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

// fakeStore lists a fixed set of keys like OSS does with delimiter "/":
// objects and common prefixes merged in byte order, maxKeys per page.
type fakeStore struct {
	keys  []string
	lists atomic.Int64
	// gate, if set, holds every ListPage until it is closed.
	gate chan struct{}
}

func newFakeStore(keys ...string) *fakeStore {
	sort.Strings(keys)
	return &fakeStore{keys: keys}
}

func (s *fakeStore) ListPage(ctx context.Context, bucket, prefix, token string, maxKeys int) (rangefetch.ListPage, error) {
	s.lists.Add(1)
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return rangefetch.ListPage{}, ctx.Err()
		}
	}
	var page rangefetch.ListPage
	last := ""
	for _, k := range s.keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		item, isPrefix := k, false
		if i := strings.Index(k[len(prefix):], "/"); i >= 0 {
			item, isPrefix = k[:len(prefix)+i+1], true
		}
		if item <= token || item == last {
			continue
		}
		if len(page.Objects)+len(page.Prefixes) == maxKeys {
			page.NextToken = last
			return page, nil
		}
		last = item
		if isPrefix {
			page.Prefixes = append(page.Prefixes, item)
		} else {
			page.Objects = append(page.Objects, object.Info{Bucket: bucket, Key: k, Size: int64(len(k)), ETag: `"` + k + `"`})
		}
	}
	return page, nil
}

func (s *fakeStore) Stat(ctx context.Context, bucket, key string) (object.Info, error) {
	return object.Info{}, rangefetch.ErrNotFound
}

// testFS is a filesystem with a fake store and a settable clock.
func testFS(t *testing.T, store ObjectStore, ttl time.Duration) (*filesystem, *time.Time) {
	now := time.Unix(1_000_000, 0)
	ctx, cancel := context.WithCancel(context.Background())
	f := &filesystem{
		cfg:       Config{Store: store, Bucket: "b", MetadataTTL: ttl, RequestTimeout: time.Minute},
		log:       slog.New(slog.DiscardHandler),
		now:       func() time.Time { return now },
		ctx:       ctx,
		cancel:    cancel,
		blockSize: 1 << 20,
	}
	t.Cleanup(func() { cancel(); f.bg.Wait() })
	return f, &now
}

func names(l *listing) []string {
	var out []string
	for _, e := range l.entries {
		if e.isDir {
			out = append(out, e.name+"/")
		} else {
			out = append(out, e.name)
		}
	}
	return out
}

func TestListingRules(t *testing.T) {
	store := newFakeStore(
		"d/",           // the directory's own marker: not an entry
		"d/a", "d/a/b", // the directory a wins over the object a
		"d/m/",                        // a marker object: a directory
		"d/x//y",                      // empty component: skipped
		"d/"+strings.Repeat("L", 300), // too long: skipped
		"d/plain.txt",
		"d/sub/deep/file",
	)
	f, _ := testFS(t, store, time.Minute)
	l, err := newDirMeta(f, "d/").snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(names(l), " ")
	if want := "a/ m/ plain.txt sub/ x/"; got != want {
		t.Errorf("listing = %q, want %q", got, want)
	}
	sub, err := newDirMeta(f, "d/x/").snapshot(context.Background())
	if err != nil || len(sub.entries) != 0 {
		t.Errorf("d/x/ = %q, %v; want empty (x//y has no valid name)", names(sub), err)
	}
}

func TestListingPaginatesAndCaches(t *testing.T) {
	var keys []string
	for i := 0; i < 2500; i++ {
		keys = append(keys, fmt.Sprintf("big/f%05d", i))
	}
	store := newFakeStore(keys...)
	f, now := testFS(t, store, time.Minute)
	d := newDirMeta(f, "big/")
	l, err := d.snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(l.entries) != 2500 || store.lists.Load() != 3 {
		t.Fatalf("%d entries in %d LISTs, want 2500 in 3", len(l.entries), store.lists.Load())
	}
	for _, name := range []string{"f00000", "f02499", "missing"} {
		if _, _, _, err := d.lookup(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.lists.Load(); n != 3 {
		t.Errorf("lookups in a listed directory sent %d more LISTs", n-3)
	}
	*now = now.Add(2 * time.Minute)
	if _, err := d.snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := store.lists.Load(); n != 6 {
		t.Errorf("after the TTL the listing cost %d LISTs in all, want 6", n)
	}
}

func TestLookupProbes(t *testing.T) {
	keys := []string{"p/file", "p/dir/x", "p/both", "p/both/y"}
	// Many keys sorting between "crowded" and "crowded/" fill the first
	// probe page, so a second, narrower request is needed.
	for i := 0; i < probeKeys+5; i++ {
		keys = append(keys, fmt.Sprintf("p/crowded.%03d", i))
	}
	keys = append(keys, "p/crowded/inner")
	store := newFakeStore(keys...)
	f, now := testFS(t, store, time.Minute)
	d := newDirMeta(f, "p/")
	for _, c := range []struct {
		name   string
		exists bool
		isDir  bool
		lists  int64
	}{
		{"file", true, false, 1},
		{"dir", true, true, 1},
		{"both", true, true, 1},
		{"nothing", false, false, 1},
		{"crowded", true, true, 2},
	} {
		before := store.lists.Load()
		e, ok, _, err := d.lookup(context.Background(), c.name)
		if err != nil {
			t.Fatal(err)
		}
		if ok != c.exists || e.isDir != c.isDir {
			t.Errorf("lookup(%q) = exists %v dir %v, want %v %v", c.name, ok, e.isDir, c.exists, c.isDir)
		}
		if n := store.lists.Load() - before; n != c.lists {
			t.Errorf("lookup(%q) sent %d LISTs, want %d", c.name, n, c.lists)
		}
		// The answer, also a negative one, is remembered for the TTL.
		before = store.lists.Load()
		d.lookup(context.Background(), c.name)
		if n := store.lists.Load() - before; n != 0 {
			t.Errorf("second lookup(%q) sent %d LISTs, want 0", c.name, n)
		}
	}
	*now = now.Add(2 * time.Minute)
	before := store.lists.Load()
	d.lookup(context.Background(), "nothing")
	if n := store.lists.Load() - before; n != 1 {
		t.Errorf("lookup after the TTL sent %d LISTs, want 1", n)
	}
}

// Concurrent lookups of a directory share one request, and one waiter
// giving up does not fail the others.
func TestLookupsShareOneRequest(t *testing.T) {
	store := newFakeStore("s/a", "s/b")
	store.gate = make(chan struct{})
	f, _ := testFS(t, store, time.Minute)
	d := newDirMeta(f, "s/")

	// The waiter that gives up is the one that starts the LIST, so the
	// request must not be tied to its context.
	impatient, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := d.snapshot(impatient)
		gaveUp <- err
	}()
	testutil.Eventually(t, 10*time.Second, func() bool { return store.lists.Load() > 0 }, "a LIST to start")
	var wg sync.WaitGroup
	results := make(chan int, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := d.snapshot(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			results <- len(l.entries)
		}()
	}
	// Once all nine wait for the one LIST, its starter gives up.
	waiters := func() int {
		d.mu.Lock()
		c := d.listCall
		d.mu.Unlock()
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.waiters
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return waiters() == 9 }, "all nine waiters to join the LIST")
	cancel()
	if err := <-gaveUp; err != context.Canceled {
		t.Errorf("the cancelled waiter got %v", err)
	}
	close(store.gate)
	wg.Wait()
	close(results)
	for n := range results {
		if n != 2 {
			t.Errorf("a waiter saw %d entries, want 2", n)
		}
	}
	if n := store.lists.Load(); n != 1 {
		t.Errorf("9 concurrent listings sent %d LISTs, want 1", n)
	}
}
