package rangefetch

import (
	"context"
	"io"
	"sync"

	"github.com/ossmount/ossmount/object"
	"golang.org/x/sync/errgroup"
)

// FetchParallel fetches ranges of version ref with up to `workers`
// concurrent ReadRange calls, writing each byte to w at its object offset
// (w must accept concurrent WriteAt of disjoint ranges, as *os.File does).
// progress, if not nil, is called with the bytes written so far and the
// sum of the range lengths as bytes stream in; calls are serialized and
// done never decreases. The first fatal error cancels the other workers
// and is returned once they have all stopped. workers <= 0 means the
// client's MaxConns. Memory is one fixed buffer per worker.
func (c *Client) FetchParallel(ctx context.Context, ref object.Ref, ranges []object.Range, workers int, w io.WriterAt, progress func(done, total int64)) error {
	if workers <= 0 {
		workers = c.cfg.MaxConns
	}
	var total int64
	for _, r := range ranges {
		total += r.Len
	}
	var (
		mu   sync.Mutex
		done int64
	)
	onBytes := func(k int64) {
		mu.Lock()
		done += k
		if progress != nil {
			progress(done, total)
		}
		mu.Unlock()
	}
	if progress != nil {
		progress(0, total)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	started := 0
	for _, r := range ranges {
		if gctx.Err() != nil {
			break // a worker failed or the caller gave up: start no more
		}
		started++
		g.Go(func() error {
			return c.readRange(gctx, ref, r.Off, r.Len, w, onBytes)
		})
	}
	err := g.Wait()
	if err == nil && started < len(ranges) {
		// The caller cancelled before every range was started.
		return &Error{Op: opGet, Bucket: ref.Bucket, Key: ref.Key, Err: ctx.Err()}
	}
	return err
}
