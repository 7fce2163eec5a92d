package rangefetch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"github.com/ossmount/ossmount/object"
)

// bufSize is the copy buffer per in-flight read. Bytes stream from the
// socket to the WriterAt through it, so memory per worker is fixed no
// matter how large a range is.
const bufSize = 256 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// ReadRange fetches [off, off+n) of version ref and writes the bytes to w
// at their object offsets. It sends Range with x-oss-range-behavior:
// standard (so a bad range is a 416, not a 200 with the whole object) and
// If-Match: ref.ETag (so a replaced object is ErrObjectChanged, never mixed
// bytes), and accepts only a 206 whose Content-Range and length match.
// Transient failures are retried; a body cut mid-way is resumed from the
// last byte written. w may receive some bytes even when an error is
// returned. n == 0 is a no-op.
func (c *Client) ReadRange(ctx context.Context, ref object.Ref, off, n int64, w io.WriterAt) error {
	if off < 0 || n < 0 || off > (1<<62) || n > (1<<62) {
		return &Error{Op: opGet, Bucket: ref.Bucket, Key: ref.Key, Kind: ErrInvalidRange,
			Err: fmt.Errorf("negative or huge range off=%d n=%d", off, n)}
	}
	if n == 0 {
		return nil
	}
	b, err := c.bucket(ref.Bucket)
	if err != nil {
		return &Error{Op: opGet, Bucket: ref.Bucket, Key: ref.Key, Err: err}
	}
	bufp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bufp)
	g := &rangeGet{c: c, b: b, ref: ref, pos: off, end: off + n, w: w, buf: *bufp}
	err = c.withRetry(ctx, opGet, ref.Bucket, ref.Key, g.attempt)
	if e, ok := err.(*Error); ok && e.Range == "" {
		e.Range = "bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+n-1, 10)
	}
	return err
}

// rangeGet is the state of one ReadRange across its attempts: pos moves
// forward as bytes are written, so a retry asks only for [pos, end).
type rangeGet struct {
	c   *Client
	b   *oss.Bucket
	ref object.Ref
	pos int64
	end int64
	w   io.WriterAt
	buf []byte
}

// attempt sends one GET for [pos, end) and streams the body into w. It
// runs under its own cancelable context: a timer, re-armed on each read
// that returns bytes, cancels the attempt when the body stalls.
func (g *rangeGet) attempt(ctx context.Context) (progressed bool, err error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	opts := []oss.Option{
		oss.WithContext(actx),
		oss.Range(g.pos, g.end-1),
		oss.RangeBehavior("standard"),
	}
	if g.ref.ETag != "" {
		opts = append(opts, oss.IfMatch(g.ref.ETag))
	}
	res, err := g.b.DoGetObject(&oss.GetObjectRequest{ObjectKey: g.ref.Key}, opts)
	if err != nil {
		return false, err
	}
	body := res.Response.Body
	defer body.Close()
	if err := g.checkHeaders(res.Response); err != nil {
		return false, err
	}
	g.reportCRC64(res.Response.Headers)

	stall := time.AfterFunc(g.c.cfg.StallTimeout, func() { cancel(errStalled) })
	defer stall.Stop()
	start := g.pos
	// Fill the buffer with as many reads as it takes and write it out
	// when full, at the end, or on an error (so a retry resumes after
	// every byte received). Each read that returns bytes re-arms the
	// stall timer: a slow but moving body is never cut.
	fill := 0
	flush := func() error {
		if fill == 0 {
			return nil
		}
		// A slow writer is not a stalled server: pause the timer.
		stall.Stop()
		_, werr := g.w.WriteAt(g.buf[:fill], g.pos)
		stall.Reset(g.c.cfg.StallTimeout)
		if werr != nil {
			return &Error{Op: opGet, Bucket: g.ref.Bucket, Key: g.ref.Key,
				Err: fmt.Errorf("writing fetched bytes: %w", werr)}
		}
		g.pos += int64(fill)
		g.c.metrics.bytes.Add(float64(fill))
		fill = 0
		return nil
	}
	for g.pos+int64(fill) < g.end {
		want := min(int64(len(g.buf)-fill), g.end-g.pos-int64(fill))
		k, rerr := body.Read(g.buf[fill : fill+int(want)])
		if k > 0 {
			stall.Reset(g.c.cfg.StallTimeout)
			fill += k
		}
		if fill == len(g.buf) || g.pos+int64(fill) == g.end || rerr != nil {
			if err := flush(); err != nil {
				return g.pos > start, err
			}
		}
		if rerr != nil && g.pos < g.end {
			if context.Cause(actx) == errStalled {
				return g.pos > start, fmt.Errorf("%w (%v)", errStalled, g.c.cfg.StallTimeout)
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				rerr = errShortBody
			}
			return g.pos > start, rerr
		}
	}
	return true, nil
}

