package rangefetch

import "time"

// Internal helpers exposed to the external test package.
var (
	ParseContentRange = func(s string) (first, last, total int64, err error) {
		cr, err := parseContentRange(s)
		return cr.First, cr.Last, cr.Total, err
	}
	RegionFromHost = regionFromHost
	BackoffDelay   = func(p RetryPolicy, n int) time.Duration { return p.backoffDelay(n) }
)
