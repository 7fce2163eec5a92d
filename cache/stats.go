package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// counters are the figures of one Cache behind Stats. Registered, they are
// also the cache's Prometheus collector, so that /metrics shows exactly
// what Stats reports; unregistered they count all the same.
type counters struct {
	hit, miss, fetched, evictions, checksumFailures atomic.Int64
	crcMismatches                                   atomic.Int64
	unrecorded                                      atomic.Int64

	// registry holds the counters from Open to Close (nil: none), under
	// descs, which carry the cache's directory as the label cache_dir.
	registry prometheus.Registerer
	descs    []cacheMetric
}

// cacheMetric is one series a Cache exports.
type cacheMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*counters) int64
}

// cacheMetrics describes the series of the cache in dir. The constant
// label cache_dir tells apart caches registered on one registry; it is
// unique within a process because a directory has one owner at a time.
func cacheMetrics(dir string) []cacheMetric {
	label := prometheus.Labels{"cache_dir": dir}
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, nil, label)
	}
	return []cacheMetric{
		{desc("ossmount_cache_hit_bytes_total", "Bytes read from blocks already in the cache."),
			prometheus.CounterValue, func(c *counters) int64 { return c.hit.Load() }},
		{desc("ossmount_cache_miss_bytes_total", "Bytes read that had to be fetched from OSS."),
			prometheus.CounterValue, func(c *counters) int64 { return c.miss.Load() }},
		{desc("ossmount_cache_evictions_total", "Object versions evicted to keep the cache within its limits."),
			prometheus.CounterValue, func(c *counters) int64 { return c.evictions.Load() }},
		{desc("ossmount_cache_checksum_failures_total", "Cached blocks that failed their CRC64 check and were dropped."),
			prometheus.CounterValue, func(c *counters) int64 { return c.checksumFailures.Load() }},
		{desc("ossmount_cache_crc_mismatch_total", "Cached objects whose blocks, all present, did not add up to the object's CRC64 (each is then repaired)."),
			prometheus.CounterValue, func(c *counters) int64 { return c.crcMismatches.Load() }},
		{desc("ossmount_cache_unrecorded_bytes", "Bytes written to the cache and not yet durable and recorded in its index (a crash would fetch them again)."),
			prometheus.GaugeValue, func(c *counters) int64 { return c.unrecorded.Load() }},
	}
}

// Describe implements prometheus.Collector.
func (c *counters) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.descs {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (c *counters) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.descs {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, float64(m.value(c)))
	}
}

// registerMetrics registers the cache's counters on opts.Metrics, if set.
func (c *Cache) registerMetrics() error {
	reg := c.opts.Metrics
	if reg == nil {
		return nil
	}
	c.stats.descs = cacheMetrics(c.dir)
	if err := reg.Register(&c.stats); err != nil {
		return fmt.Errorf("register the metrics of cache %s: %w", c.dir, err)
	}
	c.stats.registry = reg
	return nil
}

// unregisterMetrics takes the counters off the registry, so that the
// directory can be opened and registered again in this process.
func (c *Cache) unregisterMetrics() {
	if c.stats.registry != nil {
		c.stats.registry.Unregister(&c.stats)
		c.stats.registry = nil
	}
}

// countUnrecorded follows the bytes handed to the committer and not yet
// recorded (or given up).
func (c *Cache) countUnrecorded(n int64) { c.stats.unrecorded.Add(n) }

func (c *Cache) countHit(n int64) { c.stats.hit.Add(n) }

func (c *Cache) countMiss(n int64) { c.stats.miss.Add(n) }

// Stats describes a cache. Byte counts are allocated disk space, not
// apparent file sizes.
type Stats struct {
	Dir              string
	BlockSize        int64
	Entries          int   // object versions in the cache
	BytesOnDisk      int64 // allocated bytes of the data files
	IndexBytes       int64 // size of the badger index
	LimitBytes       int64 // the cap in force now (MaxBytes, lowered to keep the free-space floor)
	Pinned           int   // versions pinned by open Handles now
	HitBytes         int64 // bytes read from the cache since Open
	MissBytes        int64 // bytes read that had to be fetched since Open
	FetchedBytes     int64 // bytes fetched since Open (reads and prefetch)
	Evictions        int64 // versions evicted since Open
	ChecksumFailures int64 // blocks dropped since Open because they failed their CRC
	UnrecordedBytes  int64 // bytes written and waiting to be made durable and recorded
	CRCMismatches    int64 // complete objects that disagreed with their CRC64 since Open (then repaired)
	// Unverified counts the complete versions whose object has no CRC64
	// (old objects, some uploads): only their blocks' own checks vouch
	// for them, so passthrough never serves them. Only View.Stats counts
	// them (it reads every record).
	Unverified int
	Counting   bool // the startup scan is still counting: Entries and BytesOnDisk are partial
}

// Stats returns the current figures of the cache.
func (c *Cache) Stats() Stats {
	s := Stats{
		Dir:              c.dir,
		BlockSize:        c.blockSize,
		HitBytes:         c.stats.hit.Load(),
		MissBytes:        c.stats.miss.Load(),
		FetchedBytes:     c.stats.fetched.Load(),
		Evictions:        c.stats.evictions.Load(),
		ChecksumFailures: c.stats.checksumFailures.Load(),
		UnrecordedBytes:  c.stats.unrecorded.Load(),
		CRCMismatches:    c.stats.crcMismatches.Load(),
	}
	if !c.closed.Load() {
		s.IndexBytes = c.ix.size()
	}
	select {
	case <-c.scanDone:
	default:
		s.Counting = true
	}
	c.mu.Lock()
	s.Entries = len(c.usage)
	s.BytesOnDisk = c.used
	for _, v := range c.versions {
		if v.loaded && v.pins > 0 {
			s.Pinned++
		}
	}
	c.mu.Unlock()
	s.LimitBytes = c.limit(s.BytesOnDisk)
	return s
}

// WaitCounted waits until the startup scan has counted every version, so
// that Stats is exact (the maintenance commands use it).
func (c *Cache) WaitCounted() {
	select {
	case <-c.scanDone:
	case <-c.ctx.Done():
	}
}

// DiskUsage counts the data files of the cache directory dir and the bytes
// they occupy, without opening the index. It needs no lock, so it works
// while another process owns the cache.
func DiskUsage(dir string) (files int, bytes int64, err error) {
	root := filepath.Join(dir, dataDirName)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if _, ok := vidFromDataName(d.Name()); !ok {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		files++
		bytes += allocatedBytes(fi)
		return nil
	})
	return files, bytes, err
}
