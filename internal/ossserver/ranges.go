package ossserver

import (
	"strconv"
	"strings"
)

// rangeOutcome is what a GET does with its Range header.
type rangeOutcome int

const (
	rangeWhole   rangeOutcome = iota // 200 with the whole object
	rangePartial                     // 206 with [Start, End]
	rangeInvalid                     // 416 InvalidRange
)

// byteRange is an inclusive range of object offsets.
type byteRange struct{ Start, End int64 }

// resolveRange applies OSS's Range rules to an object of the given size.
//
// By default OSS is lenient: a range it cannot serve exactly (syntax error,
// several ranges, start at or past the end, end past the end, suffix longer
// than the object) is ignored and the whole object comes back with 200.
// With "x-oss-range-behavior: standard" (standard=true) an end past the
// object is clamped and a suffix longer than the object means all of it,
// while an unsatisfiable, multiple or malformed range is a 416.
func resolveRange(header string, size int64, standard bool) (rangeOutcome, byteRange) {
	if header == "" {
		return rangeWhole, byteRange{}
	}
	bad := rangeWhole
	if standard {
		bad = rangeInvalid
	}
	unit, spec, ok := strings.Cut(header, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(spec, ",") {
		return bad, byteRange{}
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return bad, byteRange{}
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" { // suffix: the last n bytes
		n, ok := parseOffset(last)
		if !ok || n == 0 || size == 0 {
			return bad, byteRange{}
		}
		if n > size {
			if !standard {
				return rangeWhole, byteRange{}
			}
			n = size
		}
		return rangePartial, byteRange{size - n, size - 1}
	}
	start, ok := parseOffset(first)
	if !ok || start >= size {
		return bad, byteRange{}
	}
	end := size - 1
	if last != "" {
		e, ok := parseOffset(last)
		if !ok || e < start {
			return bad, byteRange{}
		}
		if e >= size && !standard {
			return rangeWhole, byteRange{}
		}
		end = min(e, size-1)
	}
	return rangePartial, byteRange{start, end}
}

// parseOffset accepts only plain decimal digits (no sign), without overflow.
func parseOffset(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
