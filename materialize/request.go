package materialize

import (
	"fmt"
	"path/filepath"
)

// Verify says how a run checks the assembled object.
type Verify string

const (
	// VerifyCRC64 compares the combined CRC64 of every block with the
	// object's x-oss-hash-crc64ecma, on fresh and resumed runs alike.
	VerifyCRC64 Verify = "crc64"
	// VerifyNone trusts the per-block checks the cache does on its own.
	VerifyNone Verify = "none"
)

// Defaults and limits of a Request. The part size limits are those users of
// the SDKs' resumable download know; the defaults are chosen to fill a fast
// link rather than to be gentle (one thread of 100 KB parts never is).
const (
	DefaultThreads           = 32
	DefaultPartSize          = 8 << 20
	DefaultMultigetThreshold = 10 * 1000 * 1000
	MinPartSize              = 100 * 1000
	MaxPartSize              = 5 * 1000 * 1000 * 1000
	MaxThreads               = 256
)

// Request asks for one object to be installed at Dest. The zero values of
// Threads, PartSize, MultigetThreshold and Verify mean the defaults. It is
// also the message a process sends to the cache owner, hence the JSON tags.
type Request struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	// Dest is the file to create or replace. Relative paths are resolved
	// against the caller's working directory before a request is delegated.
	Dest string `json:"dest"`
	// Threads is how many parts are fetched at once.
	Threads int `json:"threads,omitempty"`
	// PartSize is how many bytes of consecutive missing blocks one thread
	// fetches with one GET; it is rounded up to whole cache blocks. The
	// bytes stream into the cache file as they arrive, so a large part
	// costs no memory.
	PartSize int64 `json:"part_size,omitempty"`
	// MultigetThreshold: objects smaller than this are fetched with one GET.
	MultigetThreshold int64 `json:"multiget_threshold,omitempty"`
	// NoClobber refuses to replace an existing Dest, before fetching and
	// again, atomically, at install.
	NoClobber bool   `json:"no_clobber,omitempty"`
	Verify    Verify `json:"verify,omitempty"`
	// KeepCache copies (or reflinks) instead of moving the cache's file,
	// so the cache keeps this version for the mount.
	KeepCache bool `json:"keep_cache,omitempty"`
}

// withDefaults fills zero fields and makes Dest absolute.
func (r Request) withDefaults() (Request, error) {
	if r.Threads == 0 {
		r.Threads = DefaultThreads
	}
	if r.PartSize == 0 {
		r.PartSize = DefaultPartSize
	}
	if r.MultigetThreshold == 0 {
		r.MultigetThreshold = DefaultMultigetThreshold
	}
	if r.Verify == "" {
		r.Verify = VerifyCRC64
	}
	if r.Dest != "" {
		abs, err := filepath.Abs(r.Dest)
		if err != nil {
			return r, invalidf("destination %q: %v", r.Dest, err)
		}
		r.Dest = abs
	}
	return r, r.validate()
}

// validate reports the first field out of range, naming the flag a user of
// the command would change.
func (r Request) validate() error {
	switch {
	case r.Bucket == "":
		return invalidf("no bucket given")
	case r.Key == "" || r.Key[len(r.Key)-1] == '/':
		return invalidf("oss://%s/%s names no object (a key is needed, not a prefix)", r.Bucket, r.Key)
	case r.Dest == "":
		return invalidf("no destination given")
	case r.Threads < 1 || r.Threads > MaxThreads:
		return invalidf("threads must be between 1 and %d, not %d", MaxThreads, r.Threads)
	case r.PartSize < MinPartSize || r.PartSize > MaxPartSize:
		return invalidf("part size must be between 100KB and 5GB, not %d bytes", r.PartSize)
	case r.MultigetThreshold < 0:
		return invalidf("multiget threshold must not be negative")
	case r.Verify != VerifyCRC64 && r.Verify != VerifyNone:
		return invalidf("verify must be crc64 or none, not %q", r.Verify)
	}
	return nil
}

// source is the object's URL, for messages.
func (r Request) source() string { return fmt.Sprintf("oss://%s/%s", r.Bucket, r.Key) }

// Connections is the connection pool size that lets every thread have its
// GET in flight at once: each part is one GET.
func Connections(threads int) int {
	return max(1, min(threads, MaxThreads))
}
