package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
)

// logFiles returns the log at path and its rotated copies, by name.
func logFiles(t *testing.T, path string) map[string]int64 {
	t.Helper()
	ext := filepath.Ext(path)
	matches, err := filepath.Glob(strings.TrimSuffix(path, ext) + "*" + ext)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	for _, m := range matches {
		fi, err := os.Stat(m)
		if err != nil {
			continue // removed meanwhile
		}
		sizes[m] = fi.Size()
	}
	return sizes
}

// The log never grows past its bound; old logs beyond logBackups go, and
// the newest lines are in the current file.
func TestRotatingLogStaysWithinItsBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ossmount.log")
	const max = 8 << 10
	rotations := 0
	l, err := openRotatingLog(path, max, func() error { rotations++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var last string
	for i := range 1000 {
		last = fmt.Sprintf("line %04d %s\n", i, strings.Repeat("x", 90))
		if _, err := l.Write([]byte(last)); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() > max {
			t.Fatalf("after line %d the log is %v bytes (%v), over %d", i, fi.Size(), err, max)
		}
	}
	if rotations < 10 {
		t.Errorf("%d rotations for 100 KB in files of 8 KiB", rotations)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.HasSuffix(string(b), last) {
		t.Errorf("the current log does not end with the last line written (%v)", err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return len(logFiles(t, path)) <= 1+logBackups },
		"old logs beyond the kept ones removed")
	for name, size := range logFiles(t, path) {
		if size > max {
			t.Errorf("%s has %d bytes, over %d", name, size, max)
		}
	}
}

// An existing log counts against the bound: a restarted mount does not
// start counting from zero.
func TestRotatingLogCountsWhatIsThere(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ossmount.log")
	if err := os.WriteFile(path, []byte(strings.Repeat("old line\n", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := openRotatingLog(path, 4500, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Write([]byte("new line\n")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "new line\n" {
		t.Errorf("the full log was not rotated before the write: %q, %v", b, err)
	}
}
