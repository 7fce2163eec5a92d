package rangefetch

import (
	"context"
	"time"
)

// attemptFunc performs one request. It returns progressed=true when it
// moved the operation forward (received body bytes), so a resumed retry
// is not charged against MaxAttempts.
type attemptFunc func(ctx context.Context) (progressed bool, err error)

// withRetry runs fn until it succeeds, fails permanently, the caller's ctx
// ends, MaxAttempts fruitless attempts have been made, or MaxElapsed would
// be exceeded by the next wait.
func (c *Client) withRetry(ctx context.Context, op, bucket, key string, fn attemptFunc) error {
	p := c.cfg.Retry
	start := time.Now()
	label := opLabel(op)
	fruitless, sent := 0, 0
	for {
		sent++
		c.metrics.requests.WithLabelValues(label).Inc()
		progressed, err := fn(ctx)
		if err == nil {
			return nil
		}
		f := classify(ctx, op, bucket, key, err)
		c.metrics.errors.WithLabelValues(label, f.class).Inc()
		f.err.Attempts = sent
		f.err.Endpoint = c.endpoint.url
		if !f.retryable {
			return f.err
		}
		if progressed {
			fruitless = 0
		} else {
			fruitless++
		}
		if fruitless >= p.MaxAttempts {
			return exhausted(f.err)
		}
		delay := p.backoffDelay(fruitless)
		if time.Since(start)+delay > p.MaxElapsed {
			return exhausted(f.err)
		}
		c.log.Debug("oss retry", "op", op, "bucket", bucket, "key", key, "attempt", sent,
			"delay", delay, "err", f.err.Error())
		c.metrics.retries.WithLabelValues(label).Inc()
		if err := sleepCtx(ctx, delay); err != nil {
			return &Error{Op: op, Bucket: bucket, Key: key, Err: err, Attempts: sent}
		}
	}
}

func exhausted(e *Error) *Error {
	if e.Kind == nil {
		e.Kind = ErrRetriesExhausted
	}
	return e
}
