package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// index is what the cache knows of its data files: which versions exist,
// which blocks of each are present with their CRC64, the current version of
// each key, and the order in which versions were last used. It is the only
// code that talks to badger, whose database lives in the cache's index/
// directory with the key layout in doc.go.
//
// What is written in one transaction, so that a crash never shows half of
// it: putMeta (a version's record, the move of its recency key and,
// optionally, the key mapping that names it), the first step of
// deleteVersion (the record, the recency key and the key mapping if it still
// names the version), and blockSize (reading or recording the block size).
// So a record and its recency key always agree. Block keys are written and
// deleted in write batches (recordBlocks, deleteBlocks, deleteAllBlocks) that
// badger may commit as several transactions: every block key stands on its
// own, so any part of a batch is a state the cache can serve. deleteVersion
// deletes a version's blocks after its record, so a crash in between leaves
// block keys without a record, which strayBlockVersions finds.
//
// Writes are not synced one by one. A crash of the process alone loses
// nothing a method returned for (badger's log is in the page cache); a power
// cut or a kernel crash may lose the writes after the last sync or close. So
// the cache records a block only after its bytes are durable (committer.go):
// losing a recent write then forgets blocks, access times or new versions,
// which are fetched or recorded again; losing a recent deletion brings back
// a block whose bytes may be a hole, which the CRC check on its first read
// drops. What was written before sync or close returned is never lost.
//
// Every read sees one snapshot of the index, except the walks over all
// versions (forEachVersion) or all blocks of one (deleteAllBlocks), which
// take one snapshot per chunk so that no read transaction stays open for
// long. Conflict detection is off: the cache serialises conflicting writes
// itself (commitMu for block presence, a busy placeholder for a version's
// record).
type index struct {
	db  *badger.DB
	dir string
}

// badgerOptions sizes badger for a cache index: tiny keys and values, a
// process that must stay within a small memory budget. The defaults would
// use over 400 MB (see the design notes); these keep peak RSS near 100 MB.
func badgerOptions(dir string, log *slog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithLogger(newBadgerLogger(log)).
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
	return &index{db: db, dir: dir}, nil
}

// errIndexNeedsRecovery: the index was not closed by its owner, and badger
// must write to it before it can be read.
var errIndexNeedsRecovery = errors.New("cache index needs recovery")

// openIndexReadOnly opens the index in dir without writing anything to it,
// for cache stats and cache list. An index that was never created fails
// with an error wrapping os.ErrNotExist.
func openIndexReadOnly(dir string, log *slog.Logger) (*index, error) {
	if _, err := os.Stat(filepath.Join(dir, badger.ManifestFilename)); err != nil {
		return nil, err
	}
	db, err := badger.Open(badgerOptions(dir, log).WithReadOnly(true))
	if err != nil {
		// badger's wrapping does not always keep the chain.
		if errors.Is(err, badger.ErrTruncateNeeded) || strings.Contains(err.Error(), badger.ErrTruncateNeeded.Error()) {
			return nil, errIndexNeedsRecovery
		}
		return nil, err
	}
	return &index{db: db, dir: dir}, nil
}

// closeReadOnly closes an index opened with openIndexReadOnly, which holds
// nothing to write.
func (ix *index) closeReadOnly() error { return ix.db.Close() }

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

// indexCloseBound is how long close waits for badger by default.
const indexCloseBound = 5 * time.Second

// errIndexNotClosed reports that badger did not finish closing in time: its
// directory is gone or its disk fails, and badger retries writing its
// memtable forever. What the memtable held is lost with the process; it
// names only blocks whose bytes are on disk, which are fetched again.
var errIndexNotClosed = errors.New("the cache index could not be written")

// close writes what badger holds in memory, closes the database and leaves
// its files private, within indexCloseBound.
func (ix *index) close() error { return ix.closeWithin(indexCloseBound) }

// closeWithin is close bounded by d. Badger's Close does not return while
// it cannot write its memtable (it retries once a second, forever), so it
// runs in a goroutine that is abandoned when d passes: the process is about
// to let go of the cache, and a crash loses no more than that.
func (ix *index) closeWithin(d time.Duration) error {
	done := make(chan error, 1)
	go func() {
		err := ix.db.Close()
		tightenPerms(ix.dir)
		done <- err
	}()
	timer := time.NewTimer(max(d, 0))
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("%w within %v: %s", errIndexNotClosed, d, ix.dir)
	}
}

// sync makes every write so far durable: a power cut no longer loses it.
func (ix *index) sync() error { return ix.db.Sync() }

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
		if oldAccess != 0 && (oldAccess != m.Access || m.Path != "") {
			if err := txn.Delete(recencyKey(oldAccess, id)); err != nil {
				return err
			}
		}
		// A version outside the cache directory is not the cache's to
		// evict: it has no place in the recency order.
		if m.Path == "" {
			if err := txn.Set(recencyKey(m.Access, id), nil); err != nil {
				return err
			}
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

// blockRecord is one present block: its version, number and CRC64.
type blockRecord struct {
	id    vid
	block int64
	crc   uint64
}

// recordBlocks marks blocks present, all in one write batch. Its caller has
// made their bytes durable first: the index never names a block that is not
// on disk.
func (ix *index) recordBlocks(blocks []blockRecord) error {
	if len(blocks) == 0 {
		return nil
	}
	wb := ix.db.NewWriteBatch()
	for _, r := range blocks {
		if err := wb.Set(blockKey(r.id, r.block), encodeCRC(r.crc)); err != nil {
			wb.Cancel()
			return err
		}
	}
	return wb.Flush()
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

// collectGarbage rewrites the value-log files that are at least half
// garbage, one at a time, until none is left or ctx is done.
func (ix *index) collectGarbage(ctx context.Context) {
	for ctx.Err() == nil && ix.db.RunValueLogGC(0.5) == nil {
	}
}

// size returns the bytes badger's files use.
func (ix *index) size() int64 {
	lsm, vlog := ix.db.Size()
	return lsm + vlog
}
