package fs

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sync/semaphore"
)

// filesystem is the state shared by every node of one mount.
type filesystem struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	// cache is Config.Cache as the tree uses it (see blockCache).
	cache blockCache

	// ctx ends when the mount shuts down; every goroutine started for the
	// mount (shared listings, prefetch workers) is counted in bg and stops
	// when ctx ends.
	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup

	// fetchSlots bounds the prefetch requests of all open files together;
	// fetchMemory bounds the prefetched bytes requested and not yet
	// arrived (see Config.FetchMemory).
	fetchSlots  *semaphore.Weighted
	fetchMemory *semaphore.Weighted
	blockSize   int64
	mountTime   time.Time

	stats  counters
	warned sync.Map // ids of things already warned about

	// handles are the open files, closed at shutdown if the kernel never
	// released them (a lazy unmount, an aborted connection).
	handlesMu sync.Mutex
	handles   map[*fileHandle]struct{}
}

func newFilesystem(cfg Config) *filesystem {
	ctx, cancel := context.WithCancel(context.Background())
	return &filesystem{
		cfg:         cfg,
		log:         cfg.Logger,
		now:         time.Now,
		cache:       cacheVersions{cfg.Cache},
		ctx:         ctx,
		cancel:      cancel,
		fetchSlots:  semaphore.NewWeighted(int64(cfg.MaxParallel)),
		fetchMemory: semaphore.NewWeighted(cfg.FetchMemory),
		blockSize:   cfg.Cache.BlockSize(),
		mountTime:   time.Now(),
		handles:     make(map[*fileHandle]struct{}),
	}
}

// shutdown stops all background work and releases what the kernel did not.
func (f *filesystem) shutdown() {
	f.cancel()
	f.handlesMu.Lock()
	open := make([]*fileHandle, 0, len(f.handles))
	for h := range f.handles {
		open = append(open, h)
	}
	f.handlesMu.Unlock()
	for _, h := range open {
		h.release()
	}
	f.bg.Wait()
}

// requestContext bounds a FUSE operation that may talk to OSS: it ends when
// the kernel interrupts the request, when the mount shuts down, or after
// RequestTimeout, so no request waits without end.
func (f *filesystem) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	stop := context.AfterFunc(f.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// remaining is how much longer metadata fetched at `at` may be trusted; it
// is what the kernel is told to cache entries and attributes for, so the
// kernel never trusts an answer longer than the mount itself would.
func (f *filesystem) remaining(at time.Time) time.Duration {
	r := at.Add(f.cfg.MetadataTTL).Sub(f.now())
	if r < 0 {
		return 0
	}
	return r
}

func (f *filesystem) dirAttr(out *fuse.Attr, ino uint64) {
	out.Ino = ino
	out.Mode = syscall.S_IFDIR | f.cfg.DirMode
	// 1 means "unknown" to find(1), which otherwise uses the link count
	// to skip looking for sub-directories.
	out.Nlink = 1
	out.Size = 4096
	out.Blksize = 4096
	out.Owner = fuse.Owner{Uid: f.cfg.UID, Gid: f.cfg.GID}
	out.SetTimes(&f.mountTime, &f.mountTime, &f.mountTime)
}

func (f *filesystem) fileAttr(out *fuse.Attr, ino uint64, size int64, mtime time.Time) {
	out.Ino = ino
	out.Mode = syscall.S_IFREG | f.cfg.FileMode
	out.Nlink = 1
	out.Size = uint64(size)
	out.Blocks = (uint64(size) + 511) / 512
	out.Blksize = uint32(min(f.blockSize, 1<<20))
	out.Owner = fuse.Owner{Uid: f.cfg.UID, Gid: f.cfg.GID}
	if mtime.IsZero() {
		mtime = f.mountTime
	}
	out.SetTimes(&mtime, &mtime, &mtime)
}

// Extended attributes published on every entry; "ossmount materialize"
// reads them to find the object behind a path and the cache holding it.
const (
	xattrSource   = "user.ossmount.source"
	xattrETag     = "user.ossmount.etag"
	xattrCacheDir = "user.ossmount.cache_dir"
	xattrPID      = "user.ossmount.pid" // root only: the process serving the mount
)

type xattrs []struct{ name, value string }

func (x xattrs) get(attr string, dest []byte) (uint32, syscall.Errno) {
	for _, a := range x {
		if a.name == attr {
			return copyXattr(a.value, dest)
		}
	}
	return 0, syscall.ENODATA
}

func (x xattrs) list(dest []byte) (uint32, syscall.Errno) {
	var names []byte
	for _, a := range x {
		names = append(names, a.name...)
		names = append(names, 0)
	}
	return copyXattr(string(names), dest)
}

// copyXattr follows getxattr(2): an empty buffer asks for the size, a
// short one is ERANGE.
func copyXattr(v string, dest []byte) (uint32, syscall.Errno) {
	if len(dest) == 0 {
		return uint32(len(v)), 0
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

func (f *filesystem) sourceURL(key string) string { return "oss://" + f.cfg.Bucket + "/" + key }

func pidString() string { return strconv.Itoa(os.Getpid()) }
