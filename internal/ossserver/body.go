package ossserver

import (
	"errors"
	"io"
	"net/http"
	"sync"
)

// copyChunk is how much an unshaped body moves per read and write: large
// enough that a 1 GiB body costs a few thousand system calls. Shaped bodies
// use smaller chunks so that pacing is smooth.
const (
	copyChunk  = 256 << 10
	pacedChunk = 64 << 10
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyChunk); return &b }}

func getBuffer(n int) *[]byte {
	bp := bufPool.Get().(*[]byte)
	*bp = (*bp)[:n]
	return bp
}

func putBuffer(bp *[]byte) { bufPool.Put(bp) }

// sendBody writes n bytes of v from offset off, applying the pacing and
// body faults. Each chunk is paced, read, then the version is checked for
// an in-place rewrite, then the chunk is sent: a body is either from one
// version or cut short, never a mix that ends normally. A cut is an abort
// of the connection after the headers promised the full length, so the
// client sees a short read.
func (s *Server) sendBody(w http.ResponseWriter, r *http.Request, v Version, off, n int64, f Faults) {
	limit := n // bytes to send before stopping
	cut := s.dice.roll(f.CutBodyFraction)
	if cut {
		limit = s.dice.offset(n)
		s.counters.cutBodies.Add(1)
	}
	flipAt := int64(-1)
	if s.dice.roll(f.FlipByteFraction) {
		flipAt = s.dice.offset(n)
		s.counters.flipped.Add(1)
	}
	chunk := copyChunk
	var p *pacer
	if f.BytesPerSecond > 0 {
		chunk = pacedChunk
		p = newPacer(f.BytesPerSecond)
		defer p.stop()
		// Real OSS sends the headers at once and then streams; a paced body
		// must not hold them back, or a client's first-byte timeout would
		// fire where only its stall timeout should.
		http.NewResponseController(w).Flush()
	}
	bp := getBuffer(chunk)
	defer putBuffer(bp)
	buf := *bp
	ctx := r.Context()
	for sent := int64(0); sent < limit; {
		k := int(min(int64(len(buf)), limit-sent))
		if p != nil && p.wait(ctx, sent+int64(k)) != nil {
			return
		}
		if got, err := v.ReadAt(buf[:k], off+sent); got < k {
			if err == nil || errors.Is(err, io.EOF) {
				err = errChanged // the file shrank under us
			}
			s.abort(err)
		}
		if err := v.Check(); err != nil {
			s.abort(err)
		}
		if flipAt >= sent && flipAt < sent+int64(k) {
			buf[flipAt-sent] ^= 0xFF
		}
		// Count before writing: the client may hold the last byte before
		// Write returns here, and a test that reads Stats once its read
		// is done must already see every byte it received.
		s.counters.bodyBytes.Add(int64(k))
		if m, err := w.Write(buf[:k]); err != nil {
			s.counters.bodyBytes.Add(int64(m - k)) // never sent
			return
		}
		sent += int64(k)
	}
	if cut {
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
}

// abort ends the response by closing the connection; net/http recovers
// http.ErrAbortHandler without logging it.
func (s *Server) abort(err error) {
	s.log.Warn("aborting response", "err", err)
	panic(http.ErrAbortHandler)
}
