package materialize

import (
	"context"
	"errors"
	"fmt"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/object"
)

// preparation is the outcome of making a version complete and verified.
type preparation struct {
	reused, fetched int64
	verified        bool
	refetched       bool
	notes           []string
}

// versionHandle is what prepare needs of a *cache.Handle.
type versionHandle interface {
	FetchAllWith(ctx context.Context, o cache.FetchOptions) error
	Settle()
	Missing() []object.Range
	VerifyComplete(ctx context.Context) error
	Repair(ctx context.Context, o cache.FetchOptions) (cache.RepairReport, error)
}

// prepare fetches every missing block of the version into the cache and
// checks the whole object's CRC64 against OSS's, on every run, so that a
// resumed run is held to the same standard as a fresh one (the SDK's
// resumable download skips the check on resume).
//
// One whole-object CRC cannot tell which block is wrong, and blocks read
// earlier through a mount were never checked as a whole, so a mismatch is
// repaired by agreement (cache.Handle.Repair): every block is fetched
// again, those whose two fetches agree are kept, only the others are
// fetched once more, until the object matches. When it cannot be made to
// match (OSS's CRC64 is wrong, or the network corrupts too much for the
// bounded number of passes) the run fails with ErrIntegrity and the
// destination is not written.
func prepare(ctx context.Context, h versionHandle, info object.Info, req Request,
	report func(done, total int64)) (preparation, error) {
	var p preparation
	size := info.Size
	fetch := func() error {
		have := size - total(h.Missing())
		opts := planFetch(size, req)
		opts.Progress = report
		err := h.FetchAllWith(ctx, opts)
		// What became present counts, including blocks a reader of the
		// mount fetched meanwhile.
		p.fetched += max(0, size-total(h.Missing())-have)
		if err != nil {
			return cacheError("fetch "+req.source(), err)
		}
		return nil
	}

	// Blocks a mount read a moment ago may still wait to be recorded;
	// they count as reused too.
	h.Settle()
	p.reused = size - total(h.Missing())
	err := fetchAndVerify(ctx, h, fetch)
	// A version that disagrees is being repaired, by this run or by the
	// cache's own check of what became complete (whose drops can make
	// the version incomplete under fetchAndVerify): join it.
	if errors.Is(err, cache.ErrCorrupt) || errors.Is(err, cache.ErrIncomplete) {
		rep, rerr := h.Repair(ctx, planFetch(size, req))
		p.fetched += rep.Refetched
		if p.refetched = errors.Is(err, cache.ErrCorrupt) || rep.Passes > 0; p.refetched {
			p.notes = append(p.notes, fmt.Sprintf("the blocks of %s did not add up to its CRC64; they were fetched again until they agreed", req.source()))
		}
		err = rerr
		if errors.Is(err, cache.ErrCorrupt) {
			return p, fmt.Errorf("%w: %s (ETag %s) cannot be made to match its CRC64 %d (%v): "+
				"OSS or the network corrupts it; the destination was not written", ErrIntegrity, req.source(), info.ETag, info.CRC64, err)
		}
	}
	if err != nil {
		return p, cacheError("verify "+req.source(), err)
	}
	p.verified = info.HasCRC64
	if !info.HasCRC64 && req.Verify == VerifyCRC64 {
		p.notes = append(p.notes, fmt.Sprintf("%s has no CRC64 (x-oss-hash-crc64ecma), so only the per-block checks applied", req.source()))
	}
	return p, nil
}

// fetchAndVerify fetches what is missing and checks the whole version.
// VerifyComplete also marks the version complete, which installing needs;
// without a CRC64 (or with VerifyNone, whose info carries none) that is all
// it does. A block can go missing between the two steps (a reader of the
// mount found it damaged on disk and dropped it), so an incomplete version
// is fetched again a few times before the error stands.
func fetchAndVerify(ctx context.Context, h versionHandle, fetch func() error) error {
	var err error
	for range 3 {
		if err = fetch(); err != nil {
			return err
		}
		if err = h.VerifyComplete(ctx); !errors.Is(err, cache.ErrIncomplete) {
			return err
		}
	}
	return err
}
