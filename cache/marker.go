package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A cache directory says it is one with a marker file of its own,
// OSSMOUNT-CACHE, holding the format of the directory. The cache takes a
// directory over (creates its files there, makes it private) only if the
// directory is new or empty, carries the marker, or is a cache made before
// the marker existed; anything else is somebody's folder and is refused
// untouched, so that a mistyped --cache-dir never changes it.

// MarkerName is the name of the marker file in a cache directory.
const MarkerName = "OSSMOUNT-CACHE"

// markerFormat is the format of the directory this code reads and writes.
const markerFormat = 1

const markerPrefix = "ossmount cache format "

// ErrNoCache means the directory holds no cache (it is missing or empty)
// and the caller asked not to create one (Options.Existing, OpenView).
var ErrNoCache = errors.New("no cache there")

// NotCacheError means a directory holds something other than a cache: the
// cache refuses to take it over.
type NotCacheError struct {
	Dir    string
	Reason string // what is there instead, e.g. `it holds "notes.txt" and no OSSMOUNT-CACHE marker`
}

func (e *NotCacheError) Error() string {
	return fmt.Sprintf("%s is not an ossmount cache (%s); choose another --cache-dir (a new or empty directory becomes one)", e.Dir, e.Reason)
}

// dirKind is what a prospective cache directory holds.
type dirKind int

const (
	dirMissing  dirKind = iota // does not exist
	dirEmpty                   // exists and holds nothing
	dirMarked                  // holds the marker
	dirUnmarked                // a cache made before the marker: index/, data/ and lock, nothing else
)

// legacyEntries are the names a cache made before the marker could hold,
// with whether each is a directory.
var legacyEntries = map[string]bool{
	"index":        true,
	"data":         true,
	"lock":         false,
	"control.sock": false, // left by an owner that crashed
	"ossmount.log": false, // the log of a background mount
}

// classifyDir says what dir holds, without changing anything. A directory
// that is not a cache gives *NotCacheError; a marker of a newer format an
// error that says so.
func classifyDir(dir string) (dirKind, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return dirMissing, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cache directory: %w", err)
	}
	if !fi.IsDir() {
		return 0, &NotCacheError{Dir: dir, Reason: "it is not a directory"}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("read cache directory: %w", err)
	}
	if len(entries) == 0 {
		return dirEmpty, nil
	}
	if _, err := os.Lstat(filepath.Join(dir, MarkerName)); err == nil {
		format, _, err := readMarker(dir)
		if err != nil {
			return 0, err
		}
		if format > markerFormat {
			return 0, fmt.Errorf("cache directory %s was made by a newer ossmount (cache format %d, this one reads %d); use that version or another --cache-dir", dir, format, markerFormat)
		}
		return dirMarked, nil
	}
	core := 0 // of index, data and lock
	for _, e := range entries {
		isDir, ok := legacyEntries[e.Name()]
		if !ok || e.IsDir() != isDir || !(e.Type().IsRegular() || e.IsDir() || e.Name() == "control.sock") {
			return 0, &NotCacheError{Dir: dir, Reason: fmt.Sprintf("it holds %q and no %s marker", e.Name(), MarkerName)}
		}
		if e.Name() == "index" || e.Name() == "data" || e.Name() == "lock" {
			core++
		}
	}
	// A background mount that failed before it opened the cache left
	// only its log.
	onlyLog := len(entries) == 1 && entries[0].Name() == "ossmount.log"
	if core != 3 && !onlyLog {
		return 0, &NotCacheError{Dir: dir, Reason: fmt.Sprintf("it holds part of a cache's files and no %s marker", MarkerName)}
	}
	return dirUnmarked, nil
}

// readMarker returns the format the marker of dir records. An empty
// marker (a crash while it was written) counts as the current format.
func readMarker(dir string) (format int, empty bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, MarkerName))
	if err != nil {
		return 0, false, fmt.Errorf("read cache marker: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return markerFormat, true, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(s, markerPrefix))
	if !strings.HasPrefix(s, markerPrefix) || err != nil || n < 1 {
		return 0, false, &NotCacheError{Dir: dir, Reason: fmt.Sprintf("its %s file is not an ossmount marker", MarkerName)}
	}
	return n, false, nil
}

// Claim makes dir a cache directory as Open does, without opening the
// cache, so that a caller may keep files of its own there (the mount's
// log): a missing or empty directory is created or marked, a cache is
// made private, anything else is refused with *NotCacheError and left
// untouched.
func Claim(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	return claimDir(abs, false)
}

// claimDir makes dir a cache directory the cache owns, or refuses it: a
// missing directory is created, an empty or unmarked one gets the marker,
// and only then is its mode tightened to 0700 (the cache holds object data
// its owner may not share). A directory that is not a cache is left as it
// was. With existing, a missing or empty directory gives ErrNoCache and is
// not created.
func claimDir(dir string, existing bool) error {
	kind, err := classifyDir(dir)
	if err != nil {
		return err
	}
	if existing && (kind == dirMissing || kind == dirEmpty) {
		return fmt.Errorf("%s: %w", dir, ErrNoCache)
	}
	if kind == dirMissing {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create cache directory: %w", err)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("make cache directory private: %w", err)
		}
	}
	if kind != dirMarked {
		return writeMarker(dir)
	}
	if _, empty, err := readMarker(dir); err == nil && empty {
		return rewriteMarker(dir)
	}
	return nil
}

func markerText() []byte {
	return []byte(markerPrefix + strconv.Itoa(markerFormat) + "\n")
}

// writeMarker creates the marker of dir and makes it durable. A marker
// another process created meanwhile is as good.
func writeMarker(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, MarkerName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mark cache directory: %w", err)
	}
	return finishMarker(dir, f)
}

// rewriteMarker fills an empty marker that a crash left behind.
func rewriteMarker(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, MarkerName), os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("mark cache directory: %w", err)
	}
	return finishMarker(dir, f)
}

func finishMarker(dir string, f *os.File) error {
	_, err := f.Write(markerText())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("mark cache directory: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
