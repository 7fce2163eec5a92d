package fs

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats are the mount's counters since it started.
type Stats struct {
	Lookups        int64 // FUSE LOOKUPs answered (from memory or OSS)
	Lists          int64 // LIST requests sent (directory pages and name probes)
	Heads          int64 // HEAD requests sent (re-validation at open)
	Opens          int64 // files opened
	PassthroughOps int64 // opens served by the kernel from the cache file
	Reads          int64 // FUSE READs served by this process
	ReadBytes      int64 // bytes returned by those READs
	ReadErrors     int64 // READs that failed
	PrefetchBytes  int64 // bytes requested by sequential prefetch
}

// counters holds Stats as atomics. The mount's Prometheus collector reads
// them too, so the numbers tests assert on are the ones /metrics shows.
type counters struct {
	lookups, lists, heads, opens, passthrough   atomic.Int64
	reads, readBytes, readErrors, prefetchBytes atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Lookups: c.lookups.Load(), Lists: c.lists.Load(), Heads: c.heads.Load(),
		Opens: c.opens.Load(), PassthroughOps: c.passthrough.Load(),
		Reads: c.reads.Load(), ReadBytes: c.readBytes.Load(), ReadErrors: c.readErrors.Load(),
		PrefetchBytes: c.prefetchBytes.Load(),
	}
}

// mountMetric is one series a mount exports.
type mountMetric struct {
	desc *prometheus.Desc
	get  func(Stats) int64
}

// mountCollector exports one mount's counters. Every series carries the
// constant label mountpoint, the mount's absolute path, which tells apart
// the mounts registered on one registry (a path holds one mount at a time).
type mountCollector struct {
	stats   *counters
	metrics []mountMetric
}

func newMountCollector(stats *counters, mountpoint string) *mountCollector {
	label := prometheus.Labels{"mountpoint": mountpoint}
	desc := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, label) }
	return &mountCollector{stats: stats, metrics: []mountMetric{
		{desc("ossmount_fuse_lookups_total", "FUSE lookups answered."), func(s Stats) int64 { return s.Lookups }},
		{desc("ossmount_fs_list_requests_total", "LIST requests sent for directories and name lookups."), func(s Stats) int64 { return s.Lists }},
		{desc("ossmount_fs_head_requests_total", "HEAD requests sent to re-validate files at open."), func(s Stats) int64 { return s.Heads }},
		{desc("ossmount_fuse_opens_total", "Files opened."), func(s Stats) int64 { return s.Opens }},
		{desc("ossmount_fuse_passthrough_opens_total", "Opens of complete cached versions offered to the kernel for passthrough."), func(s Stats) int64 { return s.PassthroughOps }},
		{desc("ossmount_fuse_reads_total", "FUSE reads served by the daemon."), func(s Stats) int64 { return s.Reads }},
		{desc("ossmount_fuse_read_bytes_total", "Bytes returned by FUSE reads."), func(s Stats) int64 { return s.ReadBytes }},
		{desc("ossmount_fuse_read_errors_total", "FUSE reads that failed."), func(s Stats) int64 { return s.ReadErrors }},
		{desc("ossmount_prefetch_bytes_total", "Bytes requested by sequential read-ahead."), func(s Stats) int64 { return s.PrefetchBytes }},
	}}
}

// Describe implements prometheus.Collector.
func (c *mountCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (c *mountCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats.snapshot()
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(m.get(s)))
	}
}

// registerMetrics registers the counters of the mount at mountpoint on reg
// and returns what takes them off again. A nil reg registers nothing.
func registerMetrics(reg prometheus.Registerer, stats *counters, mountpoint string) (unregister func(), err error) {
	if reg == nil {
		return func() {}, nil
	}
	c := newMountCollector(stats, mountpoint)
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("register the metrics of mount %s: %w", mountpoint, err)
	}
	return func() { reg.Unregister(c) }, nil
}
