package fs

import (
	"hash/fnv"
	"strings"
)

// maxNameLen is the longest file name Linux accepts (NAME_MAX).
const maxNameLen = 255

// nameProblem says why a key component cannot be shown as a file name, or
// returns "" when it can. Such keys are skipped (with a warning), never
// turned into an error for the whole directory: one odd key must not hide
// its thousand well-formed siblings.
func nameProblem(name string) string {
	switch {
	case name == "":
		return "empty path component (as in a//b)"
	case name == "." || name == "..":
		return "component is . or .."
	case len(name) > maxNameLen:
		return "component longer than 255 bytes"
	case strings.IndexByte(name, 0) >= 0:
		return "component contains a NUL byte"
	}
	return ""
}

// childPrefix is the key prefix of the sub-directory name of the directory
// whose prefix is dir.
func childPrefix(dir, name string) string { return dir + name + "/" }

// Inode numbers are derived from what a node stands for, so that they are
// stable for the life of the mount and across remounts: a directory is its
// prefix, a file is one version (key and ETag) of an object. The top bit is
// cleared to stay clear of go-fuse's automatic numbers (2^63 and up), and 1
// is the root's.
func dirIno(prefix string) uint64 { return hashIno("d\x00" + prefix) }

func fileIno(key, etag string) uint64 { return hashIno("f\x00" + key + "\x00" + etag) }

func hashIno(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	ino := h.Sum64() &^ (1 << 63)
	if ino <= 1 {
		ino += 2
	}
	return ino
}
