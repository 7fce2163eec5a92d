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
package fs
