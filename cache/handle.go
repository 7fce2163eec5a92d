package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/ossmount/ossmount/rangefetch"
)

// Handle is a pinned object version: while it is open, eviction leaves the
// version alone. It is safe for concurrent use. Close it when done.
type Handle struct {
	c      *Cache
	v      *version
	closed atomic.Bool
}

// Info describes the version, with the CRC64 if any opener knew it.
func (h *Handle) Info() rangefetch.ObjectInfo {
	v := h.v
	v.mu.Lock()
	m := v.m
	v.mu.Unlock()
	return rangefetch.ObjectInfo{Bucket: m.Bucket, Key: m.Key, Size: m.Size, ETag: m.ETag, CRC64: m.CRC64, HasCRC64: m.HasCRC64}
}

func (h *Handle) check() error {
	if h.closed.Load() || h.c.closed.Load() || h.v.detached.Load() {
		return ErrClosed
	}
	return nil
}

// ReadAt reads len(p) bytes at off, like io.ReaderAt (io.EOF when the read
// reaches the end of the object). Missing blocks are fetched through the
// Source, once however many readers ask; present blocks come from disk,
// each checked against its CRC64 the first time it is read after the
// version was loaded. A block that fails the check is dropped and fetched
// again, never returned. Errors of the Source keep their type
// (errors.Is(err, rangefetch.ErrObjectChanged), ...).
func (h *Handle) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if err := h.check(); err != nil {
		return 0, err
	}
	v := h.v
	if off < 0 {
		return 0, fmt.Errorf("cache read at negative offset %d", off)
	}
	if off >= v.size {
		if len(p) == 0 && off == v.size {
			return 0, nil
		}
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), v.size)
	if end > off {
		if err := h.c.ensure(v, off/v.bs, (end-1)/v.bs); err != nil {
			return 0, err
		}
	}
	for pos := off; pos < end; {
		n, err := h.readSome(ctx, p[pos-off:end-off], pos)
		pos += int64(n)
		if err != nil {
			return int(pos - off), err
		}
	}
	if end < off+int64(len(p)) {
		return int(end - off), io.EOF
	}
	return len(p), nil
}

// readSome serves a prefix of q (object offset pos) from one source: a run
// of verified blocks on disk, one block to verify, or one block in flight.
func (h *Handle) readSome(ctx context.Context, q []byte, pos int64) (int, error) {
	c, v := h.c, h.v
	b := pos / v.bs
	last := (pos + int64(len(q)) - 1) / v.bs
	for {
		v.fileMu.RLock()
		v.mu.Lock()
		switch {
		case v.verified.has(b):
			e := b
			for e < last && v.verified.has(e+1) {
				e++
			}
			v.mu.Unlock()
			n := min(int64(len(q)), (e+1)*v.bs-pos)
			got, err := v.file.ReadAt(q[:n], pos)
			v.fileMu.RUnlock()
			if int64(got) == n {
				c.countHit(n)
				return int(n), nil
			}
			c.log.Warn("cache: cannot read a cached block; fetching it again", "err", err)
			c.dropIf(v, b, e, nil)

		case v.present.has(b):
			want := v.crcs[b]
			v.mu.Unlock()
			n, ok, err := h.readVerified(q, pos, b, want)
			v.fileMu.RUnlock()
			if ok {
				c.countHit(int64(n))
				return n, nil
			}
			c.checksumFailed(v, b, err)
			crc := want
			c.dropIf(v, b, b, &crc)

		case v.flights[b] != nil:
			fl := v.flights[b]
			fb := fl.block(b)
			if fb.written {
				// Written but dropped before it was recorded: wait for the
				// committer to let it go, then fetch it again.
				v.mu.Unlock()
				v.fileMu.RUnlock()
				select {
				case <-fb.settled:
				case <-ctx.Done():
					return 0, ctx.Err()
				}
				continue
			}
			fl.refs.Add(1) // keep the buffer until we copied from it
			v.mu.Unlock()
			v.fileMu.RUnlock()
			select {
			case <-fb.done:
			case <-ctx.Done():
				fl.unref()
				return 0, ctx.Err()
			}
			if fb.err != nil {
				fl.unref()
				return 0, fb.err
			}
			n := copy(q, fl.data(b)[pos-b*v.bs:])
			fl.unref()
			c.countMiss(int64(n))
			return n, nil

		default:
			v.mu.Unlock()
			v.fileMu.RUnlock()
		}
		if err := c.ensure(v, b, last); err != nil {
			return 0, err
		}
	}
}

// blockBufs recycles whole-block buffers for checksum verification.
var blockBufs sync.Map // block size -> *sync.Pool

func getBlockBuf(bs int64) *[]byte {
	p, _ := blockBufs.LoadOrStore(bs, &sync.Pool{New: func() any { b := make([]byte, bs); return &b }})
	return p.(*sync.Pool).Get().(*[]byte)
}

