package ossserver

import (
	"errors"
	"io"
	"time"
)

// ObjectInfo describes one version of an object the way HEAD and listings
// report it.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string // quoted upper-case hex, e.g. "\"5D41402ABC4B2A76B9719D911017C592\""
	LastModified time.Time
	StorageClass string // "" means Standard
}

// BucketInfo describes a bucket for ListBuckets and GetBucketInfo.
type BucketInfo struct {
	Name    string
	Created time.Time
}

// Errors a Storage returns so that the server can answer with the matching
// OSS error code.
var (
	ErrNoSuchBucket = errors.New("ossserver: no such bucket")
	ErrNoSuchKey    = errors.New("ossserver: no such key")
)

// Version is one opened version of an object. Everything read through it
// belongs to the version described by Info, even if the object is replaced
// while the version is open; that is what lets a GET send a consistent body.
type Version interface {
	io.ReaderAt
	io.Closer
	Info() ObjectInfo
	// Check reports an error when the bytes behind the version may have
	// changed since it was opened (a file rewritten in place). The server
	// calls it before sending each chunk and cuts the connection on error
	// rather than send a body that mixes two versions.
	Check() error
}

// crcVersion is implemented by versions that already know their CRC-64, so
// the server need not read them to compute it.
type crcVersion interface {
	CRC64() (uint64, bool)
}

// WalkFunc receives objects in byte order of their keys. A non-empty skip
// asks the walk to leave out every following key that starts with skip (the
// server uses it for a common prefix it has already rolled up, so a backend
// can avoid descending into a directory). stop ends the walk.
type WalkFunc func(o ObjectInfo) (skip string, stop bool)

// Storage is where the server finds buckets and objects. Implementations
// must be safe for concurrent use.
type Storage interface {
	// Buckets returns every bucket, sorted by name.
	Buckets() ([]BucketInfo, error)
	// Bucket returns one bucket or ErrNoSuchBucket.
	Bucket(name string) (BucketInfo, error)
	// Stat describes the current version of an object, or returns
	// ErrNoSuchBucket / ErrNoSuchKey.
	Stat(bucket, key string) (ObjectInfo, error)
	// Open opens the current version of an object.
	Open(bucket, key string) (Version, error)
	// Walk calls fn for the objects of bucket whose key starts with prefix
	// and sorts strictly after `after`, in byte order, without reading
	// object contents.
	Walk(bucket, prefix, after string, fn WalkFunc) error
}
