package ossserver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// dirStorage serves a directory tree: every top-level directory of the root
// is a bucket and every regular file below it an object whose key is its
// '/'-separated path relative to the bucket. Directories are not objects.
//
// All access goes through an os.Root, so no key (with "..", or through a
// symlink) can reach a file outside the root.
type dirStorage struct {
	path string
	open func() (*os.Root, error)
}

// NewDirStorage serves the directory root. It does not fail: if root cannot
// be opened, every request reports the error.
func NewDirStorage(root string) Storage {
	return &dirStorage{
		path: root,
		open: sync.OnceValues(func() (*os.Root, error) { return os.OpenRoot(root) }),
	}
}

func (d *dirStorage) root() (*os.Root, error) {
	r, err := d.open()
	if err != nil {
		return nil, fmt.Errorf("ossserver: open storage root: %w", err)
	}
	return r, nil
}

// validName reports whether s is usable as one path element.
func validName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}

// keyPath checks that key can name a file below a bucket: non-empty
// segments, none of them "." or "..". Any other key cannot exist here.
func keyPath(key string) bool {
	if key == "" {
		return false
	}
	for seg := range strings.SplitSeq(key, "/") {
		if !validName(seg) {
			return false
		}
	}
	return true
}

// Buckets implements Storage.
func (d *dirStorage) Buckets() ([]BucketInfo, error) {
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return nil, fmt.Errorf("ossserver: list buckets: %w", err)
	}
	var out []BucketInfo
	for _, e := range ents {
		if !e.IsDir() || !validName(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, BucketInfo{Name: e.Name(), Created: fi.ModTime().UTC().Truncate(time.Second)})
	}
	return out, nil // os.ReadDir sorts by name
}

// Bucket implements Storage.
func (d *dirStorage) Bucket(name string) (BucketInfo, error) {
	if !validName(name) {
		return BucketInfo{}, ErrNoSuchBucket
	}
	r, err := d.root()
	if err != nil {
		return BucketInfo{}, err
	}
	fi, err := r.Lstat(name)
	if err != nil || !fi.IsDir() {
		return BucketInfo{}, ErrNoSuchBucket
	}
	return BucketInfo{Name: name, Created: fi.ModTime().UTC().Truncate(time.Second)}, nil
}

