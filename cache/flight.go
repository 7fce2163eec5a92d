package cache

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/ossmount/ossmount/object"
)

// flight is one GET of a run of consecutive missing blocks. While it is
// registered in version.flights, every reader of those blocks waits on it
// instead of fetching again, so a block is fetched once however many readers
// want it.
//
// A buffered flight (readers' fetches, ensure) receives the run into a
// buffer and serves each block from it as soon as all its bytes arrived and
// its CRC is computed, long before it is durable on disk. A streaming
// flight (FetchAllWith, stream.go) has no buffer: the body goes straight
// into the data file, and readers read a block from the file once it
// arrived.
type flight struct {
	c     *Cache
	v     *version
	first int64 // first block
	off   int64 // object offset of the first block
	n     int64 // bytes of the run
	buf   []byte
	bufp  *[]byte // buf's recyclable backing array; nil for a streaming flight
	gen   uint64  // version.gen when the flight started

	// stream is the state of a streaming flight, nil for a buffered one.
	stream *streamState

	blocks []flightBlock

	// refs counts the users of buf: one per block until it is written to
	// the data file (or will not be), one for the fetch itself, one per
	// reader copying from it. The last one recycles buf. A streaming
	// flight has no buf and counts the same way, to no effect.
	refs atomic.Int32

	mu      sync.Mutex
	covered []object.Range // byte ranges of buf written, sorted and merged
	next    int            // blocks[:next] arrived or failed: no more bytes are taken for them
}

// flightBlock is one block of a flight, from in flight to settled (the
// package documentation lists the states).
type flightBlock struct {
	// arrived is closed when all the block's bytes are in buf (for a
	// streaming flight: in the data file) and its CRC is known, or when
	// its fetch failed (err set).
	arrived chan struct{}
	// settled is closed when the committer is done with the block: it is
	// recorded, or will not be (stored set, or dropped).
	settled chan struct{}
	err     error // why the fetch failed; set before arrived is closed
	stored  error // why the block will not be recorded (nil if recorded or dropped); set before settled is closed
	dropped bool  // dropIf forgot it while in flight, so it is not recorded; guarded by version.mu
	written bool  // its bytes are in the data file, read from there rather than buf; guarded by version.mu
}

// newFlight is a buffered fetch of blocks [first, last]: the body goes to
// a run buffer, and each block to the data file once complete.
func newFlight(c *Cache, v *version, first, last int64) *flight {
	fl := flightOf(c, v, first, last)
	fl.bufp = getRunBuf((last - first + 1) * v.bs)
	fl.buf = (*fl.bufp)[:fl.n]
	return fl
}

// flightOf sets up what buffered and streaming flights share: the range,
// the generation it belongs to, and per block the channels readers and
// the committer wait on. One reference per block, one for the fetch.
func flightOf(c *Cache, v *version, first, last int64) *flight {
	off := first * v.bs
	fl := &flight{
		c:      c,
		v:      v,
		first:  first,
		off:    off,
		n:      min((last+1)*v.bs, v.size) - off,
		gen:    v.gen,
		blocks: make([]flightBlock, last-first+1),
	}
	fl.refs.Store(int32(len(fl.blocks)) + 1)
	for i := range fl.blocks {
		fl.blocks[i].arrived = make(chan struct{})
		fl.blocks[i].settled = make(chan struct{})
	}
	return fl
}

// unref drops one reference to the buffer, recycling it after the last.
func (fl *flight) unref() {
	if fl.refs.Add(-1) == 0 && fl.bufp != nil {
		putRunBuf(fl.bufp)
	}
}

// runBufs recycles flight buffers, one pool per run length in whole
// blocks: allocating a few MiB per fetch would otherwise leave the garbage
// collector far behind and the heap large.
var runBufs sync.Map // capacity -> *sync.Pool

func getRunBuf(capacity int64) *[]byte {
	p, _ := runBufs.LoadOrStore(capacity, &sync.Pool{New: func() any { b := make([]byte, capacity); return &b }})
	return p.(*sync.Pool).Get().(*[]byte)
}

func putRunBuf(b *[]byte) {
	if p, ok := runBufs.Load(int64(len(*b))); ok {
		p.(*sync.Pool).Put(b)
	}
}

func (fl *flight) block(b int64) *flightBlock { return &fl.blocks[b-fl.first] }

// last is the flight's last block.
func (fl *flight) last() int64 { return fl.first + int64(len(fl.blocks)) - 1 }

// data returns the bytes of block b in the buffer.
func (fl *flight) data(b int64) []byte {
	start := (b - fl.first) * fl.v.bs
	return fl.buf[start : start+fl.v.blockLen(b)]
}

// WriteAt receives the body of the GET at object offsets. Bytes of blocks
// already complete are ignored (a resumed body may repeat them, and readers
// may be copying them).
func (fl *flight) WriteAt(p []byte, off int64) (int, error) {
	if fl.stream != nil {
		return fl.streamWrite(p, off)
	}
	n := len(p)
	rel := off - fl.off
	if rel < 0 || rel+int64(n) > int64(len(fl.buf)) {
		return 0, fmt.Errorf("cache: write at %d+%d outside the fetched range %d+%d", off, n, fl.off, len(fl.buf))
	}
	fl.mu.Lock()
	doneBytes := int64(fl.next) * fl.v.bs
	if rel < doneBytes {
		skip := min(doneBytes-rel, int64(len(p)))
		p, rel = p[skip:], rel+skip
	}
	copy(fl.buf[rel:], p)
	fl.covered = addRange(fl.covered, object.Range{Off: rel, Len: int64(len(p))})
	ready := fl.completeUnderFlightMu()
	fl.mu.Unlock()
	for _, b := range ready {
		fl.c.blockArrived(fl, b)
	}
	return n, nil
}

// completeUnderFlightMu advances over the blocks whose bytes are all
// covered and returns them. The caller holds fl.mu.
func (fl *flight) completeUnderFlightMu() []int64 {
	var contiguous int64
	if len(fl.covered) > 0 && fl.covered[0].Off == 0 {
		contiguous = fl.covered[0].End()
	}
	var ready []int64
	for fl.next < len(fl.blocks) {
		b := fl.first + int64(fl.next)
		end := (b-fl.first)*fl.v.bs + fl.v.blockLen(b)
		if end > contiguous {
			break
		}
		ready = append(ready, b)
		fl.next++
	}
	return ready
}

// finish checks, after the GET returned, that every byte arrived.
func (fl *flight) finish() error {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.next == len(fl.blocks) {
		return nil
	}
	return fmt.Errorf("cache: fetch of %d bytes at %d returned early: %w", fl.n, fl.off, io.ErrUnexpectedEOF)
}

// addRange inserts r into a sorted, merged list of ranges.
func addRange(rs []object.Range, r object.Range) []object.Range {
	if r.Len <= 0 {
		return rs
	}
	out := rs[:0:0]
	i := 0
	for ; i < len(rs) && rs[i].End() < r.Off; i++ {
		out = append(out, rs[i])
	}
	for ; i < len(rs) && rs[i].Off <= r.End(); i++ {
		start := min(rs[i].Off, r.Off)
		end := max(rs[i].End(), r.End())
		r = object.Range{Off: start, Len: end - start}
	}
	out = append(out, r)
	return append(out, rs[i:]...)
}
