package fs

import (
	"context"
	"os"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/object"
)

// blockCache is what the tree needs of the block cache: pinning a version
// for an open file, and the block size, the unit in which the read-ahead
// plans its fetches. Config.Cache (a *cache.Cache) is used through
// cacheVersions; tests supply a fake.
type blockCache interface {
	// Open pins the version info describes until the returned version is
	// closed.
	Open(ctx context.Context, info object.Info) (pinnedVersion, error)
	BlockSize() int64
}

// pinnedVersion is one open file's view of a version in the cache; it is
// safe for concurrent use. *cache.Handle implements it; the methods mean
// what they mean there. A fetch started through it runs under the cache's
// own context and is shared by every reader of its blocks, so fetching a
// range twice costs one GET.
type pinnedVersion interface {
	Info() object.Info
	// Verified reports every block present and their combination matched
	// the CRC64 OSS reported; DataFile then opens the data file, which is
	// the object itself, and passthrough may hand it to the kernel. A
	// version complete without a CRC64 is read through the cache, whose
	// per-block checks still apply.
	Verified() bool
	DataFile() (*os.File, error)
	// StartFetch starts fetching the blocks of the range that are neither
	// present nor being fetched, and returns without waiting.
	StartFetch(off, n int64) error
	// AwaitArrived returns once every byte of the range is readable,
	// fetching what nobody is fetching, without waiting for durability.
	AwaitArrived(ctx context.Context, off, n int64) error
	// FetchAllWith with Arrived set fetches the blocks of a range that
	// nobody is fetching with streaming GETs of at most RunBytes each,
	// straight into the data file (no buffer of the run's size), and
	// returns once those bytes are readable there. ErrNotStored: the cache
	// cannot keep them.
	FetchAllWith(ctx context.Context, o cache.FetchOptions) error
	// ReadFd returns the data file's descriptor once the range is
	// verified in it, pinned until release; any error means: use ReadAt.
	ReadFd(ctx context.Context, off, n int64) (fd uintptr, release func(), err error)
	ReadAt(ctx context.Context, p []byte, off int64) (int, error)
	Close() error
}

var _ pinnedVersion = (*cache.Handle)(nil)

// cacheVersions is a *cache.Cache seen as a blockCache: Go has no
// covariant results, so Open wraps the *cache.Handle in the interface.
type cacheVersions struct{ c *cache.Cache }

func (cv cacheVersions) Open(ctx context.Context, info object.Info) (pinnedVersion, error) {
	h, err := cv.c.Open(ctx, info)
	if err != nil {
		return nil, err // an untyped nil, not a nil *cache.Handle
	}
	return h, nil
}

func (cv cacheVersions) BlockSize() int64 { return cv.c.BlockSize() }
