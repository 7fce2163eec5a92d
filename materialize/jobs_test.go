package materialize

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
)

func TestJobsShareOneRunPerKey(t *testing.T) {
	var js jobs[string, int]
	var runs atomic.Int32
	started := make(chan struct{})
	release := make(chan struct{})
	work := func(ctx context.Context, report func(done, total int64)) (int, error) {
		runs.Add(1)
		report(1, 2)
		close(started)
		<-release
		report(2, 2)
		return 42, nil
	}

	var wg sync.WaitGroup
	var leaderVal int
	var leaderLed bool
	wg.Add(1)
	go func() {
		defer wg.Done()
		leaderVal, leaderLed, _ = js.do(context.Background(), "k", nil2, work)
	}()
	<-started

	var seen [][2]int64
	var mu sync.Mutex
	followerProgress := func(done, total int64) {
		mu.Lock()
		seen = append(seen, [2]int64{done, total})
		mu.Unlock()
	}
	done := make(chan struct{})
	var val int
	var led bool
	var err error
	go func() {
		defer close(done)
		val, led, err = js.do(context.Background(), "k", followerProgress, func(context.Context, func(int64, int64)) (int, error) {
			t.Error("the follower ran the work itself")
			return 0, nil
		})
	}()
	// The follower gets the current progress as soon as it joins.
	testutil.Eventually(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) > 0 }, "the follower's first progress report")
	close(release)
	<-done
	wg.Wait()
	if err != nil || val != 42 || led || !leaderLed || leaderVal != 42 {
		t.Fatalf("follower: val=%d led=%v err=%v; leader: val=%d led=%v", val, led, err, leaderVal, leaderLed)
	}
	if runs.Load() != 1 {
		t.Fatalf("work ran %d times", runs.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if seen[0] != [2]int64{1, 2} || seen[len(seen)-1] != [2]int64{2, 2} {
		t.Fatalf("follower saw progress %v", seen)
	}
}

func TestJobsFollowerTakesOverFromCancelledLeader(t *testing.T) {
	var js jobs[string, int]
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	started := make(chan struct{})
	leaderDone := make(chan error, 1)
	go func() {
		_, _, err := js.do(leaderCtx, "k", nil2, func(ctx context.Context, _ func(int64, int64)) (int, error) {
			close(started)
			<-ctx.Done()
			return 0, ctx.Err()
		})
		leaderDone <- err
	}()
	<-started
	followerDone := make(chan struct{})
	var val int
	var led bool
	var err error
	go func() {
		defer close(followerDone)
		val, led, err = js.do(context.Background(), "k", nil2, func(context.Context, func(int64, int64)) (int, error) {
			return 7, nil
		})
	}()
	// Let the follower join before the leader gives up; joining is visible
	// as a watcher on the running job.
	testutil.Eventually(t, 30*time.Second, func() bool {
		js.mu.Lock()
		defer js.mu.Unlock()
		j := js.running["k"]
		if j == nil {
			return false
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		return len(j.watchers) == 2
	}, "the follower to join the running job")
	cancelLeader()
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: %v", err)
	}
	<-followerDone
	if err != nil || val != 7 || !led {
		t.Fatalf("follower: val=%d led=%v err=%v, want it to lead a new run", val, led, err)
	}
}

func nil2(int64, int64) {}
