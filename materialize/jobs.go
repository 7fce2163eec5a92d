package materialize

import (
	"context"
	"errors"
	"sync"
)

// jobs lets concurrent runs in one process share the fetching and checking
// of one object version: the first run of a key leads and does the work,
// later runs of the same key follow its progress and reuse its outcome.
// Runs in other processes reach this one through the owner socket, so
// every run on a cache directory meets here and each part is fetched once.
//
// There is no background goroutine: the leader works in its own call, and
// a follower whose leader was cancelled takes over the next attempt.
type jobs[K comparable, V any] struct {
	mu      sync.Mutex
	running map[K]*job[V]
}

type job[V any] struct {
	done chan struct{} // closed when val and err are set
	val  V
	err  error

	mu       sync.Mutex
	last     [2]int64 // latest progress, replayed to a follower that joins
	seen     bool
	nextSub  int
	watchers map[int]func(done, total int64)
}

// report records progress and passes it to every follower.
func (j *job[V]) report(done, total int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.last, j.seen = [2]int64{done, total}, true
	for _, w := range j.watchers {
		w(done, total)
	}
}

func (j *job[V]) watch(progress func(done, total int64)) (stop func()) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.watchers == nil {
		j.watchers = make(map[int]func(done, total int64))
	}
	id := j.nextSub
	j.nextSub++
	j.watchers[id] = progress
	if j.seen {
		progress(j.last[0], j.last[1])
	}
	return func() {
		j.mu.Lock()
		defer j.mu.Unlock()
		delete(j.watchers, id)
	}
}

// do runs work for key unless a run of key is in progress, in which case
// it waits for that run's outcome. led reports whether this call did the
// work. progress sees the progress of whichever run does the work.
func (js *jobs[K, V]) do(ctx context.Context, key K, progress func(done, total int64),
	work func(ctx context.Context, report func(done, total int64)) (V, error)) (val V, led bool, err error) {
	for {
		js.mu.Lock()
		if js.running == nil {
			js.running = make(map[K]*job[V])
		}
		j, ok := js.running[key]
		if !ok {
			j = &job[V]{done: make(chan struct{})}
			js.running[key] = j
			js.mu.Unlock()
			stop := j.watch(progress)
			j.val, j.err = work(ctx, j.report)
			stop()
			js.mu.Lock()
			delete(js.running, key)
			js.mu.Unlock()
			close(j.done)
			return j.val, true, j.err
		}
		js.mu.Unlock()

		stop := j.watch(progress)
		select {
		case <-ctx.Done():
			stop()
			var zero V
			return zero, false, ctx.Err()
		case <-j.done:
			stop()
		}
		// The leader's caller gave up; this one has not, so it leads the
		// next attempt, which starts from whatever the leader left.
		if isCancel(j.err) && ctx.Err() == nil {
			continue
		}
		return j.val, false, j.err
	}
}

func isCancel(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
