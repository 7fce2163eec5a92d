package rangefetch

import "time"

// Ref names one version of an object: reads carry If-Match: ETag so that
// bytes of different versions are never mixed.
type Ref struct{ Bucket, Key, ETag string }

// ObjectInfo is what a HEAD (or a listing, without CRC64) says about an object.
type ObjectInfo struct {
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
func (o ObjectInfo) Ref() Ref { return Ref{Bucket: o.Bucket, Key: o.Key, ETag: o.ETag} }

// ListPage is one page of a delimited listing.
type ListPage struct {
	Objects   []ObjectInfo // without CRC64
	Prefixes  []string     // common prefixes ("dir/"), i.e. sub-directories
	NextToken string       // "" on the last page
}
