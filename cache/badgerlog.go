package cache

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// badgerLogger routes badger's warnings and errors to slog and drops its
// chatty info and debug lines. A line of the same format as one logged less
// than logRepeatEvery ago is counted rather than logged, and the count goes
// with the next line logged: badger repeats some errors once a second for
// as long as they last (a memtable it cannot write, retried forever).
type badgerLogger struct {
	log     *slog.Logger
	repeats *repeatLimiter
}

func newBadgerLogger(log *slog.Logger) badgerLogger {
	return badgerLogger{log: log, repeats: newRepeatLimiter(logRepeatEvery)}
}

func (l badgerLogger) Errorf(f string, a ...any) { l.emit(slog.LevelError, f, a) }

func (l badgerLogger) Warningf(f string, a ...any) { l.emit(slog.LevelWarn, f, a) }

func (l badgerLogger) Infof(string, ...any)  {}
func (l badgerLogger) Debugf(string, ...any) {}

func (l badgerLogger) emit(level slog.Level, f string, a []any) {
	ok, skipped := l.repeats.allow(f, time.Now())
	if !ok {
		return
	}
	msg := "cache index: " + strings.TrimSuffix(fmt.Sprintf(f, a...), "\n")
	if skipped > 0 {
		l.log.Log(context.Background(), level, msg, "repeated", skipped)
		return
	}
	l.log.Log(context.Background(), level, msg)
}

// logRepeatEvery is how often a repeating log line is let through.
const logRepeatEvery = time.Minute

// repeatLimiter lets a line of each kind through at most once per period
// and counts the ones it holds back.
type repeatLimiter struct {
	period time.Duration
	mu     sync.Mutex
	kinds  map[string]*repeats
}

type repeats struct {
	last    time.Time // when a line of this kind was let through
	skipped int       // lines held back since
}

func newRepeatLimiter(period time.Duration) *repeatLimiter {
	return &repeatLimiter{period: period, kinds: make(map[string]*repeats)}
}

// allow reports whether a line of kind may be logged at now, and if so how
// many were held back since the last one. The kinds are badger's format
// strings, a fixed few, so the map stays small.
func (r *repeatLimiter) allow(kind string, now time.Time) (ok bool, skipped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.kinds[kind]
	if k == nil {
		r.kinds[kind] = &repeats{last: now}
		return true, 0
	}
	if now.Sub(k.last) < r.period {
		k.skipped++
		return false, 0
	}
	skipped = k.skipped
	k.last, k.skipped = now, 0
	return true, skipped
}
