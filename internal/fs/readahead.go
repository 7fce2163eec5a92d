package fs

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/object"
)

// prefetchChunk is the most one prefetch request asks for: the cache's
// longest single GET, so each worker keeps one connection busy.
const prefetchChunk = 4 << 20

// readahead detects a sequential reader of one open file and fetches ahead
// of it in parallel, through the cache (so a block wanted by the reader and
// by the prefetch is fetched once, and fetched bytes go to disk). The
// window starts at one block and doubles with every block the reader moves
// on, up to Config.ReadAhead; it only ever reaches that far ahead of the
// reader, so prefetch stops when the reader stops, and Release stops it (the
// chunks in flight finish into the cache).
//
// A worker holds a connection slot and its chunk's share of the mount-wide
// budget of bytes in flight (memory) only until the chunk has arrived. Its
// GET streams the body into the cache's data file (page cache), with no
// buffer of the chunk's size, and the cache bounds the backlog of bytes
// not yet durable, so a disk slower than the network slows the fetches
// down instead of filling RAM.
//
// It reaches its handle and its mount only through its fields, which
// newReadahead sets, so it runs on any pinnedVersion, without a mount.
type readahead struct {
	v        pinnedVersion
	key      string // the object's, for the log
	block    int64
	size     int64
	maxWin   int64
	maxConns int
	// slack is how far beyond the run's end a read may start and still
	// continue the run (behind it, the window counts too): the kernel's
	// read-ahead sends several READs at once, which arrive in any order.
	slack int64
	// timeout bounds the GET of one chunk (Config.RequestTimeout).
	timeout time.Duration

	// handleCtx ends at Release: a worker takes no chunk after it, nor
	// waits any longer for a connection or the budget.
	handleCtx context.Context
	// What every open file of the mount shares: its context, which ends at
	// shutdown and under which a chunk's GET runs (see arrive); the
	// WaitGroup shutdown waits on; the connection slots (Config.MaxParallel)
	// and the budget of bytes in flight (Config.FetchMemory); the counter
	// of Stats.PrefetchBytes; the logger.
	mountCtx   context.Context
	mountWG    *sync.WaitGroup
	slots      *semaphore.Weighted
	memory     *semaphore.Weighted
	prefetched *atomic.Int64
	log        *slog.Logger

	mu       sync.Mutex
	next     int64 // furthest end of a read of the current sequential run
	window   int64 // 0 while the reader looks random
	grownAt  int64 // block index at which the window last grew
	issued   int64 // prefetch was queued up to here
	queue    []object.Range
	running  int // workers
	busy     int // workers with a chunk in hand
	stopped  bool
	inflight sync.WaitGroup // workers
}

func newReadahead(h *fileHandle) *readahead {
	f := h.node.fsys
	return &readahead{
		v:          h.ch,
		key:        h.node.info.Key,
		block:      f.blockSize,
		size:       h.size,
		maxWin:     max(f.cfg.ReadAhead, f.blockSize),
		maxConns:   f.cfg.MaxParallelPerFile,
		slack:      f.cfg.KernelReadAhead + 2*f.blockSize,
		timeout:    f.cfg.RequestTimeout,
		handleCtx:  h.ctx,
		mountCtx:   f.ctx,
		mountWG:    &f.bg,
		slots:      f.fetchSlots,
		memory:     f.fetchMemory,
		prefetched: &f.stats.prefetchBytes,
		log:        f.log,
	}
}

// beforeRead is told about every read of the handle before it is served:
// it starts the prefetch the read calls for (observe) and, when the
// reader's own fetch should reach beyond the read, starts that fetch.
func (r *readahead) beforeRead(off, n int64) {
	if end := r.observe(off, n); end > off+n {
		_ = r.v.StartFetch(off, end-off)
	}
}

// observe is told about every read before it is served and returns how far
// the reader's own fetch should reach. A read continues the sequential run
// when it starts near where the run has got to (see slack).
func (r *readahead) observe(off, n int64) (fetchEnd int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := off + n
	if r.stopped {
		return end
	}
	// A read behind the run's front, within the window, is a straggler of
	// the same run: the kernel sends a sequential reader's READs several
	// at a time and they are served concurrently, so one may come in well
	// after those beyond it. It neither moves the run nor resets it.
	behind := r.slack + r.window
	sequential := off <= r.next+r.slack && off+behind >= r.next
	if !sequential {
		// A jump: forget the run; what is queued for it is no longer
		// wanted (what is in flight finishes into the cache).
		r.window = 0
		r.next = end
		r.issued = alignUp(end, r.block)
		r.queue = r.queue[:0]
		return end
	}
	r.next = max(r.next, end)
	if b := r.next / r.block; r.window == 0 {
		r.window, r.grownAt = r.block, b
	} else if b > r.grownAt && r.window < r.maxWin {
		r.window, r.grownAt = min(r.window*2, r.maxWin), b
	}
	chunk := r.chunk()
	start := max(r.issued, alignUp(end, r.block))
	stop := min(alignUp(r.next+r.window, r.block), r.size)
	// Queue whole chunks only: the window's edge moves a read at a time,
	// and a GET per read would waste the connections on latency.
	for start+chunk <= stop || (start < stop && stop == r.size) {
		rg := object.Range{Off: start, Len: min(chunk, stop-start)}
		r.queue = append(r.queue, rg)
		r.prefetched.Add(rg.Len)
		start = rg.End()
		r.issued = start
	}
	// Enough workers for the queue, counting only those not busy with
	// a chunk already.
	for r.running < r.maxConns && r.running-r.busy < len(r.queue) {
		r.running++
		r.startWorker()
	}

	// If the reader gets ahead of the workers, its own fetch takes a
	// whole chunk rather than one block.
	return min(max(end, alignDown(off, r.block)+chunk), r.size)
}

