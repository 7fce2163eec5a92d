package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// FetchOptions tune FetchAllWith.
type FetchOptions struct {
	// Off and Len limit the fetch to the blocks overlapping [Off, Off+Len)
	// (prefetch of a window); Len 0 means the whole object.
	Off, Len int64
	// Arrived makes FetchAllWith return once the bytes of the runs it
	// fetched itself are in the data file, readable, without waiting for
	// the committer to record them, nor for blocks another fetch is
	// bringing (a prefetch wants its connection back as soon as the body
	// has arrived; the cache bounds the bytes not yet durable itself).
	Arrived bool
	// Workers is how many GETs run at once; default 8.
	Workers int
	// RunBytes is the most one GET fetches: a run of consecutive missing
	// blocks, rounded up to whole blocks. Default 4 MiB. A run needs no
	// buffer of its size: its bytes go to the data file as they arrive.
	RunBytes int64
	// Progress, if not nil, is called with the bytes present so far and
	// the size (of the object, or of the blocks overlapping the range):
	// first with what the cache already holds, then as fetched blocks are
	// recorded (durably: a run killed after a report does not fetch those
	// bytes again), last when every block is. Calls never overlap and done
	// never decreases. It is called from FetchAllWith's goroutines, never
	// from the cache's own.
	Progress func(done, total int64)
}

