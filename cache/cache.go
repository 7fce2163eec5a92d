package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/sys/unix"
)

// statfs reads a filesystem's size and free space; tests replace it
// before Open to pretend a disk has room it lacks.
var statfs = unix.Statfs

// Cache is an open cache directory. It is safe for concurrent use.
//
// Lock order: spaceMu, then commitMu, then a version's fileMu, then mu, then
// a version's mu. A flight's mu comes before all of them (streamWrite holds
// it while it reserves space and hands blocks on). No lock is held while
// waiting for the network. admit may wait for the committer while it holds
// spaceMu (and the flight's mu): the committer takes neither.
//
// The suffix Locked means one thing in this package: the caller holds c.mu.
// A method whose caller must hold something else says so in its doc
// comment, and in its name by what is held rather than by that suffix:
// removeVersionUnderPlaceholder (a busy placeholder for the version),
// completeUnderFlightMu (the flight's mu).
type Cache struct {
	dir       string
	opts      Options
	log       *slog.Logger
	src       Source
	lock      *dirLock
	ix        *index
	blockSize int64
	fsBlock   int64 // allocation unit of the data filesystem
	maxRun    int64 // blocks per GET of a reader's fetch, and FetchAllWith's default run

	ctx    context.Context // cancelled by Close: stops fetches and background work
	cancel context.CancelFunc
	bg     sync.WaitGroup // janitor and value-log GC

	// flightGate lets Close stop new fetches before it waits for the
	// running ones.
	flightGate sync.RWMutex
	closing    bool
	flights    sync.WaitGroup

	commitCh       chan commitItem
	commitKick     chan struct{} // commitSoon
	durableWaiters atomic.Int32  // callers waiting for durability (awaitSettled, FetchAllWith without Arrived)
	committerDone  chan struct{}
	commitMu       sync.Mutex          // serialises changes of block presence in the index
	pending        *semaphore.Weighted // bytes written and waiting for the committer

	spaceMu  sync.Mutex    // serialises admission and eviction
	scanDone chan struct{} // closed when the startup scan has counted every version

	mu       sync.Mutex
	versions map[vid]*version // loaded versions, and busy placeholders
	usage    map[vid]int64    // allocated bytes per known version
	used     int64            // sum of usage
	closed   atomic.Bool

	stats    counters
	warnings sync.Map // warning kind -> struct{}: each is logged once

	// Test hooks.
	createFile func(path string, size int64) (*os.File, uint64, error)
	writeAt    func(f *os.File, p []byte, off int64) (int, error)
	statfs     func(path string, st *unix.Statfs_t) error
}

// Open opens the cache directory opts.Dir and becomes its only owner; if
// another process owns it, Open fails with *LockedError. A new or empty
// directory becomes a cache (unless opts.Existing); a directory that holds
// anything but a cache is refused with *NotCacheError and left untouched.
// src fetches missing blocks; it may be nil for maintenance (Stats, Verify,
// Clear), in which case reading a missing block fails with ErrNoSource.
func Open(opts Options, src Source) (*Cache, error) {
	opts = opts.withDefaults()
	if opts.BlockSize < 4096 || opts.BlockSize%4096 != 0 {
		return nil, fmt.Errorf("cache block size %d is not a positive multiple of 4096", opts.BlockSize)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := claimDir(dir, opts.Existing); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	c := &Cache{
		dir:           dir,
		opts:          opts,
		log:           opts.Logger,
		src:           src,
		lock:          lock,
		commitCh:      make(chan commitItem, 1024),
		commitKick:    make(chan struct{}, 1),
		committerDone: make(chan struct{}),
		scanDone:      make(chan struct{}),
		pending:       semaphore.NewWeighted(pendingCommitBytes),
		versions:      make(map[vid]*version),
		usage:         make(map[vid]int64),
		createFile:    createDataFile,
		writeAt:       func(f *os.File, p []byte, off int64) (int, error) { return f.WriteAt(p, off) },
		statfs:        statfs,
	}
	fail := func(err error) (*Cache, error) {
		if c.ix != nil {
			c.ix.close() // bounded: a failing disk does not hold Open up
		}
		lock.unlock()
		return nil, err
	}
	if err := ensurePrivateDir(filepath.Join(dir, dataDirName)); err != nil {
		return fail(err)
	}
	if c.ix, err = openIndex(filepath.Join(dir, "index"), c.log); err != nil {
		return fail(err)
	}
	if c.blockSize, err = c.ix.blockSize(opts.BlockSize); err != nil {
		return fail(fmt.Errorf("read cache block size: %w", err))
	}
	c.fsBlock = 4096
	var st unix.Statfs_t
	if err := c.statfs(c.dataDir(), &st); err == nil && st.Bsize > 0 {
		c.fsBlock = st.Bsize
	}
	c.maxRun = max(1, maxRunBytes/c.blockSize)
	if err := c.registerMetrics(); err != nil {
		return fail(err)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.committer()
	c.bg.Add(1)
	go c.janitor()
	return c, nil
}

// maxRunBytes bounds the GETs of readers' fetches (and their buffers): long
// enough to amortise a request, short enough that a reader waiting for the
// first block of a run is served early and memory stays bounded. It is also
// FetchAllWith's default run length; it takes any, streaming it to disk.
const maxRunBytes = 4 << 20

// ensurePrivateDir creates dir, a directory inside the cache's own, with
// mode 0700, or tightens an existing looser mode: the cache holds object
// data the owner may not share.
func ensurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create cache directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("cache directory %s is not a directory", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("make cache directory private: %w", err)
		}
	}
	return nil
}

