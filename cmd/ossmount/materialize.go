package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/ossmount/ossmount/internal/fs"
	"github.com/ossmount/ossmount/materialize"
	"github.com/ossmount/ossmount/rangefetch"
)

func init() { subcommands = append(subcommands, newMaterializeCommand) }

// Exit codes of materialize, beyond exitFailure and exitUsage. Scripts
// rely on them; they are listed in the command's help.
const (
	exitUnavailable = 3 // object or bucket missing, access denied, archived
	exitIntegrity   = 4 // CRC64 mismatch after a refetch
	exitChanged     = 5 // object replaced during the run, twice
	exitLocalIO     = 6 // local file error, or DEST exists with --no-clobber
)

// materializeExitCodes is the table of exit codes in materialize's help.
var materializeExitCodes = exitCodes("DEST is complete and verified",
	exitMeaning{exitFailure, "other errors (network, credentials, interrupted)"},
	exitMeaning{exitUnavailable, "the object or bucket does not exist, access is denied, or it is archived"},
	exitMeaning{exitIntegrity, "integrity failure: the object does not match its CRC64"},
	exitMeaning{exitChanged, "the object changed during the run (twice)"},
	exitMeaning{exitLocalIO, "local I/O error (DEST is not a regular file, or its directory is not writable or lacks room), or DEST exists and --no-clobber was given"},
)

// Extended attributes an ossmount mount puts on its files, so that a path
// inside a mount names its object and its cache.
const (
	xattrSource   = "user.ossmount.source"
	xattrCacheDir = "user.ossmount.cache_dir"
)

type materializeFlags struct {
	client    clientFlags
	cache     cacheFlags
	threads   int
	partSize  string
	multiget  string
	progress  string
	noClobber bool
	verify    string
	keepCache bool
}

func newMaterializeCommand() *cobra.Command {
	var f materializeFlags
	cmd := &cobra.Command{
		Use:   "materialize [flags] SOURCE DEST",
		Short: "Turn an OSS object into a verified local file, reusing the cache",
		Long: `materialize makes SOURCE a complete local file at DEST.

SOURCE is oss://BUCKET/KEY, or a file inside a running ossmount mount (the
bucket, key and cache directory then come from the mount).

The object's size, ETag and CRC64 are read once. Every block the cache does
not hold yet is fetched in parallel into the cache, each GET pinned to that
ETag: blocks read earlier through a mount, or by an interrupted materialize,
are not fetched again. The whole object is then checked against OSS's CRC64
(x-oss-hash-crc64ecma) on every run, fresh or resumed; on a mismatch the
blocks are dropped and fetched once more, and if that fails too DEST is left
untouched. DEST appears atomically: a reader sees the old file or the
complete new one. It is a reflink of the cache file where the filesystem
allows; otherwise the cache file is moved into place on the same filesystem
(unless --keep-cache) or copied. No temporary file is left behind, and those
of a run that was killed are removed by the next run.

An object larger than the cache can hold (--cache-size, or the free space of
the cache's disk) does not pass through the cache: it is fetched into a
hidden file beside DEST, .NAME.ossmount-partial, whose blocks the cache's
index records, so that a rerun resumes it; it is then verified and renamed
to DEST. DEST's directory is checked for write access and room before the
first GET; a DEST that is a directory, device, FIFO or socket is refused.

Interrupted runs resume: run the same command again. If the object was
replaced in between, the old blocks are discarded and the new version is
fetched. If it is replaced during a run, the run starts over once with the
new version; a second change exits with code 5.

When another ossmount process (a mount, or another materialize) owns the
cache directory, the work is handed to it and its progress is shown here, so
two runs of the same object fetch each block once.
`,
		Example: `  # Fetch an object with 64 parallel GETs of 16 MiB each
  ossmount materialize --threads 64 --part-size 16MiB oss://my-bucket/data/big.bin ./big.bin

  # Make a file of a running mount local; the mount's cache is reused
  ossmount materialize /mnt/oss/data/big.bin ./big.bin

  # Script-friendly: JSON progress on stdout, never replace an existing file
  ossmount materialize --progress=json --no-clobber oss://my-bucket/model.bin /data/model.bin`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMaterialize(cmd, &f, args[0], args[1])
		},
	}
	documentExitCodes(cmd, materializeExitCodes)
	fl := cmd.Flags()
	f.client.register(fl)
	f.cache.register(fl)
	// materialize sizes its pool from --threads and --part-size unless the
	// user sets --max-parallel; the shared help would claim 32.
	if mp := fl.Lookup("max-parallel"); mp != nil {
		mp.Usage = "parallel connections to OSS (default: one per thread, each of which has one GET in flight)"
		mp.DefValue = "0"
	}
	fl.IntVar(&f.threads, "threads", materialize.DefaultThreads, "parts fetched in parallel")
	fl.StringVar(&f.partSize, "part-size", "8MiB", "bytes of consecutive missing blocks one thread fetches with one GET, 100KB to 5GB (rounded up to whole cache blocks)")
	fl.StringVar(&f.multiget, "multiget-threshold", "10MB", "objects smaller than this are fetched with one GET")
	fl.StringVar(&f.progress, "progress", "", "progress display: bar, plain, json (one line per update on stdout) or none (default: bar on a terminal, plain otherwise)")
	fl.BoolVar(&f.noClobber, "no-clobber", false, "refuse to replace an existing DEST")
	fl.StringVar(&f.verify, "verify", string(materialize.VerifyCRC64), "whole-object check: crc64 or none")
	fl.BoolVar(&f.keepCache, "keep-cache", false, "copy (or reflink) instead of moving the cache file, so the cache keeps the object")
	return cmd
}

