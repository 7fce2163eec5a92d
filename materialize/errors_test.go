package materialize

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/rangefetch"
)

// A delegated run must fail with the same kind as a local one, so that the
// command exits with the same code either way.
func TestErrorKindsSurviveTheWire(t *testing.T) {
	for _, k := range wireKinds {
		local := fmt.Errorf("context: %w", k.kind)
		remote := errorFromWire(kindName(local), local.Error())
		if !errors.Is(remote, k.kind) {
			t.Errorf("%s: remote error %v does not match its kind", k.name, remote)
		}
		if remote.Error() != local.Error() {
			t.Errorf("%s: message changed: %q -> %q", k.name, local, remote)
		}
	}
	osserr := &rangefetch.Error{Op: "HEAD", Bucket: "b", Key: "k", StatusCode: 404, Kind: rangefetch.ErrNotFound}
	if got := errorFromWire(kindName(osserr), osserr.Error()); !errors.Is(got, rangefetch.ErrNotFound) {
		t.Errorf("a rangefetch.Error lost its kind: %v", got)
	}
	if got := errorFromWire(kindName(errors.New("boom")), "boom"); got.Error() != "boom" {
		t.Errorf("plain error: %v", got)
	}
}

// A failure to store is described once, with one fix, however many steps
// of the run pass it on (fetch, then verify, then the command).
func TestCacheErrorsSayItOnce(t *testing.T) {
	for _, c := range []struct {
		name  string
		cause error
		fix   string
	}{
		{"disk full", fmt.Errorf("%w: write /c/data/ab/x: %w", cache.ErrNotStored, syscall.ENOSPC), "free disk space"},
		{"cap full", fmt.Errorf("%w: cache is full of blocks in use", cache.ErrNotStored), "raise --cache-size"},
	} {
		err := cacheError("verify oss://b/k", cacheError("fetch oss://b/k", c.cause))
		msg := err.Error()
		if !errors.Is(err, ErrLocalIO) || !errors.Is(err, cache.ErrNotStored) {
			t.Errorf("%s: %v lost its kinds", c.name, err)
		}
		for _, part := range []string{c.fix, c.cause.Error(), ErrLocalIO.Error()} {
			if n := strings.Count(msg, part); n != 1 {
				t.Errorf("%s: %q says %q %d times", c.name, msg, part, n)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: %q is more than one line", c.name, msg)
		}
	}
}