// Stat implements Storage.
func (d *dirStorage) Stat(bucket, key string) (ObjectInfo, error) {
	v, err := d.Open(bucket, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer v.Close()
	return v.Info(), nil
}

// Open implements Storage. The version serves from the opened descriptor, so
// a rename-replace of the path during a GET does not change its bytes.
func (d *dirStorage) Open(bucket, key string) (Version, error) {
	if _, err := d.Bucket(bucket); err != nil {
		return nil, err
	}
	if !keyPath(key) {
		return nil, ErrNoSuchKey
	}
	r, err := d.root()
	if err != nil {
		return nil, err
	}
	f, err := r.Open(bucket + "/" + key)
	if err != nil {
		return nil, ErrNoSuchKey // missing, or a path escaping the root
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, ErrNoSuchKey
	}
	return &fileVersion{f: f, id: statIdentity(fi), info: fileInfo(key, fi)}, nil
}

// fileInfo derives the object description from a stat result alone: the
// ETag comes from the file's identity, so HEAD and listings never read
// contents, and a rename-replace or in-place rewrite changes it.
func fileInfo(key string, fi fs.FileInfo) ObjectInfo {
	return ObjectInfo{
		Key:          key,
		Size:         fi.Size(),
		ETag:         statIdentity(fi).etag(),
		LastModified: fi.ModTime().UTC().Truncate(time.Second), // what Last-Modified can carry
	}
}

type fileVersion struct {
	f    *os.File
	id   fileIdentity
	info ObjectInfo
}

func (v *fileVersion) ReadAt(p []byte, off int64) (int, error) { return v.f.ReadAt(p, off) }
func (v *fileVersion) Close() error                            { return v.f.Close() }
func (v *fileVersion) Info() ObjectInfo                        { return v.info }

// errChanged reports a file rewritten in place while it was being served.
var errChanged = errors.New("ossserver: object changed while being read")

func (v *fileVersion) Check() error {
	fi, err := v.f.Stat()
	if err != nil {
		return err
	}
	if statIdentity(fi).rewrittenSince(v.id) {
		return errChanged
	}
	return nil
}

// dirEntry is one child of a directory, with the key it (or, for a
// directory, each key below it) sorts by.
type dirEntry struct {
	name  string
	key   string // file: its key; directory: key prefix ending in '/'
	isDir bool
	info  fs.FileInfo // files only; nil until needed for a plain file
	de    fs.DirEntry
}

// Walk implements Storage. It descends straight to the directory named by
// the prefix, reads each directory once, sorts its entries by the keys they
// stand for (a directory "a" sorts as "a/", so "a-b" < "a/x" < "a0") and
// skips entries that sort entirely at or before `after`, so walking page
// after page costs one sort of each visited directory per request.
func (d *dirStorage) Walk(bucket, prefix, after string, fn WalkFunc) error {
	if _, err := d.Bucket(bucket); err != nil {
		return err
	}
	r, err := d.root()
	if err != nil {
		return err
	}
	dirKey := prefix[:strings.LastIndex(prefix, "/")+1] // "" or "a/b/"
	if dirKey != "" && !keyPath(strings.TrimSuffix(dirKey, "/")) {
		return nil // no file can have such a key
	}
	w := &walker{root: r, bucket: bucket, prefix: prefix, after: after, fn: fn}
	_, err = w.dir(dirKey)
	return err
}

type walker struct {
	root          *os.Root
	bucket        string
	prefix, after string
	fn            WalkFunc
	skip          string
}

// dir walks the directory whose keys start with dirKey; it returns true
// when the walk must stop.
func (w *walker) dir(dirKey string) (bool, error) {
	f, err := w.root.Open(w.bucket + "/" + dirKey)
	if err != nil {
		if dirKey == "" {
			return true, err
		}
		return false, nil // vanished, or not a directory: no keys here
	}
	des, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return false, nil
	}
	ents := make([]dirEntry, 0, len(des))
	for _, de := range des {
		e := dirEntry{name: de.Name(), de: de}
		switch {
		case de.IsDir():
			e.isDir, e.key = true, dirKey+de.Name()+"/"
		case de.Type().IsRegular():
			e.key = dirKey + de.Name()
		case de.Type()&fs.ModeSymlink != 0:
			// Follow a link only to a regular file inside the root;
			// os.Root refuses targets outside it. Links to directories
			// are skipped, which also rules out cycles.
			fi, err := w.root.Stat(w.bucket + "/" + dirKey + de.Name())
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			e.key, e.info = dirKey+de.Name(), fi
		default:
			continue
		}
		if !w.relevant(e) {
			continue
		}
		ents = append(ents, e)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].key < ents[j].key })
	for _, e := range ents {
		if w.skip != "" {
			if strings.HasPrefix(dirKey, w.skip) {
				return false, nil // this whole directory was rolled up
			}
			if strings.HasPrefix(e.key, w.skip) {
				continue
			}
		}
		if e.isDir {
			if stop, err := w.dir(e.key); stop || err != nil {
				return stop, err
			}
			continue
		}
		if e.info == nil {
			fi, err := e.de.Info()
			if err != nil {
				continue // removed meanwhile
			}
			e.info = fi
		}
		skip, stop := w.fn(fileInfo(e.key, e.info))
		if stop {
			return true, nil
		}
		w.skip = skip
	}
	return false, nil
}

// relevant reports whether the entry is, or may contain, a key that has
// the prefix and sorts after `after`.
func (w *walker) relevant(e dirEntry) bool {
	if !e.isDir {
		return strings.HasPrefix(e.key, w.prefix) && e.key > w.after
	}
	if !strings.HasPrefix(e.key, w.prefix) && !strings.HasPrefix(w.prefix, e.key) {
		return false
	}
	// Every key below e starts with e.key; all of them sort at or before
	// `after` exactly when e.key < after and after does not lie inside e.
	return e.key > w.after || strings.HasPrefix(w.after, e.key)
}