func runMaterialize(cmd *cobra.Command, f *materializeFlags, source, dest string) error {
	req, cacheDirFromMount, err := f.request(source, dest)
	if err != nil {
		return err
	}
	view, err := newProgressView(f.progress, req, cmd.OutOrStdout(), cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	// The owner role logs other processes' requests at info level; here
	// that would only clutter the progress display.
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	cacheOpts, err := f.cache.options(log)
	if err != nil {
		return err
	}
	if cacheDirFromMount != "" && !cmd.Flags().Changed("cache-dir") {
		cacheOpts.Dir = cacheDirFromMount
	}
	// Bad client flags are usage errors even when the work ends up with
	// another process; missing credentials matter only if it does not.
	cfg, cfgErr := f.client.config(log)
	var usage *usageError
	if errors.As(cfgErr, &usage) {
		return cfgErr
	}
	env := materialize.Env{
		Cache: cacheOpts,
		Log:   log,
		Client: func() (*rangefetch.Client, error) {
			if cfgErr != nil {
				return nil, cfgErr
			}
			// Unless told otherwise, give every GET of every part in
			// flight its own connection.
			if !cmd.Flags().Changed("max-parallel") {
				cfg.MaxConns = max(cfg.MaxConns, materialize.Connections(req.Threads))
			}
			return newClient(cfg)
		},
	}

	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := materialize.Run(ctx, env, req, view.update)
	view.finish(res, err)
	for _, n := range res.Notes {
		fmt.Fprintln(cmd.ErrOrStderr(), "ossmount: note:", n)
	}
	if err != nil {
		return materializeExit(ctx, err)
	}
	return nil
}

// request turns the flags and arguments into a materialize.Request. For a
// SOURCE inside a mount it also returns the mount's cache directory.
func (f *materializeFlags) request(source, dest string) (materialize.Request, string, error) {
	req := materialize.Request{
		Threads:   f.threads,
		NoClobber: f.noClobber,
		Verify:    materialize.Verify(f.verify),
		KeepCache: f.keepCache,
	}
	if f.threads < 1 || f.threads > materialize.MaxThreads {
		return req, "", usagef("--threads must be between 1 and %d, not %d", materialize.MaxThreads, f.threads)
	}
	n, err := parseSize(f.partSize)
	if err != nil {
		return req, "", usagef("--part-size: %v", err)
	}
	if n < materialize.MinPartSize || n > materialize.MaxPartSize {
		return req, "", usagef("--part-size must be between 100KB and 5GB, not %s", f.partSize)
	}
	req.PartSize = n
	if req.MultigetThreshold, err = parseSize(f.multiget); err != nil {
		return req, "", usagef("--multiget-threshold: %v", err)
	}
	if req.MultigetThreshold == 0 {
		// The user means "never one GET"; a zero Request field would
		// mean the default instead, and only an empty object is below 1.
		req.MultigetThreshold = 1
	}
	switch req.Verify {
	case materialize.VerifyCRC64, materialize.VerifyNone:
	default:
		return req, "", usagef("--verify must be crc64 or none, not %q", f.verify)
	}
	switch f.progress {
	case "", "bar", "plain", "json", "none":
	default:
		return req, "", usagef("--progress must be bar, plain, json or none, not %q", f.progress)
	}
	if dest == "" {
		return req, "", usagef("DEST must not be empty")
	}
	if req.Dest, err = filepath.Abs(dest); err != nil {
		return req, "", usagef("DEST %q: %v", dest, err)
	}
	// DEST, or its directory, inside a mount whose process died.
	for _, p := range []string{req.Dest, filepath.Dir(req.Dest)} {
		if _, err := os.Lstat(p); errors.Is(err, syscall.ENOTCONN) {
			return req, "", withExitCode(exitLocalIO, fs.ExplainDeadMount("DEST", req.Dest, err))
		}
	}
	var cacheDir string
	var u rangefetch.URL
	if strings.HasPrefix(strings.ToLower(source), "oss://") {
		if u, err = rangefetch.ParseURL(source); err != nil {
			return req, "", usagef("%v", err)
		}
	} else if u, cacheDir, err = mountSource(source); err != nil {
		return req, "", err
	}
	if u.Key == "" || strings.HasSuffix(u.Key, "/") {
		return req, "", usagef("SOURCE %s names a bucket or a prefix, not an object", u)
	}
	req.Bucket, req.Key = u.Bucket, u.Key
	return req, cacheDir, nil
}

// mountSource reads which object and cache a file inside a mount stands for.
func mountSource(path string) (rangefetch.URL, string, error) {
	st, err := os.Stat(path)
	if errors.Is(err, syscall.ENOTCONN) {
		return rangefetch.URL{}, "", withExitCode(exitLocalIO, fs.ExplainDeadMount("SOURCE", path, err))
	}
	if err != nil {
		return rangefetch.URL{}, "", usagef("SOURCE %s is not oss://BUCKET/KEY and cannot be read: %v", path, err)
	}
	if st.IsDir() {
		return rangefetch.URL{}, "", usagef("SOURCE %s is a directory; name a file", path)
	}
	src, err := getxattr(path, xattrSource)
	if err != nil {
		return rangefetch.URL{}, "", usagef("SOURCE %s is neither oss://BUCKET/KEY nor a file inside an ossmount mount (%v)", path, err)
	}
	u, err := rangefetch.ParseURL(src)
	if err != nil {
		return rangefetch.URL{}, "", usagef("SOURCE %s: the mount names an invalid object: %v", path, err)
	}
	dir, err := getxattr(path, xattrCacheDir)
	if err != nil {
		return rangefetch.URL{}, "", usagef("SOURCE %s: the mount does not name its cache directory (%v)", path, err)
	}
	return u, dir, nil
}

func getxattr(path, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Getxattr(path, name, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) {
			return "", fmt.Errorf("no %s attribute", name)
		}
		if err != nil {
			return "", fmt.Errorf("read %s: %w", name, err)
		}
		return string(buf[:n]), nil
	}
}

