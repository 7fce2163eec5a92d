package ossserver

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Faults shapes and breaks GET responses, so that clients can be tested
// against a slow or unreliable service. The zero value is a healthy server.
type Faults struct {
	FirstByteLatency time.Duration // wait before answering each object GET
	BytesPerSecond   int64         // pace each response body; 0 = unlimited
	SlowDownFraction float64       // fraction of object GETs answered 503 SlowDown
	CutBodyFraction  float64       // fraction of GET bodies cut mid-way (connection closed)
	FlipByteFraction float64       // fraction of GET bodies with one byte flipped
	WrongCRC         bool          // x-oss-hash-crc64ecma is wrong on HEAD and GET
}

// SetFaults changes the faults for requests that start from now on. It is
// safe to call while requests are being served.
func (s *Server) SetFaults(f Faults) {
	s.faults.Store(&f)
}

// Faults returns the current faults.
func (s *Server) Faults() Faults {
	return *s.faults.Load()
}

// dice draws the random decisions of fault injection from one seeded
// source, so a run with the same seed and request order repeats itself.
type dice struct {
	mu  sync.Mutex
	rng *rand.Rand
}

func newDice(seed uint64) *dice {
	return &dice{rng: rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))}
}

// roll reports true with probability p.
func (d *dice) roll(p float64) bool {
	if p <= 0 {
		return false
	}
	if p >= 1 {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rng.Float64() < p
}

// offset returns a uniform offset in [0, n); n must be > 0.
func (d *dice) offset(n int64) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rng.Int64N(n)
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pacer holds a response body to a byte rate by absolute schedule: the
// bytes up to offset n may leave at start + n/rate. Sleeping until that
// moment before each chunk corrects for timer lateness instead of adding
// it up, and costs no CPU while waiting.
type pacer struct {
	rate  int64
	start time.Time
	timer *time.Timer
}

func newPacer(rate int64) *pacer {
	return &pacer{rate: rate, start: time.Now()}
}

// wait returns when `through` bytes of the body may have been sent.
func (p *pacer) wait(ctx context.Context, through int64) error {
	if p.rate <= 0 {
		return nil
	}
	due := p.start.Add(time.Duration(float64(through) / float64(p.rate) * float64(time.Second)))
	d := time.Until(due)
	if d <= 0 {
		return nil
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
		return nil
	case <-ctx.Done():
		p.timer.Stop()
		return ctx.Err()
	}
}

func (p *pacer) stop() {
	if p.timer != nil {
		p.timer.Stop()
	}
}
