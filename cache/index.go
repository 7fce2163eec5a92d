package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// index wraps the badger database of a cache directory. Its layout is in
// doc.go. Callers serialise conflicting writes themselves (see Cache), so
// badger's conflict detection is off.
type index struct {
	db *badger.DB
}

// badgerOptions sizes badger for a cache index: tiny keys and values, a
// process that must stay within a small memory budget. The defaults would
// use over 400 MB (see the design notes); these keep peak RSS near 100 MB.
func badgerOptions(dir string, log *slog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithLogger(badgerLogger{log}).
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(8).
		WithBlockCacheSize(8 << 20).
		WithIndexCacheSize(8 << 20).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2).
		WithCompression(options.None).
		WithDetectConflicts(false).
		// Power-cut safety does not need synced index writes: data is
		// fdatasynced before its index entry is written, so losing the
		// index's tail only forgets blocks.
		WithSyncWrites(false)
}

func openIndex(dir string, log *slog.Logger) (*index, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := badger.Open(badgerOptions(dir, log))
	if err != nil {
		return nil, fmt.Errorf("open cache index %s: %w", dir, err)
	}
	tightenPerms(dir)
	return &index{db: db}, nil
}

// tightenPerms makes badger's files 0600: badger creates some with 0666
// minus umask. The directory is 0700 anyway; this keeps the rule simple.
func tightenPerms(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil && fi.Mode().Perm()&0o077 != 0 {
				_ = os.Chmod(filepath.Join(dir, e.Name()), 0o600)
			}
		}
	}
}

func (ix *index) close() error { return ix.db.Close() }

// blockSize returns the recorded block size, recording want if there is none.
func (ix *index) blockSize(want int64) (int64, error) {
	var got int64
	err := ix.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(configKey("blocksize"))
		if errors.Is(err, badger.ErrKeyNotFound) {
			got = want
			return txn.Set(configKey("blocksize"), binary.BigEndian.AppendUint64(nil, uint64(want)))
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return errors.New("malformed block size record")
			}
			got = int64(binary.BigEndian.Uint64(v))
			return nil
		})
	})
	return got, err
}

// getMeta reads the record of id; found is false if there is none.
func (ix *index) getMeta(id vid) (m meta, found bool, err error) {
	err = ix.db.View(func(txn *badger.Txn) error {
		m, found, err = getMetaTxn(txn, id)
		return err
	})
	return m, found, err
}

func getMetaTxn(txn *badger.Txn, id vid) (meta, bool, error) {
	item, err := txn.Get(metaKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return meta{}, false, nil
	}
	if err != nil {
		return meta{}, false, err
	}
	var m meta
	err = item.Value(func(v []byte) error {
		m, err = decodeMeta(v)
		return err
	})
	return m, err == nil, err
}

// currentVersion returns the vid the key -> version mapping names.
func (ix *index) currentVersion(bucket, key string) (id vid, found bool, err error) {
	err = ix.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyMapKey(bucket, key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) == len(id) {
				copy(id[:], v)
				found = true
			}
			return nil
		})
	})
	return id, found, err
}

// putMeta writes the record of id and moves its recency key from
// oldAccess (0: none) to m.Access. With current it also makes id the
// current version of its key. One transaction, so the recency order and the
// record never disagree.
func (ix *index) putMeta(id vid, m meta, oldAccess int64, current bool) error {
	return ix.db.Update(func(txn *badger.Txn) error {
		if oldAccess != 0 && oldAccess != m.Access {
			if err := txn.Delete(recencyKey(oldAccess, id)); err != nil {
				return err
			}
		}
		if err := txn.Set(recencyKey(m.Access, id), nil); err != nil {
			return err
		}
		if current {
			if err := txn.Set(keyMapKey(m.Bucket, m.Key), id[:]); err != nil {
				return err
			}
		}
		return txn.Set(metaKey(id), m.encode())
	})
}

