// Package fs is the FUSE tree of an ossmount mount: a read-only view of an
// OSS bucket (or of a prefix of it) built on go-fuse's node API.
//
// Directories come from delimited listings (ListObjectsV2 with "/"), kept
// for a metadata TTL; one listing answers getattr for every entry, so
// "ls -l" costs one LIST per 1000 entries and no HEAD. Files are one
// version of an object each: an inode is bound to an ETag, so a replaced
// object shows up as a new inode and an open file never mixes the bytes of
// two versions. Reads go through the persistent block cache (package
// cache), which fetches missing blocks with If-Match; sequential readers
// get a growing parallel prefetch window, and a fully cached version is
// served by the kernel directly through FUSE passthrough where available.
//
// # What the tree promises
//
//   - The tree is read-only: every call that would change it fails with
//     EROFS, and nothing is ever written to OSS.
//   - An open file reads one version from open to release. Opening
//     re-validates the version with a HEAD once the listing that showed
//     it is older than Config.MetadataTTL; a changed or deleted object
//     fails the open with ESTALE, which makes the kernel look the name up
//     again.
//   - No answer is trusted longer than Config.MetadataTTL, by this process
//     or by the kernel: the timeouts the kernel is given are what remains
//     of the TTL.
//   - Every FUSE request that talks to OSS ends within
//     Config.RequestTimeout, when the kernel interrupts it, or at
//     shutdown.
//   - The read-ahead (readahead.go) of all open files together holds at
//     most Config.MaxParallel connections and Config.FetchMemory bytes
//     requested and not yet arrived, and one file at most
//     Config.MaxParallelPerFile connections. It fetches through the cache
//     in whole blocks, never beyond the object nor further than
//     Config.ReadAhead past the reader, and stops at Release: the chunks
//     in flight finish into the cache, no other starts.
//   - Every goroutine started for a mount is counted and ends at
//     shutdown, which also releases the files the kernel never did.
//
// # What it requires of the cache
//
// The tree uses the cache only through blockCache and pinnedVersion
// (blockcache.go): *cache.Cache (Config.Cache) provides the first through
// an adapter, *cache.Handle implements the second. It relies on this:
//
//   - A pinned version is one ETag of one object: its bytes never change
//     while it is open, and once Verified, DataFile is the object itself,
//     which may be handed to the kernel for passthrough.
//   - A block is fetched once however many readers and prefetches ask for
//     it (StartFetch, AwaitArrived, FetchAllWith, ReadFd and ReadAt share
//     the fetches in flight), so the tree keeps no account of its own of
//     what is being fetched and may ask for a range more than once.
//   - Fetches started by StartFetch run under the cache's own context, not
//     the caller's. FetchAllWith with Arrived streams into the data file,
//     holding no buffer of the run's size, and returns once the bytes are
//     readable there; ErrNotStored means the cache could not keep them,
//     and AwaitArrived then brings them into its buffers instead.
//   - ReadFd's descriptor holds the range's bytes until its release is
//     called; any error means: read through ReadAt.
//   - Errors keep their type (errors.Is with the rangefetch errors), which
//     the tree maps to errno values (errors.go).
//   - Everything is safe for concurrent use, and a closed version or cache
//     fails with an error rather than blocking.
package fs