func putBlockBuf(bs int64, b *[]byte) {
	p, _ := blockBufs.Load(bs)
	p.(*sync.Pool).Put(b)
}

// readVerified reads the whole block b, checks it against want and only
// then copies the part at pos into q. Called with v.fileMu held shared.
func (h *Handle) readVerified(q []byte, pos, b int64, want uint64) (int, bool, error) {
	v := h.v
	bufp := getBlockBuf(v.bs)
	defer putBlockBuf(v.bs, bufp)
	data := (*bufp)[:v.blockLen(b)]
	got, err := v.file.ReadAt(data, b*v.bs)
	if got != len(data) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return 0, false, err
	}
	if rangefetch.CRC64(data, 0) != want {
		return 0, false, nil
	}
	v.mu.Lock()
	if v.present.has(b) && v.crcs[b] == want {
		v.verified.set(b)
	}
	v.mu.Unlock()
	return copy(q, data[pos-b*v.bs:]), true, nil
}

// Fetch makes [off, off+n) present in the cache (prefetch, materialize),
// waiting until the blocks are recorded. It fails with ErrNotStored if some
// could not be kept (the cap is full of pinned data, or the disk is full).
func (h *Handle) Fetch(ctx context.Context, off, n int64) error {
	if err := h.check(); err != nil {
		return err
	}
	v := h.v
	off = max(off, 0)
	end := min(off+n, v.size)
	if end <= off {
		return nil
	}
	_, err := h.await(ctx, off/v.bs, (end-1)/v.bs, true)
	return err
}

// await fetches the missing blocks in [first, last] and waits for them: for
// settle, until each is recorded (or will not be: ErrNotStored); otherwise
// only until its bytes arrived, returning the blocks still being stored.
func (h *Handle) await(ctx context.Context, first, last int64, settle bool) ([]*flightBlock, error) {
	v := h.v
	if err := h.c.ensure(v, first, last); err != nil {
		return nil, err
	}
	var pending []*flightBlock
	var notStored error
	for b := first; b <= last; {
		v.mu.Lock()
		if v.present.has(b) {
			v.mu.Unlock()
			b++
			continue
		}
		fl := v.flights[b]
		v.mu.Unlock()
		if fl == nil {
			if err := h.c.ensure(v, b, last); err != nil {
				return pending, err
			}
			continue
		}
		fb := fl.block(b)
		wait := fb.done
		if settle {
			wait = fb.settled
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return pending, ctx.Err()
		}
		if fb.err != nil {
			return pending, fb.err
		}
		switch {
		case !settle:
			pending = append(pending, fb)
			b++
		case fb.stored != nil:
			notStored = fb.stored
			b++
		}
		// A settled block is present now, or was dropped meanwhile and is
		// fetched again.
	}
	return pending, notStored
}

// FetchAll makes the whole version present with up to workers concurrent
// GETs (default 8), calling progress (if not nil) with the bytes fetched so
// far and the object size. Workers do not wait for each block to become
// durable: the committer records blocks behind them, and FetchAll returns
// once every block is recorded. It stops at the first error; ErrNotStored
// means the blocks were fetched but the cache could not keep them all.
func (h *Handle) FetchAll(ctx context.Context, workers int, progress func(done, total int64)) error {
	if err := h.check(); err != nil {
		return err
	}
	if workers <= 0 {
		workers = 8
	}
	v := h.v
	var runs []rangefetch.Range
	missing := int64(0)
	for _, r := range h.Missing() {
		missing += r.Len
		runs = append(runs, rangefetch.SplitRanges(r.Off, r.Len, h.c.maxRun*v.bs)...)
	}
	total := v.size
	done := total - missing
	if progress != nil {
		progress(done, total)
	}
	if len(runs) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		pending []*flightBlock
		first   error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil || (errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
		mu.Unlock()
		cancel()
	}
	work := make(chan rangefetch.Range)
	var wg sync.WaitGroup
	for range min(workers, len(runs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				p, err := h.await(ctx, r.Off/v.bs, (r.End()-1)/v.bs, false)
				mu.Lock()
				pending = append(pending, p...)
				if err == nil {
					done += r.Len
					if progress != nil {
						progress(done, total)
					}
				}
				mu.Unlock()
				if err != nil {
					fail(err)
					return
				}
			}
		}()
	}