// chunk is the size of one prefetch request: small while the window is
// small (the first bytes come soon), the cache's longest GET once it is
// large; r.mu is held.
func (r *readahead) chunk() int64 {
	return min(prefetchChunk, max(r.block, alignUp(r.window/int64(max(r.maxConns, 1)), r.block)))
}

// startWorker runs a worker in a goroutine owned by the handle (it takes
// no chunk once the handle's context is done, and stop waits for it)
// and counted in the mount's WaitGroup, so shutdown waits for it too;
// r.mu is held.
func (r *readahead) startWorker() {
	r.inflight.Add(1)
	r.mountWG.Add(1)
	go func() {
		defer r.mountWG.Done()
		defer r.inflight.Done()
		r.work()
	}()
}

// work fetches queued chunks until the queue is empty or the handle ends.
func (r *readahead) work() {
	ctx := r.handleCtx
	for {
		r.mu.Lock()
		if len(r.queue) == 0 || ctx.Err() != nil || r.stopped {
			// Leave in the same critical section as the check: a read
			// that queues a chunk after it then sees one worker fewer and
			// starts another.
			r.running--
			r.mu.Unlock()
			return
		}
		rg := r.queue[0]
		r.queue = r.queue[1:]
		r.busy++
		r.mu.Unlock()
		ok := r.fetchChunk(ctx, rg)
		r.mu.Lock()
		r.busy--
		if !ok {
			r.running--
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
	}
}

// fetchChunk fetches one chunk within the budget of bytes in flight and
// the mount's connection limit. Both are returned as soon as the chunk has
// arrived in the cache's data file: the cache bounds the bytes written but
// not yet durable itself, so waiting for the commit here would only leave
// connections idle while the disk catches up. It reports false when the
// handle is ending.
func (r *readahead) fetchChunk(ctx context.Context, rg object.Range) bool {
	if err := r.memory.Acquire(ctx, rg.Len); err != nil {
		return false
	}
	defer r.memory.Release(rg.Len)
	if err := r.slots.Acquire(ctx, 1); err != nil {
		return false
	}
	err := r.arrive(rg)
	r.slots.Release(1)
	if err == nil {
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	// The reader meets the same failure and reports it; the prefetch only
	// stops, so it does not repeat a doomed request.
	r.log.Debug("prefetch failed", "key", r.key, "off", rg.Off, "err", err)
	r.mu.Lock()
	r.queue = r.queue[:0]
	r.window = 0
	r.mu.Unlock()
	return true
}

// arrive fetches rg with one GET that streams the body straight into the
// cache's data file (no buffer of the chunk's size), and returns once its
// bytes have arrived there, readable (not once they are durable): the
// connection is free for the next chunk. Blocks a reader is already
// fetching are left to it.
//
// The GET runs under the mount's context, not the handle's: cut off at
// Release it would throw away the bytes already on their way, and another
// reader would fetch them again. A chunk is short, so Release (which waits
// for the workers) waits for at most one chunk per worker; no worker takes
// a chunk after it.
//
// FetchAllWith rather than AwaitArrived: AwaitArrived fetches what nobody
// fetches as a reader's fetch does, into a memory buffer of the run's
// size; the streaming GET needs none.
func (r *readahead) arrive(rg object.Range) error {
	fctx, cancel := context.WithTimeout(r.mountCtx, r.timeout)
	defer cancel()
	err := r.v.FetchAllWith(fctx, cache.FetchOptions{
		Off: rg.Off, Len: rg.Len, Arrived: true,
		Workers: 1, RunBytes: rg.Len,
	})
	if !errors.Is(err, cache.ErrNotStored) {
		return err
	}
	// The cache cannot keep these bytes: fetch them into the cache's
	// buffers, which serve the reader as they arrive.
	return r.v.AwaitArrived(fctx, rg.Off, rg.Len)
}

// stop ends prefetching and returns once no worker is running: each
// finishes the chunk in hand (its GET runs under the mount's context, see
// arrive, bounded by Config.RequestTimeout) and takes no other.
func (r *readahead) stop() {
	r.mu.Lock()
	r.stopped = true
	r.queue = nil
	r.mu.Unlock()
	r.inflight.Wait()
}

func alignUp(n, block int64) int64 { return (n + block - 1) / block * block }

func alignDown(n, block int64) int64 { return n / block * block }
