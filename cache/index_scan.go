package cache

import (
	"context"
	"encoding/binary"
	"errors"

	"github.com/dgraph-io/badger/v4"
)

// The index's walks: every version, every key mapping, the recency order,
// the block keys; each in chunks or one pass, never one long transaction.

// scanned is one version record as a scan found it.
type scanned struct {
	id vid
	m  meta
	ok bool // record decoded
}

// forEachVersion calls fn for every version record in vid order until fn
// returns false. It reads the records in chunks and calls fn between them,
// with no read transaction open, so fn may change the index.
func (ix *index) forEachVersion(fn func(s scanned) bool) error {
	prefix := []byte{prefixMeta}
	seek := prefix
	for {
		var chunk []scanned
		err := ix.db.View(func(txn *badger.Txn) error {
			it := prefixIterator(txn, prefix)
			defer it.Close()
			for it.Seek(seek); it.ValidForPrefix(prefix) && len(chunk) < 1000; it.Next() {
				item := it.Item()
				k := item.Key()
				if len(k) != 17 {
					continue
				}
				var s scanned
				copy(s.id[:], k[1:])
				if err := item.Value(func(v []byte) error {
					m, err := decodeMeta(v)
					s.m, s.ok = m, err == nil
					return nil
				}); err != nil {
					return err
				}
				chunk = append(chunk, s)
			}
			return nil
		})
		if err != nil || len(chunk) == 0 {
			return err
		}
		for _, s := range chunk {
			if !fn(s) {
				return nil
			}
		}
		// Continue just after the last key of the chunk.
		seek = append(metaKey(chunk[len(chunk)-1].id), 0)
	}
}

// currentVersions returns every vid a key mapping names, in one sequential
// pass (a lookup per version would cost far more).
func (ix *index) currentVersions() (map[vid]struct{}, error) {
	out := make(map[vid]struct{})
	prefix := []byte{prefixKeyMap}
	err := ix.db.View(func(txn *badger.Txn) error {
		it := prefixIterator(txn, prefix)
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			if err := it.Item().Value(func(v []byte) error {
				var id vid
				if len(v) == len(id) {
					copy(id[:], v)
					out[id] = struct{}{}
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// recencyCursor is where a walk of the recency order stopped; nil is its
// start, the least recently used version.
type recencyCursor []byte

// leastRecentlyUsed returns up to n versions in recency order, oldest
// first, starting after the cursor after and leaving out those for which
// skip reports true, and the cursor to continue from. skip runs inside a
// read transaction. On an error it returns what it found so far.
func (ix *index) leastRecentlyUsed(after recencyCursor, n int, skip func(vid) bool) ([]vid, recencyCursor, error) {
	var out []vid
	var last recencyCursor
	err := ix.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte{prefixRecency}
		it := txn.NewIterator(opts)
		defer it.Close()
		it.Seek(opts.Prefix)
		if after != nil {
			it.Seek(after)
			if it.ValidForPrefix(opts.Prefix) && string(it.Item().Key()) == string(after) {
				it.Next()
			}
		}
		for ; it.ValidForPrefix(opts.Prefix) && len(out) < n; it.Next() {
			last = it.Item().KeyCopy(nil)
			id, ok := parseRecencyKey(last)
			if !ok {
				continue
			}
			if !skip(id) {
				out = append(out, id)
			}
		}
		return nil
	})
	return out, last, err
}

// strayBlockVersions returns the versions that have block keys but no
// record (a crash during deleteVersion), leaving out those for which skip
// reports true, in one sequential pass over the block keys that stops when
// ctx is done. The block keys are few (the cap divided by the block size),
// so the pass is cheap; skip runs inside a read transaction, once per
// version. On an error it returns what it found so far.
func (ix *index) strayBlockVersions(ctx context.Context, skip func(vid) bool) ([]vid, error) {
	prefix := []byte{prefixBlock}
	var stray []vid
	err := ix.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		var last vid
		first := true
		for it.Seek(prefix); it.ValidForPrefix(prefix) && ctx.Err() == nil; it.Next() {
			id, _, ok := parseBlockKey(it.Item().Key())
			if !ok || (!first && id == last) {
				continue
			}
			first, last = false, id
			if skip(id) {
				continue
			}
			if _, err := txn.Get(metaKey(id)); errors.Is(err, badger.ErrKeyNotFound) {
				stray = append(stray, id)
			}
		}
		return nil
	})
	return stray, err
}

// recordedBlockSize reads the block size the cache was created with,
// without recording one (found is false if there is none).
func (ix *index) recordedBlockSize() (bs int64, found bool, err error) {
	err = ix.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(configKey("blocksize"))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(val []byte) error {
			if len(val) != 8 {
				return errors.New("malformed block size record")
			}
			bs, found = int64(binary.BigEndian.Uint64(val)), true
			return nil
		})
	})
	return bs, found, err
}

// forEachBlockKey calls fn for every block key, in one pass over the
// keys alone.
func (ix *index) forEachBlockKey(fn func(id vid, block int64)) error {
	prefix := []byte{prefixBlock}
	return ix.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			if id, b, ok := parseBlockKey(it.Item().Key()); ok {
				fn(id, b)
			}
		}
		return nil
	})
}
