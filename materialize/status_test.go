package materialize

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ossmount/ossmount/cache"
)

// A real server answers a status request with its process, its cache and,
// once a provider is set, the mount the provider describes.
func TestServerAnswersStatus(t *testing.T) {
	dir := t.TempDir()
	c, err := cache.Open(cache.Options{Dir: dir, MinFreeRatio: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := time.Now()
	s, err := StartServer(context.Background(), c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	st, err := QueryStatus(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != os.Getpid() || st.CacheDir != c.Dir() || st.Mount != nil || st.Started.Before(before) || st.Started.After(time.Now()) {
		t.Fatalf("status %+v, want pid %d, cache %s, started after %v, no mount", st, os.Getpid(), c.Dir(), before)
	}

	mounted := time.Unix(1700000000, 0).UTC()
	s.SetStatusProvider(func() MountStatus {
		return MountStatus{Source: "oss://b/p", Mountpoint: "/mnt/x", Mounted: mounted, ReadBytes: 42}
	})
	st, err = QueryStatus(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := MountStatus{Source: "oss://b/p", Mountpoint: "/mnt/x", Mounted: mounted, ReadBytes: 42}
	if st.Mount == nil || *st.Mount != want {
		t.Fatalf("mount %+v, want %+v", st.Mount, want)
	}
}

func TestQueryStatusWithoutOwner(t *testing.T) {
	_, err := QueryStatus(context.Background(), t.TempDir())
	if !errors.Is(err, ErrNoOwner) {
		t.Fatalf("err = %v, want ErrNoOwner", err)
	}
}

// An owner that accepts but never answers does not make QueryStatus hang:
// it ends with the context.
func TestQueryStatusGivesUpOnASilentOwner(t *testing.T) {
	dir := t.TempDir()
	answered := make(chan struct{})
	fakeOwner(t, dir, func(req wireRequest, conn net.Conn) {
		if req.Op != opStatus || req.V != protocolVersion {
			t.Errorf("request %+v, want a status request", req)
		}
		<-answered
	})
	defer close(answered)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := QueryStatus(ctx, dir); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}