// Dir is the absolute cache directory.
func (c *Cache) Dir() string { return c.dir }

// BlockSize is the cache's block size, fixed when the cache was created.
func (c *Cache) BlockSize() int64 { return c.blockSize }

func (c *Cache) dataDir() string { return filepath.Join(c.dir, dataDirName) }

// Close stops every goroutine of the cache, waits for them, makes the
// blocks already fetched durable and releases the directory. Handles still
// open fail with ErrClosed afterwards.
//
// Close returns within closeBound whatever the disk does. If the cache's
// directory is gone or its disk fails, badger cannot write its index and
// would retry forever; Close then logs once how much it could not record,
// abandons what is still running and lets go of the directory. What is
// lost is only blocks to fetch again: the index never names a block whose
// bytes are not durable.
func (c *Cache) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	deadline := time.Now().Add(closeBound)
	c.unregisterMetrics()
	stopped := make(chan struct{})
	go func() {
		c.stopWork()
		close(stopped)
	}()
	timer := time.NewTimer(closeBound)
	defer timer.Stop()
	var err error
	select {
	case <-stopped:
		err = c.ix.closeWithin(time.Until(deadline))
	case <-timer.C:
		err = fmt.Errorf("%w: the committer did not finish within %v", errIndexNotClosed, closeBound)
	}
	if errors.Is(err, errIndexNotClosed) {
		c.log.Error("cache: closing without finishing the index; the blocks recorded since it was last written, and those unrecorded, will be fetched again",
			"dir", c.dir, "unrecorded_bytes", c.stats.unrecorded.Load(), "err", err)
	}
	if uerr := c.lock.unlock(); err == nil {
		err = uerr
	}
	return err
}

// closeBound bounds Close. It leaves the daemon's stop bound (10 s after
// a signal) room for unmounting first.
const closeBound = 5 * time.Second

// stopWork ends fetches, the committer and background work, and records
// the access times of the versions still loaded. It blocks while badger
// cannot write (a write stalls when its memtables are full and cannot be
// flushed), which is why Close bounds it.
func (c *Cache) stopWork() {
	c.flightGate.Lock()
	c.closing = true
	c.flightGate.Unlock()
	c.cancel()
	c.flights.Wait()
	close(c.commitCh)
	<-c.committerDone
	c.bg.Wait()

	c.mu.Lock()
	for _, v := range c.versions {
		c.recordAccessAtCloseLocked(v)
		if v.file != nil {
			v.file.Close()
		}
	}
	c.mu.Unlock()
}

// recordAccessAtCloseLocked writes the access time of a version still
// loaded when the cache closes (open Handles, or commits that ended with the
// Close), as its unload would have, so recency survives the restart. No
// commit runs any more.
func (c *Cache) recordAccessAtCloseLocked(v *version) {
	if !v.loaded || !v.touched || v.stale || v.uncached || v.detached.Load() {
		return
	}
	last := v.lastUse
	if v.pins > 0 {
		last = time.Now().UnixNano()
	}
	v.mu.Lock()
	m := v.m
	v.mu.Unlock()
	old := m.Access
	m.Access = max(last, old+1)
	if err := c.ix.putMeta(v.id, m, old, false); err != nil {
		c.log.Warn("cache: cannot record access", "err", err)
	}
}

// warnOnce logs a warning the first time kind happens in this Cache, so a
// full disk does not flood the log with one line per block.
func (c *Cache) warnOnce(kind, msg string, args ...any) {
	if _, dup := c.warnings.LoadOrStore(kind, struct{}{}); !dup {
		c.log.Warn(msg, args...)
	}
}

var errCacheFull = errors.New("cache is full of blocks in use")
