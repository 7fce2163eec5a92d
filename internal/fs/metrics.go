package fs

import (
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

// counters holds Stats as atomics; it is also the mount's Prometheus
// collector, so the numbers tests assert on are the ones /metrics shows.
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

var metricDescs = []struct {
	desc *prometheus.Desc
	get  func(Stats) int64
}{
	{prometheus.NewDesc("ossmount_fuse_lookups_total", "FUSE lookups answered.", nil, nil), func(s Stats) int64 { return s.Lookups }},
	{prometheus.NewDesc("ossmount_fs_list_requests_total", "LIST requests sent for directories and name lookups.", nil, nil), func(s Stats) int64 { return s.Lists }},
	{prometheus.NewDesc("ossmount_fs_head_requests_total", "HEAD requests sent to re-validate files at open.", nil, nil), func(s Stats) int64 { return s.Heads }},
	{prometheus.NewDesc("ossmount_fuse_opens_total", "Files opened.", nil, nil), func(s Stats) int64 { return s.Opens }},
	{prometheus.NewDesc("ossmount_fuse_passthrough_opens_total", "Opens of complete cached versions offered to the kernel for passthrough.", nil, nil), func(s Stats) int64 { return s.PassthroughOps }},
	{prometheus.NewDesc("ossmount_fuse_reads_total", "FUSE reads served by the daemon.", nil, nil), func(s Stats) int64 { return s.Reads }},
	{prometheus.NewDesc("ossmount_fuse_read_bytes_total", "Bytes returned by FUSE reads.", nil, nil), func(s Stats) int64 { return s.ReadBytes }},
	{prometheus.NewDesc("ossmount_fuse_read_errors_total", "FUSE reads that failed.", nil, nil), func(s Stats) int64 { return s.ReadErrors }},
	{prometheus.NewDesc("ossmount_prefetch_bytes_total", "Bytes requested by sequential read-ahead.", nil, nil), func(s Stats) int64 { return s.PrefetchBytes }},
}

// Describe implements prometheus.Collector.
func (c *counters) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range metricDescs {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (c *counters) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	for _, m := range metricDescs {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(m.get(s)))
	}
}
