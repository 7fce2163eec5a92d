package rangefetch

import "github.com/ossmount/ossmount/object"

// SplitRanges cuts [off, off+n) into consecutive parts of partSize bytes (the
// last may be shorter). partSize <= 0 means one part. n <= 0 gives nil.
func SplitRanges(off, n, partSize int64) []object.Range {
	if n <= 0 {
		return nil
	}
	if partSize <= 0 || partSize >= n {
		return []object.Range{{Off: off, Len: n}}
	}
	out := make([]object.Range, 0, (n+partSize-1)/partSize)
	for end := off + n; off < end; off += partSize {
		l := partSize
		if end-off < l {
			l = end - off
		}
		out = append(out, object.Range{Off: off, Len: l})
	}
	return out
}
