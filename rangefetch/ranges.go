package rangefetch

// Range is a byte window [Off, Off+Len) of an object.
type Range struct{ Off, Len int64 }

// End returns the offset just past the range.
func (r Range) End() int64 { return r.Off + r.Len }

// SplitRanges cuts [off, off+n) into consecutive parts of partSize bytes (the
// last may be shorter). partSize <= 0 means one part. n <= 0 gives nil.
func SplitRanges(off, n, partSize int64) []Range {
	if n <= 0 {
		return nil
	}
	if partSize <= 0 || partSize >= n {
		return []Range{{Off: off, Len: n}}
	}
	out := make([]Range, 0, (n+partSize-1)/partSize)
	for end := off + n; off < end; off += partSize {
		l := partSize
		if end-off < l {
			l = end - off
		}
		out = append(out, Range{Off: off, Len: l})
	}
	return out
}
