package materialize

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

// Env is what Run needs to reach the cache and OSS.
type Env struct {
	Cache cache.Options
	// Client builds the OSS client. Run calls it only when this process
	// owns the cache: a run handed to a mount uses the mount's client, so
	// it needs no credentials or endpoint of its own.
	Client func() (*rangefetch.Client, error)
	Log    *slog.Logger
	// OwnerWait bounds how long Run waits for a process that holds the
	// cache lock but does not (yet) answer on the socket. Default 30s.
	OwnerWait time.Duration
}

// maxOwnerGone bounds how often Run starts over after the owner it had
// delegated to exited before answering.
const maxOwnerGone = 3

// Run materializes req with the cache directory env.Cache.Dir, wherever
// the work can happen: in this process if it can take the cache (which
// then also serves other processes' requests until the run ends), else
// in the process that owns it, through the owner socket. An owner that
// exits mid-run is replaced: the next attempt takes the cache over or
// finds the new owner, and the blocks fetched so far are kept.
func Run(ctx context.Context, env Env, req Request, progress func(done, total int64)) (Result, error) {
	if env.Log == nil {
		env.Log = slog.Default()
	}
	if env.OwnerWait <= 0 {
		env.OwnerWait = 30 * time.Second
	}
	req, err := req.withDefaults()
	if err != nil {
		return Result{}, err
	}
	waitStart := time.Time{}
	gone := 0
	delay := 20 * time.Millisecond
	for {
		src := &lateSource{}
		c, err := cache.Open(env.Cache, src)
		var locked *cache.LockedError
		if !errors.As(err, &locked) {
			if err != nil {
				return Result{}, localIOf("open the cache: %w", err)
			}
			return runOwned(ctx, c, src, env, req, progress)
		}

		res, err := Delegate(ctx, locked.Dir, req, progress)
		switch {
		case errors.Is(err, ErrOwnerGone) && gone < maxOwnerGone:
			gone++
			env.Log.Info("the process owning the cache stopped; starting over", "pid", locked.PID)
		case errors.Is(err, ErrNoOwner):
			if waitStart.IsZero() {
				waitStart = time.Now()
			}
			if time.Since(waitStart) > env.OwnerWait {
				return Result{}, fmt.Errorf("%w: %v, which does not answer on %s; stop it or use another --cache-dir",
					ErrNoOwner, locked, SocketPath(locked.Dir))
			}
		default:
			return res, err
		}
		// The owner is starting up or shutting down; either way the state
		// changes within moments.
		select {
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// runOwned runs req in this process, which owns c, while serving other
// processes' requests; it waits for those before closing the cache, so a
// run that delegated to this one is not cut off.
func runOwned(ctx context.Context, c *cache.Cache, src *lateSource, env Env, req Request, progress func(done, total int64)) (Result, error) {
	defer c.Close()
	client, err := env.Client()
	if err != nil {
		return Result{}, err
	}
	defer client.Close()
	src.client = client
	if srv, err := StartServer(ctx, c, client, env.Log); err != nil {
		env.Log.Warn("cannot serve other ossmount processes on this cache", "err", err)
	} else {
		defer srv.Shutdown(ctx)
	}
	return Materialize(ctx, c, client, req, progress)
}

// lateSource lets the cache be opened before the OSS client exists, so
// that a process which ends up delegating never needs one.
type lateSource struct{ client *rangefetch.Client }

func (s *lateSource) ReadRange(ctx context.Context, ref object.Ref, off, n int64, w io.WriterAt) error {
	if s.client == nil {
		return errors.New("no OSS client")
	}
	return s.client.ReadRange(ctx, ref, off, n, w)
}
