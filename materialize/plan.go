package materialize

import (
	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/object"
)

// planFetch chooses how the cache fetches what a version lacks. An object
// smaller than the multiget threshold is fetched with one GET (one per
// hole, when parts of it are cached already): for a short transfer one
// request is cheaper than several. A larger one is fetched by Threads
// workers, each taking the next run of up to PartSize bytes of missing
// blocks (the cache rounds it up to whole blocks, so no block is fetched by
// two GETs) and starting the next as soon as one ends.
func planFetch(size int64, req Request) cache.FetchOptions {
	if size < req.MultigetThreshold {
		return cache.FetchOptions{Workers: req.Threads, RunBytes: max(size, 1)}
	}
	return cache.FetchOptions{Workers: req.Threads, RunBytes: req.PartSize}
}

// total returns the bytes the ranges cover.
func total(rs []object.Range) int64 {
	var n int64
	for _, r := range rs {
		n += r.Len
	}
	return n
}
