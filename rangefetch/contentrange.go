package rangefetch

import (
	"fmt"
	"strconv"
	"strings"
)

// contentRange is a parsed "bytes first-last/total" header. Total is -1
// when the server sent "*".
type contentRange struct{ First, Last, Total int64 }

// parseContentRange parses a Content-Range header of a 206 reply
// (RFC 9110 §14.4). It rejects anything a byte-exact reader cannot trust:
// missing unit, signs, spaces inside numbers, last < first, last >= total.
func parseContentRange(s string) (contentRange, error) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return contentRange{}, fmt.Errorf("Content-Range %q: expected \"bytes first-last/total\"", trunc(s))
	}
	span, total, ok := strings.Cut(rest, "/")
	if !ok {
		return contentRange{}, fmt.Errorf("Content-Range %q: missing /total", trunc(s))
	}
	first, last, ok := strings.Cut(span, "-")
	if !ok {
		return contentRange{}, fmt.Errorf("Content-Range %q: missing first-last", trunc(s))
	}
	var cr contentRange
	var err error
	if cr.First, err = parseDigits(first); err != nil {
		return contentRange{}, fmt.Errorf("Content-Range %q: first byte: %v", trunc(s), err)
	}
	if cr.Last, err = parseDigits(last); err != nil {
		return contentRange{}, fmt.Errorf("Content-Range %q: last byte: %v", trunc(s), err)
	}
	if cr.Last < cr.First {
		return contentRange{}, fmt.Errorf("Content-Range %q: last byte before first", trunc(s))
	}
	if total == "*" {
		cr.Total = -1
		return cr, nil
	}
	if cr.Total, err = parseDigits(total); err != nil {
		return contentRange{}, fmt.Errorf("Content-Range %q: total: %v", trunc(s), err)
	}
	if cr.Last >= cr.Total {
		return contentRange{}, fmt.Errorf("Content-Range %q: last byte past the total size", trunc(s))
	}
	return cr, nil
}

// parseDigits accepts only ASCII digits (no sign, no spaces) that fit int64.
func parseDigits(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("not a number")
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
