package rangefetch

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoffDelay is "full jitter": uniform in [0, min(MaxDelay, Base*2^n)).
// Spreading retries uniformly keeps many workers that failed together from
// hitting a throttled server together again.
func (p RetryPolicy) backoffDelay(n int) time.Duration {
	ceil := p.BaseDelay
	for i := 0; i < n && ceil < p.MaxDelay; i++ {
		ceil *= 2
	}
	if ceil > p.MaxDelay {
		ceil = p.MaxDelay
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceil)))
}

// sleepCtx waits d or until ctx is done, whichever is first; it returns
// ctx.Err() in the latter case so that cancellation stops a retry wait at once.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
