package integration

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/fs"
	"github.com/ossmount/ossmount/internal/testutil"
)

// UnmountForce returns soon after its context ends although a file stays
// open: having aborted the FUSE connection through fusectl, or, where
// fusectl is not mounted, with ErrStillConnected. Closing the file then
// ends the detached mount.
func TestUnmountForceWithFileHeldOpen(t *testing.T) {
	e := newMountEnv(t)
	e.put("held.txt", []byte("held open"))
	m := e.mountDefault()
	f, err := os.Open(e.path("held.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	returned := make(chan error, 1)
	go func() { returned <- m.UnmountForce(ctx) }()
	select {
	case err := <-returned:
		if err != nil && !errors.Is(err, fs.ErrStillConnected) {
			t.Fatalf("UnmountForce: %v, want nil or ErrStillConnected", err)
		}
		t.Logf("UnmountForce: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("UnmountForce did not return with a file held open")
	}
	e.mount = nil
	if isMounted(t, e.mp) {
		t.Errorf("%s is still mounted", e.mp)
	}
	f.Close()
	testutil.Eventually(t, 15*time.Second, func() bool {
		select {
		case <-m.Done():
			return true
		default:
			return false
		}
	}, "the mount to end once the file is closed")
}