// materializeExit gives an error its exit code and a message that says
// what to do.
func materializeExit(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return withExitCode(exitFailure, errors.New("interrupted; the blocks fetched so far are kept (in the cache, or beside DEST for an object larger than the cache): run the same command to resume"))
	case errors.Is(err, materialize.ErrInvalidRequest):
		return withExitCode(exitUsage, err)
	case errors.Is(err, rangefetch.ErrNotFound), errors.Is(err, rangefetch.ErrNoSuchBucket),
		errors.Is(err, rangefetch.ErrAccessDenied), errors.Is(err, rangefetch.ErrArchived):
		return withExitCode(exitUnavailable, err)
	case errors.Is(err, materialize.ErrIntegrity):
		return withExitCode(exitIntegrity, err)
	case errors.Is(err, materialize.ErrChanged), errors.Is(err, rangefetch.ErrObjectChanged):
		return withExitCode(exitChanged, err)
	case errors.Is(err, materialize.ErrLocalIO), errors.Is(err, materialize.ErrExists):
		return withExitCode(exitLocalIO, err)
	}
	return withExitCode(exitFailure, err)
}

// progressView shows the progress of one run.
type progressView interface {
	update(done, total int64)
	finish(res materialize.Result, err error)
}

func newProgressView(mode string, req materialize.Request, stdout, stderr io.Writer) (progressView, error) {
	if mode == "" {
		mode = "plain"
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	name := "oss://" + req.Bucket + "/" + req.Key
	switch mode {
	case "bar":
		return newBarView(name, stderr), nil
	case "plain":
		return &plainView{w: stderr, name: name, last: -1}, nil
	case "json":
		return &jsonView{w: stdout}, nil
	case "none":
		return noView{}, nil
	}
	return nil, usagef("--progress must be bar, plain, json or none, not %q", mode)
}

// barView draws a progress bar; an unknown total shows as a spinner.
type barView struct {
	mu  sync.Mutex
	bar *progressbar.ProgressBar
	max int64
	w   io.Writer
}

func newBarView(name string, w io.Writer) *barView {
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(name),
		progressbar.OptionShowBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSpinnerType(14),
	)
	return &barView{bar: bar, max: -1, w: w}
}

