// Package materialize turns one OSS object into a verified local file,
// reusing every block the ossmount cache already holds.
//
// A run reads the object's size, ETag and CRC64 once, fetches the missing
// blocks into the cache in parallel (every GET pinned to the ETag with
// If-Match), checks the whole object's CRC64 by combining the cache's
// per-block CRCs, and installs the file atomically beside DEST: a reflink
// when the filesystem can share blocks, a rename of the cache file when the
// cache may give it up, a copy otherwise. Because the blocks live in the
// cache, an interrupted run resumes where it stopped, bytes read earlier
// through a mount count, and a finished run leaves nothing to fetch twice.
//
// An object the cache cannot hold (cache.Cache.Fits) is fetched into a
// hidden file beside DEST instead (cache.Cache.OpenOutside): the cache's
// index records its blocks, so it resumes and verifies the same, but it
// takes none of the cache's space, evicts nothing, and is installed by a
// rename within DEST's directory. What would fail at the end is checked
// before the first GET: DEST must not be a device, FIFO, socket or
// directory, its directory must take a new file, and its filesystem must
// have room for what the run writes there.
//
// One process owns a cache directory at a time. StartServer lets other
// ossmount processes on the same directory hand their requests to the
// owner over a unix socket (Delegate), so that two runs of the same object
// share one download instead of racing.
package materialize
