package cache

import (
	"errors"
	"io/fs"
	"path/filepath"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Prometheus counters of every Cache in the process, registered once with
// the default registry (the mount serves it on /metrics).
var (
	metricHitBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "ossmount", Subsystem: "cache", Name: "hit_bytes_total",
		Help: "Bytes read from blocks already in the cache.",
	})
	metricMissBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "ossmount", Subsystem: "cache", Name: "miss_bytes_total",
		Help: "Bytes read that had to be fetched from OSS.",
	})
	metricEvictions = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "ossmount", Subsystem: "cache", Name: "evictions_total",
		Help: "Object versions evicted to keep the cache within its limits.",
	})
	metricChecksumFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "ossmount", Subsystem: "cache", Name: "checksum_failures_total",
		Help: "Cached blocks that failed their CRC64 check and were dropped.",
	})
	metricUnrecordedBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "ossmount", Subsystem: "cache", Name: "unrecorded_bytes",
		Help: "Bytes written to the cache and not yet durable and recorded in its index (a crash would fetch them again).",
	})
)

func init() {
	prometheus.MustRegister(metricHitBytes, metricMissBytes, metricEvictions, metricChecksumFailures, metricUnrecordedBytes)
}

// counters are the per-Cache figures behind Stats.
type counters struct {
	hit, miss, fetched, evictions, checksumFailures atomic.Int64
	unrecorded                                      atomic.Int64
}

// countUnrecorded follows the bytes handed to the committer and not yet
// recorded (or given up).
func (c *Cache) countUnrecorded(n int64) {
	c.stats.unrecorded.Add(n)
	metricUnrecordedBytes.Add(float64(n))
}

func (c *Cache) countHit(n int64) {
	c.stats.hit.Add(n)
	metricHitBytes.Add(float64(n))
}

func (c *Cache) countMiss(n int64) {
	c.stats.miss.Add(n)
	metricMissBytes.Add(float64(n))
}

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
	Counting         bool  // the startup scan is still counting: Entries and BytesOnDisk are partial
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