func (v *barView) update(done, total int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if total != v.max {
		v.max = total
		v.bar.ChangeMax64(total)
	}
	_ = v.bar.Set64(done)
}

func (v *barView) finish(res materialize.Result, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err == nil {
		_ = v.bar.Finish()
	}
	_ = v.bar.Exit()
	fmt.Fprintln(v.w)
	if err == nil {
		fmt.Fprintln(v.w, summary(res))
	}
}

// plainView prints a line at most every second, and the last one.
type plainView struct {
	mu   sync.Mutex
	w    io.Writer
	name string
	at   time.Time
	last int64
}

func (v *plainView) update(done, total int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if done == v.last || (time.Since(v.at) < time.Second && done != total) {
		return
	}
	if total < 0 && done == 0 {
		// Nothing to say before the size is known.
		return
	}
	v.at, v.last = time.Now(), done
	if total < 0 {
		fmt.Fprintf(v.w, "%s: %s of unknown size\n", v.name, humanize.IBytes(uint64(done)))
		return
	}
	pct := 100.0
	if total > 0 {
		pct = float64(done) * 100 / float64(total)
	}
	fmt.Fprintf(v.w, "%s: %s of %s (%.0f%%)\n", v.name, humanize.IBytes(uint64(done)), humanize.IBytes(uint64(total)), pct)
}

func (v *plainView) finish(res materialize.Result, err error) {
	if err == nil {
		fmt.Fprintln(v.w, summary(res))
	}
}

// jsonView writes {"done":N,"total":M} per update for scripts; an unknown
// total is null. The last line also carries the result.
type jsonView struct {
	mu sync.Mutex
	w  io.Writer
}

type jsonProgress struct {
	Done   int64               `json:"done"`
	Total  *int64              `json:"total"`
	Result *materialize.Result `json:"result,omitempty"`
}

func (v *jsonView) update(done, total int64) {
	p := jsonProgress{Done: done}
	if total >= 0 {
		p.Total = &total
	}
	v.write(p)
}

func (v *jsonView) write(p jsonProgress) {
	v.mu.Lock()
	defer v.mu.Unlock()
	b, _ := json.Marshal(p)
	v.w.Write(append(b, '\n'))
}

func (v *jsonView) finish(res materialize.Result, err error) {
	if err == nil {
		size := res.Size
		v.write(jsonProgress{Done: size, Total: &size, Result: &res})
	}
}

type noView struct{}

func (noView) update(int64, int64)              {}
func (noView) finish(materialize.Result, error) {}

// summary is the line printed after a successful run.
func summary(res materialize.Result) string {
	var how string
	switch res.Install {
	case materialize.InstallReflink:
		how = "reflinked from the cache"
	case materialize.InstallMove:
		how = "moved out of the cache"
	default:
		how = "copied from the cache"
	}
	check := "CRC64 verified"
	if !res.Verified {
		check = "CRC64 not checked"
	}
	fetched := humanize.IBytes(uint64(res.FetchedBytes)) + " fetched"
	if res.Shared {
		fetched += " (shared with another run)"
	}
	return fmt.Sprintf("materialized oss://%s/%s to %s: %s, %s, %s already cached, %s, %s",
		res.Bucket, res.Key, res.Dest, humanize.IBytes(uint64(res.Size)), fetched,
		humanize.IBytes(uint64(res.ReusedBytes)), check, how)
}