// FetchAllWith makes the whole version, or the blocks of o's range,
// present. Each worker claims the next run of blocks that are neither
// present nor being fetched (at most o.RunBytes) and fetches it with one
// GET, streaming the body into the data file; blocks another reader is
// already fetching are not fetched again but waited for. Workers start
// their next run as soon as a GET ends: the committer makes blocks durable
// and records them behind them. FetchAllWith returns once every block is
// recorded (with o.Arrived: once its own runs arrived). It stops at the
// first error; ErrNotStored means the cache could not keep the blocks (cap
// full of pinned data, disk full or unwritable).
func (h *Handle) FetchAllWith(ctx context.Context, o FetchOptions) error {
	if err := h.check(); err != nil {
		return err
	}
	c, v := h.c, h.v
	if !o.Arrived {
		// It waits for every block to be recorded and reports progress
		// as they are: the committer records them as they come.
		c.durableWaiters.Add(1)
		defer c.durableWaiters.Add(-1)
	}
	p, ok := h.planFetchAll(o)
	if !ok {
		return nil
	}
	prog := &fetchProgress{report: o.Progress, total: p.total}
	prog.update(p.present)
	if p.present == p.total {
		return nil
	}
	if c.src == nil {
		return ErrNoSource
	}
	if v.uncached {
		return fmt.Errorf("%w: the cache cannot hold oss://%s/%s", ErrNotStored, v.ref.Bucket, v.ref.Key)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Close cancels the GETs too: it waits for every flight.
	defer context.AfterFunc(c.ctx, cancel)()
	var recorded *recordedBytes
	if o.Progress != nil {
		recorded = newRecordedBytes()
		defer prog.follow(p.present, recorded)()
	}
	ours, err := h.streamRuns(ctx, cancel, p, recorded)
	if err != nil {
		return err
	}
	if o.Arrived {
		return nil
	}
	if err := h.awaitFetchedAll(ctx, p, ours); err != nil {
		return err
	}
	prog.update(p.total - h.missingIn(p.first, p.end))
	return nil
}

// fetchAllPlan is what one FetchAllWith covers and how.
type fetchAllPlan struct {
	first, end int64 // blocks [first, end)
	off, total int64 // the bytes of those blocks
	present    int64 // bytes of them present when the fetch began
	workers    int
	runBlocks  int64 // blocks per GET
}

// planFetchAll resolves o's defaults and range against the version; ok is
// false if the range holds no byte of the object.
func (h *Handle) planFetchAll(o FetchOptions) (p fetchAllPlan, ok bool) {
	c, v := h.c, h.v
	p.workers = o.Workers
	if p.workers <= 0 {
		p.workers = 8
	}
	p.runBlocks = c.maxRun
	if o.RunBytes > 0 {
		p.runBlocks = max(1, (o.RunBytes+v.bs-1)/v.bs)
	}
	p.first, p.end = 0, v.nblocks
	if o.Len > 0 {
		off := max(o.Off, 0)
		end := min(off+o.Len, v.size)
		if end <= off {
			return p, false
		}
		p.first, p.end = off/v.bs, (end-1)/v.bs+1
	}
	p.off = p.first * v.bs
	p.total = min(p.end*v.bs, v.size) - p.off
	p.present = p.total - h.missingIn(p.first, p.end)
	return p, true
}

// fetchProgress reports a FetchAllWith's progress to its caller: calls
// never overlap and done never decreases.
type fetchProgress struct {
	report func(done, total int64) // nil: nobody listens
	mu     sync.Mutex
	done   int64
	total  int64
}

func (p *fetchProgress) update(done int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = min(max(done, p.done), p.total)
	if p.report != nil {
		p.report(p.done, p.total)
	}
}

// follow reports base plus the bytes the committer records, from a
// goroutine of its own, until the returned stop is called; stop returns
// once the goroutine has ended.
func (p *fetchProgress) follow(base int64, recorded *recordedBytes) (stop func()) {
	stopReports := make(chan struct{})
	reporter := make(chan struct{})
	go func() {
		defer close(reporter)
		for {
			select {
			case <-recorded.kick:
				p.update(base + recorded.n.Load())
			case <-stopReports:
				return
			}
		}
	}()
	return func() {
		close(stopReports)
		<-reporter
	}
}

// streamRuns runs p.workers workers until no block of p is left to claim
// or one fails: each claims the next run nobody is fetching and streams it
// in with one GET (runStream). It returns the runs they fetched and the
// first error, a cancellation only if nothing else went wrong; a failure
// cancels the other workers' GETs.
func (h *Handle) streamRuns(ctx context.Context, cancel context.CancelFunc, p fetchAllPlan, recorded *recordedBytes) ([]*flight, error) {
	var (
		mu     sync.Mutex
		first  error
		ours   []*flight
		cursor = p.first // next block to look at; guarded by v.mu
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil || (isCanceled(first) && !isCanceled(err)) {
			first = err
		}
		mu.Unlock()
		cancel()
	}
	var wg sync.WaitGroup
	for range p.workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				fl, err := h.claimRun(&cursor, p.end, p.runBlocks, recorded)
				if err != nil {
					fail(err)
					return
				}
				if fl == nil {
					return
				}
				mu.Lock()
				ours = append(ours, fl)
				mu.Unlock()
				if err := h.c.runStream(ctx, fl); err != nil {
					fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return ours, first
}

// awaitFetchedAll waits until every block of p is settled: those of the
// runs FetchAllWith fetched itself (ours) are recorded, or the error says
// why not; then the blocks other readers were fetching, and blocks dropped
// while in flight, which are fetched again.
func (h *Handle) awaitFetchedAll(ctx context.Context, p fetchAllPlan, ours []*flight) error {
	for _, fl := range ours {
		for i := range fl.blocks {
			fb := &fl.blocks[i]
			if err := h.c.awaitSettled(ctx, fb); err != nil {
				return err
			}
			if fb.stored != nil {
				return fb.stored
			}
		}
	}
	return h.Fetch(ctx, p.off, p.total)
}

// claimRun registers a streaming flight for the next run of blocks from
// *cursor on, before endBlock, that are neither present nor in flight, at
// most runBlocks long, or returns nil when there is none left.
func (h *Handle) claimRun(cursor *int64, endBlock, runBlocks int64, recorded *recordedBytes) (*flight, error) {
	c, v := h.c, h.v
	c.flightGate.RLock()
	defer c.flightGate.RUnlock()
	if c.closing {
		return nil, ErrClosed
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	b := *cursor
	for b < endBlock && (v.present.has(b) || v.flights[b] != nil) {
		b++
	}
	if b >= endBlock {
		*cursor = b
		return nil, nil
	}
	start := b
	for b < endBlock && b-start < runBlocks && !v.present.has(b) && v.flights[b] == nil {
		b++
	}
	*cursor = b
	fl := newStreamFlight(c, v, start, b-1, recorded)
	for i := start; i < b; i++ {
		v.flights[i] = fl
	}
	v.inflight++
	c.flights.Add(1)
	return fl, nil
}

// missingIn counts the bytes of the blocks in [first, end) not present.
func (h *Handle) missingIn(first, end int64) int64 {
	v := h.v
	v.mu.Lock()
	defer v.mu.Unlock()
	var n int64
	for b := first; b < end; b++ {
		if !v.present.has(b) {
			n += v.blockLen(b)
		}
	}
	return n
}

func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
