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
	var started blockSpans
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

// readSome serves a prefix of q (object offset pos) from one source: a run
// of verified blocks on disk, one block to verify, or one block in flight.
// started are the runs this read's own fetches bring.
func (h *Handle) readSome(ctx context.Context, q []byte, pos int64, started blockSpans) (int, error) {
	c, v := h.c, h.v
	b := pos / v.bs
	last := (pos + int64(len(q)) - 1) / v.bs
	// fetched: this read started or waited for a fetch from the source,
	// so its bytes count as a miss however they are finally served (from
	// the flight's buffer, or from the file once the fetch got there
	// first).
	fetched := started.has(b)
	count := func(n int64) {
		if fetched {
			c.countMiss(n)
		} else {
			c.countHit(n)
		}
	}
	for {
		v.fileMu.RLock()
		v.mu.Lock()
		switch {
		case v.verified.has(b):
			e := b
			// A run counts as one: all hits, or all fetched by this read.
			for e < last && v.verified.has(e+1) && started.has(e+1) == fetched {
				e++
			}
			v.mu.Unlock()
			n := min(int64(len(q)), (e+1)*v.bs-pos)
			got, err := v.file.ReadAt(q[:n], pos)
			v.fileMu.RUnlock()
			if int64(got) == n {
				count(n)
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
				count(int64(n))
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
				if err := c.awaitSettled(ctx, fb); err != nil {
					return 0, err
				}
				continue
			}
			fl.refs.Add(1) // keep the buffer until we copied from it
			fetched = true
			v.mu.Unlock()
			v.fileMu.RUnlock()
			select {
			case <-fb.done:
			case <-ctx.Done():
				fl.unref()
				return 0, ctx.Err()
			}
			if fl.stream != nil || errors.Is(fb.err, errAbandoned) {
				// A streaming flight's block is read from the file once it
				// arrived; an abandoned block is fetched again.
				fl.unref()
				if fb.err != nil && !errors.Is(fb.err, errAbandoned) {
					return 0, fb.err
				}
				continue
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
		fetched = true
		if _, err := c.ensure(v, b, last); err != nil {
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

// Settle returns once the blocks that arrived before the call (of any
// version) are recorded, or known not to be: the committer otherwise waits
// for a burst of fetching to pause. Missing then counts them as present.
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
	h.c.unpin(h.v)
	return nil
}