// prefixIterator iterates over the keys that start with prefix, prefetching
// values in modest batches: every scan of the index is one such pass.
func prefixIterator(txn *badger.Txn, prefix []byte) *badger.Iterator {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchSize = 256
	return txn.NewIterator(opts)
}

// loadBlocks reads the present blocks of id with one iterator seek.
func (ix *index) loadBlocks(id vid, nblocks int64) (present bitset, crcs []uint64, err error) {
	present = newBitset(nblocks)
	crcs = make([]uint64, nblocks)
	prefix := blockPrefix(id)
	err = ix.db.View(func(txn *badger.Txn) error {
		it := prefixIterator(txn, prefix)
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			_, b, ok := parseBlockKey(item.Key())
			if !ok || b < 0 || b >= nblocks {
				continue // a stray key is ignored; removeVersion cleans it
			}
			if err := item.Value(func(v []byte) error {
				if len(v) != 8 {
					return nil
				}
				crcs[b] = binary.BigEndian.Uint64(v)
				present.set(b)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return present, crcs, err
}

// deleteBlocks forgets the given blocks of id.
func (ix *index) deleteBlocks(id vid, blocks []int64) error {
	wb := ix.db.NewWriteBatch()
	defer wb.Cancel()
	for _, b := range blocks {
		if err := wb.Delete(blockKey(id, b)); err != nil {
			return err
		}
	}
	return wb.Flush()
}

// deleteAllBlocks forgets every block of id, in bounded batches so that a
// huge version does not need all its keys in memory at once.
func (ix *index) deleteAllBlocks(id vid) error {
	prefix := blockPrefix(id)
	for {
		var keys [][]byte
		err := ix.db.View(func(txn *badger.Txn) error {
			opts := badger.DefaultIteratorOptions
			opts.Prefix = prefix
			opts.PrefetchValues = false
			it := txn.NewIterator(opts)
			defer it.Close()
			for it.Seek(prefix); it.ValidForPrefix(prefix) && len(keys) < 10000; it.Next() {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil || len(keys) == 0 {
			return err
		}
		wb := ix.db.NewWriteBatch()
		for _, k := range keys {
			if err := wb.Delete(k); err != nil {
				wb.Cancel()
				return err
			}
		}
		if err := wb.Flush(); err != nil {
			return err
		}
	}
}

// deleteVersion removes id from the index: first its record, recency key
// and (if it still names id) its key mapping, atomically, then its blocks.
// A crash in between leaves only block keys without a record, which the
// startup scan removes and which a re-created version drops first.
func (ix *index) deleteVersion(id vid) error {
	err := ix.db.Update(func(txn *badger.Txn) error {
		m, found, err := getMetaTxn(txn, id)
		if err != nil && !errors.Is(err, errBadMeta) {
			return err
		}
		if !found {
			return txn.Delete(metaKey(id))
		}
		if err := txn.Delete(recencyKey(m.Access, id)); err != nil {
			return err
		}
		mk := keyMapKey(m.Bucket, m.Key)
		item, err := txn.Get(mk)
		switch {
		case err == nil:
			if err := item.Value(func(v []byte) error {
				if string(v) == string(id[:]) {
					return txn.Delete(mk)
				}
				return nil
			}); err != nil {
				return err
			}
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		return txn.Delete(metaKey(id))
	})
	if err != nil {
		return err
	}
	return ix.deleteAllBlocks(id)
}

// size returns the bytes badger's files use.
func (ix *index) size() int64 {
	lsm, vlog := ix.db.Size()
	return lsm + vlog
}

// badgerLogger routes badger's warnings and errors to slog and drops its
// chatty info and debug lines.
type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) Errorf(f string, a ...any) {
	l.log.Error("cache index: " + fmt.Sprintf(f, a...))
}

func (l badgerLogger) Warningf(f string, a ...any) {
	l.log.Warn("cache index: " + fmt.Sprintf(f, a...))
}

func (l badgerLogger) Infof(string, ...any)  {}
func (l badgerLogger) Debugf(string, ...any) {}
