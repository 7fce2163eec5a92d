package materialize

import (
	"context"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/ossmount/ossmount/rangefetch"
)

// blockFetcher is the part of *cache.Handle the workers use: make a range
// present in the cache (fetching only what is missing, once per block even
// when a mount reads the same blocks at the same moment).
type blockFetcher interface {
	Fetch(ctx context.Context, off, n int64) error
}

// fetchParts fetches parts with up to threads workers and calls landed
// after each part is in the cache. The first error cancels the other
// workers; fetchParts returns only when every worker has stopped.
func fetchParts(ctx context.Context, h blockFetcher, parts []rangefetch.Range, threads int, landed func(n int64)) error {
	if len(parts) == 0 {
		return nil
	}
	threads = min(threads, len(parts))
	parent := ctx
	g, ctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for range threads {
		g.Go(func() error {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(parts)) || ctx.Err() != nil {
					return nil
				}
				p := parts[i]
				if err := h.Fetch(ctx, p.Off, p.Len); err != nil {
					return err
				}
				landed(p.Len)
			}
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// A cancellation between two parts stops the workers without an error
	// of their own; the caller must still learn that parts are missing.
	return parent.Err()
}
