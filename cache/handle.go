package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/ossmount/ossmount/object"
)

// Handle is a pinned object version: while it is open, eviction leaves the
// version alone. It is safe for concurrent use. Close it when done.
type Handle struct {
	c        *Cache
	v        *version
	closed   atomic.Bool
	replaced *ReplacedVersion
	// checksItself: see ChecksItself.
	checksItself atomic.Bool
}

// ChecksItself tells the cache that the caller verifies this version
// against its CRC64 and repairs it itself, as materialize does (and
// reports what that cost): while this Handle is open, the cache starts no
// background check when the version becomes complete, which would race the
// caller for the same work and hold a pin that the caller's Detach needs.
func (h *Handle) ChecksItself() {
	if h.check() != nil || h.checksItself.Swap(true) {
		return
	}
	h.v.mu.Lock()
	h.v.selfCheckers++
	h.v.mu.Unlock()
}

// Info describes the version, with the CRC64 if any opener knew it.
func (h *Handle) Info() object.Info {
	v := h.v
	v.mu.Lock()
	m := v.m
	v.mu.Unlock()
	return object.Info{Bucket: m.Bucket, Key: m.Key, Size: m.Size, ETag: m.ETag, CRC64: m.CRC64, HasCRC64: m.HasCRC64}
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
	var started runs
	if end > off {
		var err error
		if started, err = h.c.ensure(v, off/v.bs, (end-1)/v.bs); err != nil {
			return 0, err
		}
	}
	for pos := off; pos < end; {
		n, err := h.readSome(ctx, p[pos-off:end-off], pos, started)
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

// readSome serves a prefix of q (object offset pos) from one of the three
// places a block is read from: a run of verified blocks in the data file,
// one present block to check against its CRC first, or one block in
// flight. started are the flights this read's own ensure started.
func (h *Handle) readSome(ctx context.Context, q []byte, pos int64, started runs) (int, error) {
	v := h.v
	r := blockRead{h: h, q: q, pos: pos, b: pos / v.bs, started: started}
	r.last = (pos + int64(len(q)) - 1) / v.bs
	r.fetched = started.has(r.b)
	for {
		v.fileMu.RLock()
		v.mu.Lock()
		var (
			n    int
			next = readFetch
			err  error
		)
		switch {
		case v.verified.has(r.b):
			n, next = r.fromFile()
		case v.present.has(r.b):
			n, next = r.checked()
		case v.flights[r.b] != nil:
			n, next, err = r.fromFlight(ctx)
		default: // missing
			v.mu.Unlock()
			v.fileMu.RUnlock()
		}
		switch {
		case err != nil:
			return 0, err
		case next == readServed:
			return n, nil
		case next == readFetch:
			r.fetched = true
			if _, err := h.c.ensure(v, r.b, r.last); err != nil {
				return 0, err
			}
		}
	}
}

// blockRead is one readSome: the bytes of q from block b on, at object
// offset pos, up to block last.
type blockRead struct {
	h       *Handle
	q       []byte
	pos     int64
	b, last int64
	started runs
	// fetched: this read started or waited for a fetch from the source,
	// so its bytes count as a miss however they are finally served (from
	// the flight's buffer, or from the file once the fetch got there
	// first).
	fetched bool
}

// readNext is what readSome does after one look at block b.
type readNext int

const (
	readServed readNext = iota // bytes were copied into q
	readAgain                  // the block moved on: look at it again
	readFetch                  // the block is missing (again): fetch it, then look again
)

func (r *blockRead) count(n int64) {
	if r.fetched {
		r.h.c.countMiss(n)
	} else {
		r.h.c.countHit(n)
	}
}

// fromFile reads the run of verified blocks from b on out of the data file.
// A run counts as one: all hits, or all fetched by this read. Called with
// v.fileMu shared and v.mu held; releases both.
func (r *blockRead) fromFile() (int, readNext) {
	c, v := r.h.c, r.h.v
	e := r.b
	for e < r.last && v.verified.has(e+1) && r.started.has(e+1) == r.fetched {
		e++
	}
	v.mu.Unlock()
	n := min(int64(len(r.q)), (e+1)*v.bs-r.pos)
	got, err := v.file.ReadAt(r.q[:n], r.pos)
	v.fileMu.RUnlock()
	if int64(got) == n {
		r.count(n)
		return int(n), readServed
	}
	c.log.Warn("cache: cannot read a cached block; fetching it again", "err", err)
	c.dropIf(v, r.b, e, nil)
	return 0, readFetch
}

// checked reads present block b, not yet verified in this load, and
// serves it only if it matches its CRC; else it drops it. Called with
// v.fileMu shared and v.mu held; releases both.
func (r *blockRead) checked() (int, readNext) {
	c, v := r.h.c, r.h.v
	want := v.crcs[r.b]
	v.mu.Unlock()
	n, ok, err := r.h.readVerified(r.q, r.pos, r.b, want)
	v.fileMu.RUnlock()
	if ok {
		r.count(int64(n))
		return n, readServed
	}
	c.checksumFailed(v, r.b, err)
	crc := want
	c.dropIf(v, r.b, r.b, &crc)
	return 0, readFetch
}

// fromFlight waits for block b, in flight, to arrive, and copies it from
// the flight's buffer. A streaming flight's block is read from the file
// once it arrived; an abandoned block is fetched again. Called with
// v.fileMu shared and v.mu held; releases both.
func (r *blockRead) fromFlight(ctx context.Context) (int, readNext, error) {
	c, v := r.h.c, r.h.v
	fl := v.flights[r.b]
	fb := fl.block(r.b)
	if fb.written {
		// Written but dropped before it was recorded: wait for the
		// committer to let it go, then fetch it again.
		v.mu.Unlock()
		v.fileMu.RUnlock()
		if err := c.awaitSettled(ctx, fb); err != nil {
			return 0, readAgain, err
		}
		return 0, readAgain, nil
	}
	fl.refs.Add(1) // keep the buffer until we copied from it
	defer fl.unref()
	r.fetched = true
	v.mu.Unlock()
	v.fileMu.RUnlock()
	select {
	case <-fb.arrived:
	case <-ctx.Done():
		return 0, readAgain, ctx.Err()
	}
	switch {
	case errors.Is(fb.err, errAbandoned):
		return 0, readAgain, nil
	case fb.err != nil:
		return 0, readAgain, fb.err
	case fl.stream != nil:
		return 0, readAgain, nil
	}
	n := copy(r.q, fl.data(r.b)[r.pos-r.b*v.bs:])
	c.countMiss(int64(n))
	return n, readServed, nil
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
	if object.CRC64(data, 0) != want {
		return 0, false, nil
	}
	v.mu.Lock()
	if v.present.has(b) && v.crcs[b] == want {
		v.verified.set(b)
	}
	v.mu.Unlock()
	return copy(q, data[pos-b*v.bs:]), true, nil
}

// Settle returns once the blocks queued for the committer before the call
// (of any version) are recorded, or known not to be: the committer
// otherwise waits for a burst of fetching to pause. Missing then counts
// them as present. A block is queued once written to its data file, a
// moment after the readers of a buffered fetch were served from its
// buffer; Fetch waits for such blocks too.
func (h *Handle) Settle() {
	if h.check() == nil {
		h.c.flushCommits()
	}
}

// Missing lists the byte ranges of the version that are not present.
func (h *Handle) Missing() []object.Range {
	v := h.v
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []object.Range
	for b := int64(0); b < v.nblocks; b++ {
		if v.present.has(b) {
			continue
		}
		off := b * v.bs
		n := v.blockLen(b)
		if k := len(out) - 1; k >= 0 && out[k].End() == off {
			out[k].Len += n
		} else {
			out = append(out, object.Range{Off: off, Len: n})
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

// Close unpins the version. It is safe to call more than once.
func (h *Handle) Close() error {
	if h.closed.Swap(true) || h.c.closed.Load() {
		return nil
	}
	if h.checksItself.Load() {
		h.v.mu.Lock()
		h.v.selfCheckers--
		h.v.mu.Unlock()
	}
	h.c.unpin(h.v)
	return nil
}
