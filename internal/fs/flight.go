package fs

import (
	"context"
	"sync"
)

// call is one request to OSS shared by every FUSE operation that needs its
// answer (for instance all lookups in a directory while it is being
// listed). It runs in its own goroutine with a context derived from the
// mount's, so that one waiter's interruption does not fail the others; when
// the last waiter gives up, the request is cancelled, so the FUSE request
// contexts still decide how long OSS is asked.
type call[T any] struct {
	done   chan struct{}
	val    T
	err    error
	cancel context.CancelFunc

	mu        sync.Mutex
	waiters   int
	abandoned bool
}

// startCall runs fn in a goroutine counted in wg, bounded by timeout and by
// parent (the mount's lifetime). The caller is its first waiter.
func startCall[T any](parent context.Context, wg *sync.WaitGroup, fn func(ctx context.Context) (T, error)) *call[T] {
	ctx, cancel := context.WithCancel(parent)
	c := &call[T]{done: make(chan struct{}), cancel: cancel, waiters: 1}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		c.val, c.err = fn(ctx)
		close(c.done)
	}()
	return c
}

// join adds a waiter. It reports false if every earlier waiter gave up and
// the call is being cancelled; the caller then starts a new one.
func (c *call[T]) join() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.abandoned {
		return false
	}
	c.waiters++
	return true
}

// wait returns the result of the call, or ctx's error if ctx ends first.
func (c *call[T]) wait(ctx context.Context) (T, error) {
	select {
	case <-c.done:
		c.leave()
		return c.val, c.err
	case <-ctx.Done():
		c.leave()
		var zero T
		return zero, ctx.Err()
	}
}

func (c *call[T]) leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waiters--
	if c.waiters == 0 {
		select {
		case <-c.done:
		default:
			c.abandoned = true
			c.cancel()
		}
	}
}
