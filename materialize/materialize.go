package materialize

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/dustin/go-humanize"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

// Result describes a finished run.
type Result struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	ETag   string `json:"etag"`
	Size   int64  `json:"size"`
	Dest   string `json:"dest"`
	// ReusedBytes were in the cache when the run started (read earlier
	// through a mount, or by an interrupted run).
	ReusedBytes int64 `json:"reused_bytes"`
	// FetchedBytes were fetched from OSS for this run, including the
	// blocks fetched again after a CRC64 mismatch.
	FetchedBytes int64 `json:"fetched_bytes"`
	// Verified: the object's CRC64 matched the combined block CRCs.
	Verified bool `json:"verified"`
	// Refetched: a CRC64 mismatch made the run fetch blocks again until
	// they agreed (cache.Handle.Repair).
	Refetched bool `json:"refetched,omitempty"`
	// Restarted: the object was replaced during the run, which then
	// started over with the new version.
	Restarted bool          `json:"restarted,omitempty"`
	Install   InstallMethod `json:"install"`
	// Shared: another run of the same object in the owning process did
	// the fetching, and this one waited for it.
	Shared bool `json:"shared,omitempty"`
	// Notes are things the user should know about the run, one sentence
	// each (the object changed, it has no CRC64, ...).
	Notes []string `json:"notes,omitempty"`
}

// Materialize makes the object req names a verified local file at
// req.Dest, fetching into c only the blocks c lacks. progress (may be nil)
// is called with the bytes present so far and the object size; total is -1
// until the size is known. Errors keep rangefetch's kinds for OSS failures
// (ErrNotFound, ErrAccessDenied, ...) and use this package's kinds for the
// rest (ErrIntegrity, ErrChanged, ErrLocalIO, ErrExists, ErrInvalidRequest).
//
// If the object is replaced while the run fetches it, the run starts over
// once with the new version (and says so in Result.Notes); a second change
// fails with ErrChanged. Cached blocks of an older version are never mixed
// in: the cache keys blocks by ETag and every GET carries If-Match.
func Materialize(ctx context.Context, c *cache.Cache, client *rangefetch.Client, req Request, progress func(done, total int64)) (Result, error) {
	req, err := req.withDefaults()
	if err != nil {
		return Result{}, err
	}
	if progress == nil {
		progress = func(int64, int64) {}
	}
	progress(0, -1)
	r := &run{c: c, client: client, req: req, progress: progress}
	return r.do(ctx)
}

// run is the state of one Materialize call.
type run struct {
	c        *cache.Cache
	client   *rangefetch.Client
	req      Request
	progress func(done, total int64)
	notes    []string
	attempt  int // 0, or 1 when the object was replaced during the run
}

func (r *run) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *run) do(ctx context.Context) (Result, error) {
	if err := r.prepareDest(); err != nil {
		return Result{}, err
	}
	for attempt := 0; ; attempt++ {
		r.attempt = attempt
		info, err := r.client.Stat(ctx, r.req.Bucket, r.req.Key)
		if err != nil {
			return Result{}, err
		}
		res, err := r.version(ctx, info)
		res.Restarted = attempt > 0
		res.Notes = slices.Concat(r.notes, res.Notes)
		if errors.Is(err, rangefetch.ErrObjectChanged) && ctx.Err() == nil {
			if attempt == 0 {
				r.note("%s was replaced during the run; starting over with the new version", r.req.source())
				continue
			}
			return res, fmt.Errorf("%w: %s was replaced twice while it was being fetched; try again when it is stable",
				ErrChanged, r.req.source())
		}
		return res, err
	}
}

// prepareDest checks that DEST's directory exists, removes temporary files
// that killed runs left beside DEST, and applies --no-clobber before any
// byte is fetched (install checks again, atomically).
func (r *run) prepareDest() error {
	dir := filepath.Dir(r.req.Dest)
	st, err := os.Stat(dir)
	if err != nil {
		return localIOf("destination directory: %w", err)
	}
	if !st.IsDir() {
		return localIOf("destination directory %s is not a directory", dir)
	}
	if err := refuseSpecial(r.req.Dest); err != nil {
		return err
	}
	unlock := destLocks.lock(r.req.Dest)
	if n := removeStaleTemps(r.req.Dest); n > 0 {
		r.note("removed %d temporary file(s) left beside %s by an interrupted run", n, r.req.Dest)
	}
	unlock()
	if r.req.NoClobber {
		return refuseExisting(r.req.Dest)
	}
	return nil
}

