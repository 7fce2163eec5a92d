package cache

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ossmount/ossmount/object"
)

// Source is where missing blocks come from. *rangefetch.Client is one; tests
// use an in-memory source. ReadRange writes the bytes [off, off+n) of ref to
// w at their object offsets and must not return nil before all were written.
// The cache's writers also take the whole object's CRC64 a GET reports
// (the method ObjectCRC64(uint64), rangefetch.CRC64Receiver): a Source
// that knows it should hand it on. A Source that is also a Stater is asked
// for the CRC64 of a version completed without one.
type Source interface {
	ReadRange(ctx context.Context, ref object.Ref, off, n int64, w io.WriterAt) error
}

// Options configure Open. The zero value is usable.
type Options struct {
	// Dir is the cache directory: a new or empty directory (created with
	// mode 0700, and given the OSSMOUNT-CACHE marker), or an existing
	// cache, whose mode is tightened to 0700. Anything else is refused.
	// Default DefaultDir().
	Dir string
	// Existing makes Open fail with ErrNoCache rather than create a cache
	// where there is none (the maintenance commands use it).
	Existing bool
	// BlockSize is the unit of fetching and of the index, for a new cache
	// only: an existing cache keeps the size recorded in its index. It must
	// be a multiple of 4096. Default 1 MiB.
	BlockSize int64
	// MaxBytes caps the bytes the data files occupy on disk (allocated, not
	// apparent size). Default 10 GiB. The cap is also lowered on the fly to
	// keep MinFreeRatio of the filesystem free, which makes the effective
	// default min(10 GiB, free space).
	MaxBytes int64
	// MinFreeRatio is the fraction of the filesystem the cache leaves free.
	// Default 0.05; a negative value disables the floor.
	MinFreeRatio float64
	// Logger receives warnings (disk full, corrupt blocks). Default
	// slog.Default().
	Logger *slog.Logger
	// Metrics, if set, is where the cache registers its Prometheus
	// counters (ossmount_cache_*) from Open to Close; Open fails if it
	// refuses them. Each series carries the label cache_dir, the absolute
	// cache directory, so that several caches of one process can share a
	// registry. Nil registers nothing; Stats counts all the same.
	Metrics prometheus.Registerer
}

const (
	// DefaultBlockSize is the block size of a new cache.
	DefaultBlockSize = 1 << 20
	// DefaultMaxBytes is the default cap of the data files.
	DefaultMaxBytes = 10 << 30
	// DefaultMinFreeRatio is the default free-space floor.
	DefaultMinFreeRatio = 0.05
)

func (o Options) withDefaults() Options {
	if o.Dir == "" {
		o.Dir = DefaultDir()
	}
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	switch {
	case o.MinFreeRatio == 0:
		o.MinFreeRatio = DefaultMinFreeRatio
	case o.MinFreeRatio < 0:
		o.MinFreeRatio = 0
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// DefaultDir is the cache directory used when none is given:
// $XDG_CACHE_HOME/ossmount, else ~/.cache/ossmount; for root
// /var/cache/ossmount, where system mounts keep their state.
func DefaultDir() string {
	if os.Geteuid() == 0 {
		return "/var/cache/ossmount"
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "ossmount")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "ossmount")
	}
	return filepath.Join(os.TempDir(), "ossmount-cache")
}
