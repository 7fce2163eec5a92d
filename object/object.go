// Package object holds the plain values that every layer of ossmount
// passes around: which version of which object (Ref), what OSS says about
// it (Info), a byte window of it (Range), and its checksum (CRC64, the
// x-oss-hash-crc64ecma that OSS computes over the whole object).
//
// It is a leaf: it imports no other ossmount package and does no I/O, so
// that the cache, the OSS client, the FUSE tree and materialize can share
// these types without depending on one another for them.
package object

import "time"

// Ref names one version of an object: reads carry If-Match: ETag so that
// bytes of different versions are never mixed.
type Ref struct{ Bucket, Key, ETag string }

// Info is what a HEAD (or a listing, without CRC64) says about an object.
type Info struct {
	Bucket, Key  string
	Size         int64
	ETag         string // quoted, exactly as OSS sent it
	CRC64        uint64 // x-oss-hash-crc64ecma, valid when HasCRC64
	HasCRC64     bool
	LastModified time.Time
	StorageClass string // Standard, IA, Archive, ColdArchive, DeepColdArchive
	ObjectType   string // Normal, Multipart, Appendable, Symlink
}

// Ref returns the version reference of this object.
func (o Info) Ref() Ref { return Ref{Bucket: o.Bucket, Key: o.Key, ETag: o.ETag} }

// Range is a byte window [Off, Off+Len) of an object.
type Range struct{ Off, Len int64 }

// End returns the offset just past the range.
func (r Range) End() int64 { return r.Off + r.Len }