// version materializes one version of the object: make it complete and
// verified in the cache (sharing the work with concurrent runs of the same
// version), then install it.
func (r *run) version(ctx context.Context, info object.Info) (Result, error) {
	res := Result{Bucket: info.Bucket, Key: info.Key, ETag: info.ETag, Size: info.Size, Dest: r.req.Dest}
	key := versionKey{c: r.c, ref: info.Ref()}
	release := interest.add(key)
	defer release()

	if r.req.Verify == VerifyNone {
		// The cache checks the CRC64 it is given; without one it only
		// marks the version complete.
		info.CRC64, info.HasCRC64 = 0, false
	}
	if err := checkWritable(r.req.Dest); err != nil {
		return res, err
	}
	h, err := r.open(ctx, info)
	if err != nil {
		return res, err
	}
	defer h.Close()
	if old, ok := h.Replaced(); ok && r.attempt == 0 {
		// A restart during the run says so itself.
		r.note("%s changed since the last run: discarding %d cached bytes of the old version (ETag %s)",
			r.req.source(), old.CachedBytes, old.ETag)
	}

	if err := checkRoom(h, info, r.req); err != nil {
		return res, err
	}
	if h.Outside() {
		r.note("%s (%s) does not fit in the cache; it is fetched into %s, which a rerun resumes, and moved to %s",
			r.req.source(), humanize.IBytes(uint64(info.Size)), h.DataPath(), r.req.Dest)
	}

	total := info.Size
	r.progress(0, total)
	p, led, err := prepared.do(ctx, jobKey{versionKey: key, verify: r.req.Verify}, r.progress,
		func(ctx context.Context, report func(done, total int64)) (preparation, error) {
			return prepare(ctx, h, info, r.req, report)
		})
	res.ReusedBytes, res.FetchedBytes = p.reused, p.fetched
	res.Verified, res.Refetched, res.Shared = p.verified, p.refetched, !led
	res.Notes = p.notes
	if err != nil {
		return res, err
	}

	src := handleData{h: h, key: key, outside: h.Outside()}
	res.Install, err = install(ctx, src, info.Size, r.req)
	return res, err
}

// open opens the version in the cache, or, when it does not fit there,
// with its data file beside DEST (see partialPath), where it is fetched,
// resumed and verified just the same but takes none of the cache's space.
func (r *run) open(ctx context.Context, info object.Info) (*cache.Handle, error) {
	if r.c.Fits(ctx, info) {
		h, err := r.c.Open(ctx, info)
		if err != nil {
			return nil, cacheError("open the cache entry", err)
		}
		h.ChecksItself() // the run verifies and repairs, and counts what it costs
		return h, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path := partialPath(r.req.Dest)
	// No file is made beside DEST for a run that cannot finish.
	if err := checkRoomBeside(path, info, r.req); err != nil {
		return nil, err
	}
	h, err := r.c.OpenOutside(ctx, info, path)
	if err != nil {
		return nil, cacheError("open "+path, err)
	}
	h.ChecksItself()
	return h, nil
}

// cacheError classifies an error of the cache: cancellations and OSS
// failures keep their kinds, everything else is local I/O. An error that
// is local I/O already was described where it happened and passes through
// unchanged, so that a message never says the same thing twice.
func cacheError(what string, err error) error {
	var rf *rangefetch.Error
	switch {
	case isCancel(err) || errors.As(err, &rf) || errors.Is(err, ErrLocalIO):
		return err
	case errors.Is(err, syscall.ENOSPC):
		return localIOf("%s: %w; free disk space there", what, err)
	case errors.Is(err, cache.ErrNotStored):
		return localIOf("%s: %w; free disk space, raise --cache-size or stop the mount using the cache", what, err)
	}
	return localIOf("%s: %w", what, err)
}

// versionKey names one version of an object in one cache.
type versionKey struct {
	c   *cache.Cache
	ref object.Ref
}

// jobKey names the shared work of preparing a version: runs that verify
// differently do not share it.
type jobKey struct {
	versionKey
	verify Verify
}

// prepared is where concurrent runs of this process meet (see jobs).
var prepared jobs[jobKey, preparation]