feed:
	for _, r := range runs {
		select {
		case work <- r:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	if first != nil {
		return first
	}
	for _, fb := range pending {
		select {
		case <-fb.settled:
		case <-ctx.Done():
			return ctx.Err()
		}
		if fb.stored != nil {
			return fb.stored
		}
	}
	// Blocks dropped while in flight are fetched again here.
	return h.Fetch(ctx, 0, total)
}

// Missing lists the byte ranges of the version that are not present.
func (h *Handle) Missing() []rangefetch.Range {
	v := h.v
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []rangefetch.Range
	for b := int64(0); b < v.nblocks; b++ {
		if v.present.has(b) {
			continue
		}
		off := b * v.bs
		n := v.blockLen(b)
		if k := len(out) - 1; k >= 0 && out[k].End() == off {
			out[k].Len += n
		} else {
			out = append(out, rangefetch.Range{Off: off, Len: n})
		}
	}
	return out
}

// Complete reports whether every block is present and the whole object was
// checked against its CRC64 (if OSS reported one).
func (h *Handle) Complete() bool {
	v := h.v
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.m.Complete
}

// VerifyComplete checks a version whose blocks are all present: the CRC64
// combined from the block CRCs must equal the object's CRC64. On success
// the version is marked complete. On a mismatch it returns an error
// wrapping ErrCorrupt and leaves the blocks alone; the caller decides what
// to drop (DropAll, DropBlocks). It never re-reads the data.
func (h *Handle) VerifyComplete(ctx context.Context) error {
	if err := h.check(); err != nil {
		return err
	}
	c, v := h.c, h.v
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	v.mu.Lock()
	if v.npresent != v.nblocks {
		missing := v.nblocks - v.npresent
		v.mu.Unlock()
		return fmt.Errorf("%w: %d of %d blocks missing", ErrIncomplete, missing, v.nblocks)
	}
	sum := combineCRCs(v.crcs, v.bs, v.size)
	if v.m.HasCRC64 && sum != v.m.CRC64 {
		v.mu.Unlock()
		return fmt.Errorf("%w: oss://%s/%s has CRC64 %d, the cached blocks %d",
			ErrCorrupt, v.ref.Bucket, v.ref.Key, v.m.CRC64, sum)
	}
	if v.m.Complete {
		v.mu.Unlock()
		return nil
	}
	v.m.Complete = true
	m := v.m
	v.mu.Unlock()
	return c.ix.putMeta(v.id, m, m.Access, false)
}

// DropBlocks forgets the given blocks (for example after materialize found
// the object's CRC64 wrong): they are fetched again when next needed.
func (h *Handle) DropBlocks(blocks ...int64) {
	if h.check() != nil {
		return
	}
	for _, b := range blocks {
		if b >= 0 && b < h.v.nblocks {
			h.c.dropIf(h.v, b, b, nil)
		}
	}
}

// DropAll forgets every block of the version, including blocks still being
// fetched, which will not be recorded.
func (h *Handle) DropAll() {
	if h.check() != nil || h.v.nblocks == 0 {
		return
	}
	v := h.v
	v.mu.Lock()
	v.gen++
	v.mu.Unlock()
	h.c.dropIf(v, 0, v.nblocks-1, nil)
}

// DataPath is the path of the data file of a complete version, which is the
// object byte for byte (for FUSE passthrough). It fails with ErrIncomplete
// otherwise.
func (h *Handle) DataPath() (string, error) {
	if err := h.check(); err != nil {
		return "", err
	}
	if !h.Complete() {
		return "", ErrIncomplete
	}
	return h.v.path, nil
}

// DataFile opens the data file of a complete version read-only; the caller
// closes it.
func (h *Handle) DataFile() (*os.File, error) {
	path, err := h.DataPath()
	if err != nil {
		return nil, err
	}
	return os.Open(path)
}

// Detach moves the data file of a complete version to dest (on the same
// filesystem) and removes the version from the cache, in that order: after
// a crash in between, the index names a file that is gone, which the next
// load notices and forgets. The Handle must be the version's only one and
// no fetch may be running (else ErrBusy; copy DataFile instead). Afterwards
// the Handle only accepts Close. The file keeps mode 0600.
func (h *Handle) Detach(dest string) error {
	if err := h.check(); err != nil {
		return err
	}
	c, v := h.c, h.v
	c.mu.Lock()
	v.mu.Lock()
	switch {
	case !v.m.Complete:
		v.mu.Unlock()
		c.mu.Unlock()
		return ErrIncomplete
	case v.pins != 1 || v.busy != nil || v.inflight > 0:
		v.mu.Unlock()
		c.mu.Unlock()
		return ErrBusy
	}
	v.mu.Unlock()
	v.busy = make(chan struct{})
	c.mu.Unlock()

	err := fdatasync(v.file)
	if err == nil {
		err = os.Rename(v.path, dest)
	}
	if err == nil {
		_ = syncDir(filepath.Dir(dest))
		if ierr := c.ix.deleteVersion(v.id); ierr != nil {
			c.log.Warn("cache: cannot forget a detached version", "err", ierr)
		}
	}

	c.mu.Lock()
	if err == nil {
		v.detached.Store(true)
		delete(c.versions, v.id)
		c.dropUsageLocked(v.id)
	}
	busy := v.busy
	v.busy = nil
	c.mu.Unlock()
	close(busy)
	if err != nil {
		return fmt.Errorf("detach cached file: %w", err)
	}
	return nil
}

// Close unpins the version. It is safe to call more than once.
func (h *Handle) Close() error {
	if h.closed.Swap(true) || h.c.closed.Load() {
		return nil
	}
	h.c.unpin(h.v)
	return nil
}