// CRC64Receiver is implemented by a ReadRange writer that wants the whole
// object's CRC64: OSS sends x-oss-hash-crc64ecma, the CRC64 of the whole
// object and not of the range, with every GET, and ReadRange passes it on
// (once per attempt that has it) before any byte of the body.
type CRC64Receiver interface {
	ObjectCRC64(crc uint64)
}

// reportCRC64 hands the object's CRC64 from the GET's headers to the
// writer, if it wants it and the header is there and valid.
func (g *rangeGet) reportCRC64(h http.Header) {
	rc, ok := g.w.(CRC64Receiver)
	if !ok {
		return
	}
	if s := h.Get("X-Oss-Hash-Crc64ecma"); s != "" {
		if crc, err := strconv.ParseUint(s, 10, 64); err == nil {
			rc.ObjectCRC64(crc)
		}
	}
}

// checkHeaders accepts only a 206 for exactly [pos, end).
func (g *rangeGet) checkHeaders(r *oss.Response) error {
	bad := func(format string, a ...any) error {
		return &Error{Op: opGet, Bucket: g.ref.Bucket, Key: g.ref.Key, StatusCode: r.StatusCode,
			RequestID: r.Headers.Get(oss.HTTPHeaderOssRequestID), Kind: ErrBadResponse, Err: fmt.Errorf(format, a...)}
	}
	if r.StatusCode != http.StatusPartialContent {
		return bad("status %d instead of 206 Partial Content for bytes=%d-%d", r.StatusCode, g.pos, g.end-1)
	}
	cr, err := parseContentRange(r.Headers.Get("Content-Range"))
	if err != nil {
		return bad("%v", err)
	}
	if cr.Total >= 0 && g.end > cr.Total {
		return &Error{Op: opGet, Bucket: g.ref.Bucket, Key: g.ref.Key, StatusCode: r.StatusCode,
			RequestID: r.Headers.Get(oss.HTTPHeaderOssRequestID), Kind: ErrInvalidRange,
			Err: fmt.Errorf("range ends at %d, past the object size %d", g.end, cr.Total)}
	}
	if cr.First != g.pos || cr.Last != g.end-1 {
		return bad("Content-Range bytes %d-%d does not match the requested bytes=%d-%d", cr.First, cr.Last, g.pos, g.end-1)
	}
	if cl := r.Headers.Get("Content-Length"); cl != "" {
		if v, err := strconv.ParseInt(cl, 10, 64); err != nil || v != g.end-g.pos {
			return bad("Content-Length %q does not match the %d bytes requested", cl, g.end-g.pos)
		}
	}
	if et := r.Headers.Get("ETag"); g.ref.ETag != "" && et != "" && et != g.ref.ETag {
		// A server that ignores If-Match must not slip a new version in.
		return &Error{Op: opGet, Bucket: g.ref.Bucket, Key: g.ref.Key, StatusCode: r.StatusCode,
			RequestID: r.Headers.Get(oss.HTTPHeaderOssRequestID), Kind: ErrObjectChanged,
			Err: fmt.Errorf("ETag %s instead of %s", et, g.ref.ETag)}
	}
	return nil
}
