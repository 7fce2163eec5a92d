package cache

import (
	"context"
	"errors"
	"testing"

	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/prometheus/client_golang/prometheus"
)

// Two caches of one process share a registry, each counting its own reads
// under its own cache_dir; closing one takes its series away and lets the
// directory register again.
func TestMetricsOfTwoCachesOnOneRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	src := newMemSource(testBS)
	info := src.put("bkt", "obj", 2*testBS, false)
	o := src.object(info.Ref())
	withMetrics := func(opts *Options) { opts.Metrics = reg }
	dirA, dirB := t.TempDir(), t.TempDir()
	a := openTest(t, dirA, testBS, src, withMetrics)
	b := openTest(t, dirB, testBS, src, withMetrics)

	ha := openHandle(t, a, info)
	readCheck(t, ha, o, 0, 1000) // miss
	if err := ha.Fetch(context.Background(), 0, 1); err != nil {
		t.Fatal(err)
	}
	readCheck(t, ha, o, 0, 500) // hit
	hb := openHandle(t, b, info)
	readCheck(t, hb, o, 0, 3000) // miss

	miss := testutil.SeriesByLabel(t, reg, "ossmount_cache_miss_bytes_total", "cache_dir")
	hit := testutil.SeriesByLabel(t, reg, "ossmount_cache_hit_bytes_total", "cache_dir")
	if len(miss) != 2 || miss[a.Dir()] != 1000 || miss[b.Dir()] != 3000 {
		t.Fatalf("miss bytes by cache_dir %v, want %s=1000 and %s=3000", miss, a.Dir(), b.Dir())
	}
	if len(hit) != 2 || hit[a.Dir()] != 500 || hit[b.Dir()] != 0 {
		t.Fatalf("hit bytes by cache_dir %v, want %s=500 and %s=0", hit, a.Dir(), b.Dir())
	}
	if st := a.Stats(); st.MissBytes != 1000 || st.HitBytes != 500 {
		t.Fatalf("stats of the first cache %+v", st)
	}
	for _, name := range []string{"ossmount_cache_evictions_total", "ossmount_cache_checksum_failures_total", "ossmount_cache_unrecorded_bytes"} {
		if got := testutil.SeriesByLabel(t, reg, name, "cache_dir"); len(got) != 2 {
			t.Fatalf("%s has series %v, want one per cache", name, got)
		}
	}

	ha.Close()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got := testutil.SeriesByLabel(t, reg, "ossmount_cache_miss_bytes_total", "cache_dir"); len(got) != 1 || got[b.Dir()] != 3000 {
		t.Fatalf("after closing the first cache: %v", got)
	}
	again := openTest(t, dirA, testBS, src, withMetrics)
	if got := testutil.SeriesByLabel(t, reg, "ossmount_cache_miss_bytes_total", "cache_dir"); len(got) != 2 || got[again.Dir()] != 0 {
		t.Fatalf("after reopening the first cache: %v", got)
	}
}

// A registry that refuses the counters makes Open fail, and the directory
// is left free for the next Open.
func TestOpenFailsWhenMetricsCannotRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	// The same name without the cache_dir label: the registry refuses
	// the cache's series as inconsistent.
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "ossmount_cache_hit_bytes_total", Help: "x"}))
	dir := t.TempDir()
	_, err := Open(Options{Dir: dir, BlockSize: testBS, MinFreeRatio: -1, Metrics: reg}, nil)
	if err == nil {
		t.Fatal("Open succeeded with a registry that refuses the cache's metrics")
	}
	var locked *LockedError
	if errors.As(err, &locked) {
		t.Fatalf("Open failed for the wrong reason: %v", err)
	}
	openTest(t, dir, testBS, nil) // fails if the refused Open kept the lock
}
