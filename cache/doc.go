// Package cache keeps the bytes of OSS objects on local disk so that a block
// fetched once is never fetched again: not after an unmount, a crash, a
// kill -9 or a power cut.
//
// # Files
//
// A cache directory (mode 0700, files 0600) holds:
//
//	OSSMOUNT-CACHE        the marker: "ossmount cache format 1" (marker.go)
//	lock                  flock(2)ed by the owning process; holds its pid
//	control.sock          the owner's control socket (materialize.SocketPath)
//	index/                a badger v4 database: the index described below
//	data/ab/<hex>         one sparse data file per object version
//
// A data file is named by the hex SHA-256 of bucket NUL key NUL ETag, so no
// object key ever appears in a file name. It is created by truncating it to
// the object's size (all holes) and blocks are written with pwrite at the
// object's own offsets, so a 1 GiB object of which 4 MiB were read uses
// about 4 MiB of disk, and a complete data file is the object itself (the
// mount can hand it to the kernel with FUSE passthrough; materialize can
// rename it into place with Handle.Detach).
//
// A version may instead keep its data file outside the directory, at a
// path its opener names (OpenOutside: materialize does so beside DEST for
// an object larger than the cache; Fits says whether one would fit). The
// index records its blocks and CRCs and its path like any version's, so
// it resumes and verifies the same, but its bytes are not counted against
// the cap and it is never evicted (outside.go).
//
// # Index layout
//
// The version id (vid) is the first 16 bytes of that SHA-256. Keys are
// sorted bytes; every integer is big-endian so that byte order is numeric
// order.
//
//	"c" name                  -> config value; "cblocksize" = 8-byte block size,
//	                             fixed when the cache is created
//	"m" vid                   -> version metadata: bucket, key, ETag, size,
//	                             CRC64 when known, complete flag, data file
//	                             inode, last access, creation time; the data
//	                             file's path if it is outside the directory
//	"b" vid block(8)          -> 8-byte CRC64 of the block: the block is present
//	"k" sha256(bucket NUL key)[:16]
//	                          -> vid of the current version of that key, so a
//	                             new ETag finds and drops the old version
//	"r" access(8) vid         -> empty: recency, oldest first; one seek finds
//	                             the least recently used version to evict
//	                             (none for a version outside the directory)
//
// Marking a block present is one small write; loading a version's block map
// is one iterator seek over "b" vid; the whole-object CRC64 is the
// CRC64Combine of the block CRCs, so checking a complete object needs no
// re-read.
//
// # The invariant
//
// A block is recorded present only after its bytes are durable: pwrite, then
// fdatasync of the data file, then the badger write (committer.go), batched
// so one fdatasync per touched file and one WriteBatch serve every block
// written meanwhile. So after a crash or power cut every block the index
// calls present holds the right bytes; at worst some durable blocks are not
// recorded and are fetched again. Badger itself is not synced per write:
// losing its tail on a power cut only forgets blocks, which is safe.
//
// Readers never need a block to be recorded, so the committer lets a burst
// of fetching gather before it syncs (committer.go), unless somebody waits
// for durability, but by a rule that holds whatever the rate: no block
// waits unrecorded much more than a second (commitMaxAge, plus the sync
// in progress), and never more than 256 MiB are unrecorded
// (pendingCommitBytes: fetches wait for the committer beyond that). A
// crash or kill -9 therefore costs about the last second of arrivals, and
// at most 256 MiB, fetched again.
//
// Close returns within a few seconds (closeBound) whatever the disk does.
// If the cache directory is removed or its disk fails, badger cannot write
// its index and retries forever; Close then logs once what it could not
// record, leaves badger behind and releases the directory. What is lost is
// what a crash would lose: blocks to fetch again. Badger's repeated log
// lines are let through once a minute, with a count of the ones held back.
//
// Reads never wait for the disk: a block is served from the fetch's memory
// buffer as soon as all its bytes arrived and its CRC is computed, and from
// the data file (page cache) once written, while the committer makes it
// durable behind them. A fetch is shared by every reader of its blocks
// (flight.go), so a block is fetched once however many readers want it.
//
// Streaming fetches (Handle.FetchAllWith: the whole object for
// materialize, a range of it for the mount's prefetch) use runs as long as
// the caller asks, so they need no buffer of that size: each chunk
// of the body is written to the data file as it arrives and each block's
// CRC64 is computed on the way, once per byte (stream.go). A block of such
// a run is read from the file as soon as its last byte is written.
//
// Present blocks are checked against their CRC64 the first time they are
// read after a version is loaded (and by Verify), so a block damaged on
// disk is dropped and fetched again rather than returned. Dropping punches
// a hole; a complete version is first recorded incomplete (and synced), so
// a complete version is never one with holes.
//
// If the cache cannot store (disk full, read-only, over its cap with
// everything pinned), reads are still served from the fetched bytes and a
// warning is logged once.
//
// # Block states
//
// Every block of a loaded version is in one of the states below, named as
// the code names them (version.present, version.verified, version.flights,
// the fields of flightBlock). A fetched block goes from missing through in
// flight, arrived and written to present and settled; failed, not stored
// and dropped send it back to missing. For each state: what it promises a
// reader, what is left of it after a crash, and what moves a block there.
//
//	missing     not present, and no flight in version.flights
//	  reader    nothing to read: it starts a fetch (ensure) and waits for it
//	  crash     nothing to lose
//	  entered   load (blocks the index does not name), failFlight,
//	            notStored, commit (not recorded), dropIf
//
//	in flight   version.flights names the block's flight; flightBlock.arrived
//	            is open
//	  reader    waits for that flight instead of fetching again
//	  crash     the bytes on their way are lost and fetched again
//	  entered   ensure (ReadAt, ReadFd, StartFetch, AwaitArrived, Fetch),
//	            claimRun (FetchAllWith)
//
//	arrived     flightBlock.arrived closed with err nil: every byte is in the
//	            fetch buffer (a streaming flight: in the data file) and the
//	            CRC64 is computed
//	  reader    copies it from the buffer, or reads it from the file
//	  crash     lost: nothing of it is durable yet
//	  entered   blockArrived (buffered flight), streamArrived (streaming)
//
//	written     flightBlock.written: the bytes are in the data file (page
//	            cache) and queued for the committer; the buffer is let go
//	  reader    reads it from the file: it is verified, unless dropped
//	  crash     perhaps on disk, but the index does not name it: fetched
//	            again
//	  entered   markWritten, from store (buffered) and streamArrived
//
//	present     version.present, and its "b" key holds its CRC64: recorded
//	            (stored), only after the data file's fdatasync
//	  reader    reads it from the file, checked against its CRC64 first
//	            unless it is verified
//	  crash     kept; a power cut may forget it (badger is not synced per
//	            write), never make it wrong
//	  entered   commit; load (the blocks the index names)
//
//	verified    version.verified: its bytes in the data file are known good
//	            in this load (written from checksummed bytes, or present and
//	            matched their CRC64)
//	  reader    reads it from the file unchecked; ReadFd hands out the file
//	  crash     memory only: a reloaded version checks its blocks again
//	  entered   markWritten; readVerified (ReadAt) and Verify, for present
//	            blocks
//
//	settled     flightBlock.settled closed: the committer is done with the
//	            block, now present, not stored or dropped, and its flight
//	            left version.flights
//	  reader    Fetch (and FetchAllWith without Arrived) waits for this
//	  crash     as present, or as missing
//	  entered   commit, notStored, failFlight
//
//	not stored  settled with flightBlock.stored set: the cache could not
//	            keep the block (cap full of pinned data, disk full, I/O
//	            error); missing again
//	  reader    the readers waiting for it were served; Fetch and
//	            FetchAllWith report ErrNotStored
//	  crash     nothing durable names it
//	  entered   notStored (store), commit (sync or index write failed); a
//	            streaming flight that cannot store a block fails instead,
//	            abandoned
//
//	failed      flightBlock.err set, arrived and settled closed: the GET
//	            failed or ended early; errAbandoned if its FetchAllWith gave
//	            up (its ctx ended, the bytes could not be stored); missing
//	            again
//	  reader    gets the error; a block abandoned is fetched again
//	  crash     nothing durable names it; bytes a streaming flight wrote to
//	            a block that did not arrive are punched out (endStream)
//	  entered   failFlight, from runFlight and runStream
//
//	dropped     dropIf: a present block loses its bytes (a hole is punched)
//	            and then its "b" key, and is missing; a block in flight gets
//	            flightBlock.dropped and is settled without being recorded
//	  reader    fetches it again; a drop waits for ReadFd's release
//	  crash     a hole the index still names fails its CRC64 check on the
//	            next read and is fetched again
//	  entered   DropAll (whose version.gen bump also makes older flights'
//	            blocks dropped), a failed read or CRC64 check (ReadAt,
//	            Verify), Repair (a block its fetches do not agree on)
//
// A version is complete when every block is present and the combined block
// CRCs match the object's CRC64 (markCompleteIfDone, VerifyComplete); its
// data file is then the object. The CRC64 comes from the opener's HEAD, or
// from any GET's x-oss-hash-crc64ecma (flight.ObjectCRC64), or from one HEAD
// when the last block arrives without one (checkInBackground). A version
// whose blocks disagree with it stays incomplete and is repaired in the
// background (Repair, repair.go): blocks are fetched again and kept once
// two fetches agree, or once they are the one choice of their CRCs that
// matches the object; the others are dropped (state dropped) and fetched
// again. A version complete without any CRC64 is unverified (Verified is
// false): the mount reads it through the cache, never by passthrough.
// Dropping a block of a complete version first records the version
// incomplete, durably.
//
// # Ownership
//
// One process owns a cache directory at a time (lock.go). Other processes
// talk to the owner through its control socket, whose protocol belongs to
// package materialize. Every goroutine started here is owned by the Cache
// and stopped by Cache.Close.
package cache
