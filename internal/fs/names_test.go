package fs

import (
	"strings"
	"testing"
)

func TestNameProblem(t *testing.T) {
	for name, bad := range map[string]bool{
		"file.txt":               false,
		"with space +%.txt":      false,
		"数据":                     false,
		strings.Repeat("a", 255): false,
		"":                       true,
		".":                      true,
		"..":                     true,
		strings.Repeat("a", 256): true,
		"nul\x00byte":            true,
	} {
		if got := nameProblem(name) != ""; got != bad {
			t.Errorf("nameProblem(%q) = %q, want a problem: %v", name, nameProblem(name), bad)
		}
	}
}

func TestInodeNumbers(t *testing.T) {
	seen := map[uint64]string{}
	for _, id := range []struct{ key, etag string }{{"a", "1"}, {"a", "2"}, {"b", "1"}, {"a/", ""}} {
		ino := fileIno(id.key, id.etag)
		if ino <= 1 || ino >= 1<<63 {
			t.Errorf("fileIno(%q, %q) = %d, outside [2, 2^63)", id.key, id.etag, ino)
		}
		if prev, dup := seen[ino]; dup {
			t.Errorf("fileIno(%q, %q) collides with %s", id.key, id.etag, prev)
		}
		seen[ino] = id.key + "@" + id.etag
	}
	if dirIno("a/") == fileIno("a/", "") {
		t.Errorf("a directory and a file share an inode number")
	}
	if fileIno("k", "e1") != fileIno("k", "e1") {
		t.Errorf("inode numbers are not stable")
	}
}
