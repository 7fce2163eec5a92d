package materialize

import (
	"bufio"
	"context"
	"errors"
	"os"
	"time"

	"github.com/ossmount/ossmount/cache"
)

// Status is what the process owning a cache directory says about itself
// when asked over the cache's socket ("ossmount status"). The byte counts
// are the cache's since that process opened it.
type Status struct {
	PID          int          `json:"pid"`
	CacheDir     string       `json:"cache_dir"`
	Started      time.Time    `json:"started"`       // when the owner began serving the cache
	HitBytes     int64        `json:"hit_bytes"`     // bytes read that the cache held
	MissBytes    int64        `json:"miss_bytes"`    // bytes read that had to be fetched
	FetchedBytes int64        `json:"fetched_bytes"` // bytes fetched from OSS, prefetch included
	Requests     int          `json:"requests"`      // materialize requests of other processes in flight
	Mount        *MountStatus `json:"mount,omitempty"`
}

// MountStatus describes the mount an owner serves, as its StatusProvider
// reports it.
type MountStatus struct {
	Source     string    `json:"source"` // oss://BUCKET/PREFIX
	Mountpoint string    `json:"mountpoint"`
	Mounted    time.Time `json:"mounted"`
	ReadBytes  int64     `json:"read_bytes"` // returned by the mount's reads
}

// StatusProvider tells the server about the mount its process serves; it
// must be quick and safe to call from any goroutine.
type StatusProvider func() MountStatus

// SetStatusProvider makes status answers include what p reports. Until it
// is called they describe the cache alone.
func (s *Server) SetStatusProvider(p StatusProvider) { s.statusProvider.Store(&p) }

// status is the server's answer to a status request.
func (s *Server) status() Status {
	cs := s.c.Stats()
	st := Status{
		PID:          os.Getpid(),
		CacheDir:     s.c.Dir(),
		Started:      s.started,
		HitBytes:     cs.HitBytes,
		MissBytes:    cs.MissBytes,
		FetchedBytes: cs.FetchedBytes,
		Requests:     int(s.inFlight.Load()),
	}
	if p := s.statusProvider.Load(); p != nil {
		m := (*p)()
		st.Mount = &m
	}
	return st
}

// QueryStatus asks the process that owns cacheDir for its Status. When
// nobody listens the error is ErrNoOwner; an owner that does not answer
// before ctx ends fails with ctx's error.
func QueryStatus(ctx context.Context, cacheDir string) (Status, error) {
	ev, err := query(ctx, cacheDir, opStatus)
	if err != nil {
		return Status{}, err
	}
	if ev.Status == nil {
		return Status{}, errors.New("the cache owner answered a status request without a status")
	}
	return *ev.Status, nil
}

// QueryVersions asks the process that owns cacheDir for the versions its
// cache records (cache.Cache.Versions), with the errors of QueryStatus.
func QueryVersions(ctx context.Context, cacheDir string) ([]cache.VersionInfo, error) {
	ev, err := query(ctx, cacheDir, opVersions)
	if err != nil {
		return nil, err
	}
	if ev.Versions == nil {
		return nil, errors.New("the cache owner answered a versions request without versions")
	}
	return *ev.Versions, nil
}

// query sends one request without arguments to the owner of cacheDir and
// returns its one answer, or the error it sent.
func query(ctx context.Context, cacheDir, op string) (wireEvent, error) {
	conn, done, err := sendRequest(ctx, cacheDir, wireRequest{V: protocolVersion, Op: op})
	if err != nil {
		return wireEvent{}, err
	}
	defer done()
	limit := maxLine
	if op == opVersions {
		limit = maxVersionsLine
	}
	ev, err := readEvent(ctx, bufio.NewReaderSize(conn, 64<<10), limit)
	if err != nil {
		return wireEvent{}, err
	}
	if ev.Error != nil {
		return wireEvent{}, errorFromWire(ev.Error.Kind, ev.Error.Message)
	}
	return ev, nil
}
