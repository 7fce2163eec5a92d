package fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

// ObjectStore is what the tree needs from OSS besides the cache's reads:
// listings for directories and HEAD for re-validating a version.
// *rangefetch.Client implements it.
type ObjectStore interface {
	ListPage(ctx context.Context, bucket, prefix, token string, maxKeys int) (rangefetch.ListPage, error)
	Stat(ctx context.Context, bucket, key string) (object.Info, error)
}

// Config describes one mount.
type Config struct {
	Store  ObjectStore  // listings and HEAD
	Cache  *cache.Cache // block cache; reads fetch through it
	Bucket string
	// Prefix is the key prefix shown as the root directory: "" for the whole
	// bucket, otherwise it is made to end in "/".
	Prefix string
	// CacheDir is the absolute cache directory, published in the
	// user.ossmount.cache_dir attribute for "ossmount materialize".
	CacheDir string

	// MetadataTTL is how long listings, attributes and negative lookups are
	// trusted before OSS is asked again. Default 60s.
	MetadataTTL time.Duration

	UID, GID uint32 // owner shown for every entry
	FileMode uint32 // permission bits of files, default 0444
	DirMode  uint32 // permission bits of directories, default 0555

	// MaxParallel bounds the prefetch requests of all open files together,
	// MaxParallelPerFile those of one open file. Defaults 32 and MaxParallel.
	MaxParallel        int
	MaxParallelPerFile int
	// ReadAhead is the largest prefetch window of a sequential reader.
	// Default 128 MiB.
	ReadAhead int64
	// KernelReadAhead is the kernel's read-ahead for the mount (as root).
	// Default 4 MiB.
	KernelReadAhead int64
	// FetchMemory bounds the prefetched bytes of all open files requested
	// and not yet arrived. A prefetch streams its body into the cache's
	// data file and holds no buffer of its size, so this is memory only
	// when the cache cannot store the bytes and buffers them for the
	// readers instead. Default 160 MiB.
	FetchMemory int64
	// RequestTimeout bounds each FUSE operation that talks to OSS, so that
	// nothing waits without end. Default 5 minutes.
	RequestTimeout time.Duration

	AllowOther bool
	// Debug logs every FUSE request (very verbose).
	Debug bool
	// DisablePassthrough serves complete versions through the daemon even
	// where the kernel could read the cache file directly.
	DisablePassthrough bool
	Logger             *slog.Logger
	// Metrics, if set, is where Mount registers the mount's Prometheus
	// counters, until it is unmounted; Mount fails if it refuses them.
	// Each series carries the label mountpoint, the absolute mountpoint,
	// so that several mounts of one process can share a registry. Nil
	// registers nothing; Server.Stats counts all the same.
	Metrics prometheus.Registerer
}

const (
	defaultTTL             = 60 * time.Second
	defaultMaxParallel     = 32
	defaultReadAhead       = 128 << 20
	DefaultFetchMemory     = 160 << 20
	defaultKernelReadAhead = 4 << 20
	defaultRequestTimeout  = 5 * time.Minute
)

// withDefaults validates c and fills in the defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Store == nil || c.Cache == nil {
		return c, errors.New("fs: Config needs a Store and a Cache")
	}
	if c.Bucket == "" {
		return c, errors.New("fs: Config needs a Bucket")
	}
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	for _, part := range strings.Split(strings.TrimSuffix(c.Prefix, "/"), "/") {
		if c.Prefix != "" && nameProblem(part) != "" {
			return c, fmt.Errorf("prefix %q cannot be mounted: %s", c.Prefix, nameProblem(part))
		}
	}
	if c.MetadataTTL < 0 {
		return c, fmt.Errorf("metadata TTL must not be negative, got %v", c.MetadataTTL)
	}
	if c.MetadataTTL == 0 {
		c.MetadataTTL = defaultTTL
	}
	if c.FileMode == 0 {
		c.FileMode = 0o444
	}
	if c.DirMode == 0 {
		c.DirMode = 0o555
	}
	c.FileMode &= 0o7777
	c.DirMode &= 0o7777
	if c.MaxParallel <= 0 {
		c.MaxParallel = defaultMaxParallel
	}
	if c.MaxParallelPerFile <= 0 || c.MaxParallelPerFile > c.MaxParallel {
		c.MaxParallelPerFile = c.MaxParallel
	}
	if c.ReadAhead <= 0 {
		c.ReadAhead = defaultReadAhead
	}
	if c.KernelReadAhead <= 0 {
		c.KernelReadAhead = defaultKernelReadAhead
	}
	if c.FetchMemory <= 0 {
		c.FetchMemory = DefaultFetchMemory
	}
	c.FetchMemory = max(c.FetchMemory, prefetchChunk)
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = defaultRequestTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.UID == 0 && c.GID == 0 {
		c.UID, c.GID = uint32(os.Getuid()), uint32(os.Getgid())
	}
	return c, nil
}
