package fs

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/internal/testutil"
)

// Two mounts of one process share a registry, each exporting its own
// counters under its mountpoint; unregistering one leaves the other.
func TestMetricsOfTwoMountsOnOneRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	var a, b counters
	unregisterA, err := registerMetrics(reg, &a, "/mnt/a")
	if err != nil {
		t.Fatal(err)
	}
	unregisterB, err := registerMetrics(reg, &b, "/mnt/b")
	if err != nil {
		t.Fatal(err)
	}
	defer unregisterB()
	a.reads.Add(3)
	a.readBytes.Add(3000)
	b.reads.Add(1)
	b.lookups.Add(7)

	for name, want := range map[string]map[string]float64{
		"ossmount_fuse_reads_total":      {"/mnt/a": 3, "/mnt/b": 1},
		"ossmount_fuse_read_bytes_total": {"/mnt/a": 3000, "/mnt/b": 0},
		"ossmount_fuse_lookups_total":    {"/mnt/a": 0, "/mnt/b": 7},
	} {
		got := testutil.SeriesByLabel(t, reg, name, "mountpoint")
		if len(got) != len(want) || got["/mnt/a"] != want["/mnt/a"] || got["/mnt/b"] != want["/mnt/b"] {
			t.Fatalf("%s by mountpoint %v, want %v", name, got, want)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != len(newMountCollector(&a, "/mnt/a").metrics) {
		t.Fatalf("%d metric families, want every counter of Stats", len(families))
	}

	unregisterA()
	if got := testutil.SeriesByLabel(t, reg, "ossmount_fuse_reads_total", "mountpoint"); len(got) != 1 || got["/mnt/b"] != 1 {
		t.Fatalf("after unregistering the first mount: %v", got)
	}
	if _, err := registerMetrics(reg, &b, "/mnt/b"); err == nil {
		t.Fatal("a second registration of one mountpoint was accepted")
	}
}

// Mount returns the registry's refusal before it mounts anything.
func TestMountFailsWhenMetricsCannotRegister(t *testing.T) {
	c, err := cache.Open(cache.Options{Dir: t.TempDir(), MinFreeRatio: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reg := prometheus.NewRegistry()
	// The same name without the mountpoint label: the registry refuses
	// the mount's series as inconsistent.
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "ossmount_fuse_reads_total", Help: "x"}))
	mp := t.TempDir()
	_, err = Mount(mp, Config{Store: newFakeStore(), Cache: c, Bucket: "bkt", Metrics: reg})
	if err == nil || !strings.Contains(err.Error(), "register the metrics of mount") {
		t.Fatalf("Mount with a refusing registry: %v", err)
	}
	if isMountpoint(mp) {
		UnmountPath(mp, true)
		t.Fatal("Mount left a mount behind after failing")
	}
}
