package cache

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
)

// closeTestBound is how long Close may take when the cache's disk went
// away: closeBound, with room for a loaded machine. It guards against a
// hang; it is no performance figure.
const closeTestBound = 30 * time.Second

// When the index's directory or the whole cache directory disappears under
// an open cache holding blocks badger has not written, reads still return
// exact bytes (from the network where the cache cannot store), and Close
// returns in bounded time, logs once what it could not record, lets go of
// the lock and does not flood the log with badger's retries.
func TestCloseReturnsWhenTheDiskGoesAway(t *testing.T) {
	for _, gone := range []string{"index", "."} {
		t.Run("remove "+gone, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			src := newMemSource(testBS)
			a := src.put("bkt", "a", 16*testBS, true)
			b := src.put("bkt", "b", 8*testBS, true)
			log, logs := testLogger(t)
			c := openTest(t, dir, testBS, src, func(o *Options) { o.Logger = log })
			ha := openHandle(t, c, a)
			oa, ob := src.object(a.Ref()), src.object(b.Ref())
			readCheck(t, ha, oa, 0, 8*testBS)
			t.Logf("unrecorded before the removal: %d bytes", c.Stats().UnrecordedBytes)

			if err := os.RemoveAll(filepath.Join(dir, gone)); err != nil {
				t.Fatal(err)
			}
			readCheck(t, ha, oa, 0, a.Size)
			hb := openHandle(t, c, b)
			readCheck(t, hb, ob, 0, b.Size)
			readCheck(t, hb, ob, 0, b.Size)

			closed := make(chan error, 1)
			go func() { closed <- c.Close() }()
			var err error
			testutil.Eventually(t, closeTestBound, func() bool {
				select {
				case err = <-closed:
					return true
				default:
					return false
				}
			}, "Close to return")
			if err == nil {
				t.Errorf("Close reported success although the index could not be written")
			}
			out := logs.String()
			if n := strings.Count(out, "closing without finishing the index"); n != 1 {
				t.Errorf("Close logged what it could not record %d times, want once:\n%s", n, out)
			}
			if n := strings.Count(out, "error flushing memtable"); n > 2 {
				t.Errorf("badger's retry logged %d times, want at most 2:\n%s", n, out)
			}
			if pid, locked, err := LockHolder(dir); gone == "index" && (err != nil || locked) {
				t.Errorf("the lock is still held after Close: pid %d, %v", pid, err)
			}
		})
	}
}

// A line badger repeats is logged once per period, and the next one let
// through says how many were held back.
func TestRepeatLimiter(t *testing.T) {
	r := newRepeatLimiter(time.Minute)
	t0 := time.Unix(1000, 0)
	if ok, _ := r.allow("flush %v", t0); !ok {
		t.Fatal("first line held back")
	}
	for i := 1; i <= 59; i++ {
		if ok, _ := r.allow("flush %v", t0.Add(time.Duration(i)*time.Second)); ok {
			t.Fatalf("repeat after %d s let through", i)
		}
	}
	if ok, _ := r.allow("other %v", t0.Add(time.Second)); !ok {
		t.Fatal("a line of another kind held back")
	}
	ok, skipped := r.allow("flush %v", t0.Add(time.Minute))
	if !ok || skipped != 59 {
		t.Fatalf("after a period: ok %v, skipped %d; want true, 59", ok, skipped)
	}
}

// A committer that cannot finish (here held on commitMu, as a badger write
// stalls when badger cannot flush its memtables) does not hold Close up
// beyond its bound either.
func TestCloseReturnsWhileTheCommitterIsStuck(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 8*testBS, true)
	c := openTest(t, dir, testBS, src)
	h := openHandle(t, c, info)
	// Held before the read, so that none of its blocks can be recorded.
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	readCheck(t, h, src.object(info.Ref()), 0, info.Size)
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	var err error
	testutil.Eventually(t, closeTestBound, func() bool {
		select {
		case err = <-closed:
			return true
		default:
			return false
		}
	}, "Close to return")
	if !errors.Is(err, errIndexNotClosed) {
		t.Errorf("Close with the committer stuck: %v, want errIndexNotClosed", err)
	}
	if pid, locked, err := LockHolder(dir); err != nil || locked {
		t.Errorf("the lock is still held after Close: pid %d, %v", pid, err)
	}
}
