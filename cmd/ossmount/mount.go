package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/internal/fs"
	"github.com/ossmount/ossmount/materialize"
	"github.com/ossmount/ossmount/rangefetch"
)

func init() { subcommands = append(subcommands, newMountCommand) }

// mountOptions are the flags of "ossmount mount".
type mountOptions struct {
	client clientFlags
	cache  cacheFlags

	metadataTTL        time.Duration
	allowOther         bool
	uid, gid           int
	fileMode, dirMode  string
	maxParallelPerFile int
	readAhead          string
	fetchMemory        string
	foreground         bool
	nonEmpty           bool
	debug              bool
	metricsAddr        string
	profile            bool
	logFile            string
	logSize            string
}

func newMountCommand() *cobra.Command {
	o := &mountOptions{}
	cmd := &cobra.Command{
		Use:   "mount oss://BUCKET[/PREFIX] MOUNTPOINT",
		Short: "Mount a bucket (or a prefix of it) read-only",
		Long: `mount shows an OSS bucket, or the keys under a prefix, as a read-only folder.

Directories come from listings, trusted for --metadata-ttl; reads fetch only
the blocks they need into the persistent cache (--cache-dir), so what was
read once is local from then on, also after an unmount, a crash or a
reboot. Sequential readers are prefetched in parallel. Fully cached objects
are served by the kernel straight from the cache file where FUSE passthrough
is available (Linux 6.9 or later, as root).

Without --foreground, mount checks its flags and arguments, then returns
once the mount is ready or with the reason it cannot mount; the mount keeps
running in the background and logs to ossmount.log in the cache directory
(or --log-file), rotated at --log-size with 3 old logs kept. Stop it with
"ossmount unmount MOUNTPOINT". With --foreground it stays attached, logs to
standard error unless --log-file names a file, and Ctrl-C (SIGINT) or
SIGTERM unmounts it. A prefix that holds no objects is mounted, as an empty
folder, with a warning.

Every file has the extended attributes user.ossmount.source (oss://BUCKET/KEY),
user.ossmount.etag and user.ossmount.cache_dir, which "ossmount materialize"
uses.`,
		Example: `  export OSS_ACCESS_KEY_ID=... OSS_ACCESS_KEY_SECRET=...
  mkdir -p /mnt/data
  ossmount mount --endpoint oss-cn-hangzhou.aliyuncs.com oss://my-bucket/datasets /mnt/data
  ls -l /mnt/data
  ossmount unmount /mnt/data

  # stay attached, with a short metadata TTL and Prometheus metrics
  ossmount mount --foreground --metadata-ttl 10s --metrics-addr 127.0.0.1:9100 \
      --endpoint 127.0.0.1:9000 oss://test-bucket /mnt/test`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args) },
	}
	documentExitCodes(cmd, exitCodes("mounted: without --foreground the mount is ready and runs in the background; with it, it was unmounted by a signal or from outside",
		exitMeaning{exitFailure, "cannot mount (the message says why), or the mount failed"}))
	f := cmd.Flags()
	o.client.register(f)
	o.cache.register(f)
	o.register(f)
	return cmd
}

func (o *mountOptions) register(f *pflag.FlagSet) {
	f.DurationVar(&o.metadataTTL, "metadata-ttl", 60*time.Second, "how long listings, attributes and missing names are trusted before OSS is asked again")
	f.BoolVar(&o.allowOther, "allow-other", false, "let other users access the mount (needs user_allow_other in /etc/fuse.conf unless root)")
	f.IntVar(&o.uid, "uid", -1, "owner shown for files and directories; -1 means the mounting user")
	f.IntVar(&o.gid, "gid", -1, "group shown for files and directories; -1 means the mounting user's group")
	f.StringVar(&o.fileMode, "file-mode", "0444", "permission bits of files (octal)")
	f.StringVar(&o.dirMode, "dir-mode", "0555", "permission bits of directories (octal)")
	f.IntVar(&o.maxParallelPerFile, "max-parallel-per-file", 0, "parallel prefetch requests of one open file (default: --max-parallel)")
	f.StringVar(&o.readAhead, "read-ahead", "128MiB", "largest prefetch window of a sequential reader")
	f.StringVar(&o.fetchMemory, "fetch-memory", "160MiB", "prefetched bytes requested and not yet arrived, all files together")
	f.BoolVar(&o.nonEmpty, "nonempty", false, "mount even on a directory that is not empty, hiding its files until unmounted")
	f.BoolVar(&o.foreground, "foreground", false, "stay attached to the terminal instead of running in the background")
	f.BoolVar(&o.debug, "debug", false, "log at debug level, including every FUSE request")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9100")
	f.StringVar(&o.logFile, "log-file", "", "write the mount's log to this file, or - for standard error (default: ossmount.log in the cache directory, or standard error with --foreground)")
	f.StringVar(&o.logSize, "log-size", "10MiB", "rotate the log file when it would grow past this size, keeping 3 old ones")
	f.BoolVar(&o.profile, "profile", false, "also serve Go profiles at http://ADDR/debug/pprof/ on --metrics-addr")
	_ = f.MarkHidden("profile")
}

// mountPlan is what the flags and arguments resolve to, checked before
// anything runs in the background so that mistakes are reported at once.
type mountPlan struct {
	url        rangefetch.URL
	mountpoint string
	cacheOpts  cache.Options
	fsCfg      fs.Config
	profile    bool   // serve Go profiles next to the metrics
	logFile    string // absolute path of the log, or "-" for standard error
	logSize    int64  // rotate the log file before it grows past this
}

func (o *mountOptions) plan(args []string) (mountPlan, error) {
	var p mountPlan
	u, err := rangefetch.ParseURL(args[0])
	if err != nil {
		return p, usagef("%v", err)
	}
	p.url = u
	mp, err := filepath.Abs(args[1])
	if err != nil {
		return p, err
	}
	p.mountpoint = mp
	p.profile = o.profile
	// Everything the background process would check is checked here,
	// so that a usage error exits 2 with or without --foreground; the
	// flags first, the credentials (which are no usage error) last.
	if o.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(o.metricsAddr); err != nil {
			return p, usagef("--metrics-addr must be HOST:PORT such as 127.0.0.1:9100, not %q", o.metricsAddr)
		}
	}
	if p.logSize, err = parseSize(o.logSize); err != nil {
		return p, usagef("--log-size: %v", err)
	}
	if p.logSize < minLogSize {
		return p, usagef("--log-size must be at least %d bytes, not %q", minLogSize, o.logSize)
	}
	if o.metadataTTL <= 0 {
		return p, usagef("--metadata-ttl must be positive, not %v", o.metadataTTL)
	}
	fileMode, err := parseMode("--file-mode", o.fileMode)
	if err != nil {
		return p, err
	}
	dirMode, err := parseMode("--dir-mode", o.dirMode)
	if err != nil {
		return p, err
	}
	readAhead, err := parseSize(o.readAhead)
	if err != nil {
		return p, usagef("--read-ahead: %v", err)
	}
	fetchMemory, err := parseSize(o.fetchMemory)
	if err != nil {
		return p, usagef("--fetch-memory: %v", err)
	}
	if o.maxParallelPerFile < 0 || o.maxParallelPerFile > 256 {
		return p, usagef("--max-parallel-per-file must be between 1 and 256, not %d", o.maxParallelPerFile)
	}
	uid, gid := o.uid, o.gid
	if uid < 0 {
		uid = os.Getuid()
	}
	if gid < 0 {
		gid = os.Getgid()
	}
	p.cacheOpts, err = o.cache.options(nil)
	if err != nil {
		return p, err
	}
	if p.cacheOpts.Dir, err = filepath.Abs(p.cacheOpts.Dir); err != nil {
		return p, err
	}
	switch {
	case o.logFile == "-" && !o.foreground:
		return p, usagef("--log-file - (standard error) needs --foreground: a mount in the background keeps no terminal; give a file")
	case o.logFile == "-", o.logFile == "" && o.foreground:
		p.logFile = "-"
	case o.logFile == "":
		p.logFile = filepath.Join(p.cacheOpts.Dir, logFileName)
	default:
		if p.logFile, err = filepath.Abs(o.logFile); err != nil {
			return p, err
		}
	}
	// A client sends no request when it is made: this checks the
	// signing flags, the endpoint, the region and the credentials.
	client, err := o.client.client(context.Background(), nil, nil)
	if err != nil {
		return p, err
	}
	client.Close()
	p.fsCfg = fs.Config{
		Bucket:             u.Bucket,
		Prefix:             u.Key,
		CacheDir:           p.cacheOpts.Dir,
		MetadataTTL:        o.metadataTTL,
		UID:                uint32(uid),
		GID:                uint32(gid),
		FileMode:           fileMode,
		DirMode:            dirMode,
		MaxParallel:        o.client.maxParallel,
		MaxParallelPerFile: o.maxParallelPerFile,
		ReadAhead:          readAhead,
		FetchMemory:        fetchMemory,
		AllowOther:         o.allowOther,
		Debug:              o.debug,
	}
	return p, nil
}

// checkEmptyMountpoint refuses a mountpoint that holds files, as
// fusermount does: the mount would hide them, and a user who mounts on the
// wrong directory would find its files gone.
func checkEmptyMountpoint(mp string) error {
	d, err := os.Open(mp)
	if err != nil {
		return fmt.Errorf("mountpoint %s: %w", mp, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(1)
	if len(names) > 0 {
		return fmt.Errorf("mountpoint %s is not empty: mounting would hide its files until unmounted; use an empty directory, or --nonempty to mount over them", mp)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("mountpoint %s: %w", mp, err)
	}
	return nil
}

func parseMode(flag, s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, usagef("%s must be octal permission bits such as 0444, not %q", flag, s)
	}
	return uint32(v), nil
}

func (o *mountOptions) run(cmd *cobra.Command, args []string) error {
	p, err := o.plan(args)
	if err != nil {
		return err
	}
	if err := fs.CheckMountpoint(p.mountpoint); err != nil {
		return err
	}
	if !o.nonEmpty {
		if err := checkEmptyMountpoint(p.mountpoint); err != nil {
			return err
		}
	}
	if !o.foreground {
		return startDaemon(cmd, p.cacheOpts.Dir, p.logFile, p.url, p.mountpoint)
	}
	ready := readinessFromEnv()
	logOut, closeLog, err := openMountLog(p, ready, cmd.ErrOrStderr())
	if err != nil {
		ready.fail(err)
		return err
	}
	defer closeLog()
	if p.logFile != "-" {
		// The log does not reach the terminal: warnings must.
		ready.warnings = cmd.ErrOrStderr()
	}
	log := newLogger(o.debug, logOut)
	err = o.serve(cmd.Context(), p, log, ready)
	if err != nil {
		if p.logFile != "-" && !ready.daemon() {
			// The message goes to the terminal; the log should tell too.
			// (A daemon's standard error is the log already.)
			log.Error("mount failed", "err", err)
		}
		ready.fail(err)
	}
	return err
}

// serve mounts and serves until the mount goes away or a signal asks to
// unmount. ready is told once the mount is usable, or why it is not.
func (o *mountOptions) serve(ctx context.Context, p mountPlan, log *slog.Logger, ready *readiness) error {
	if ctx == nil {
		ctx = context.Background()
	}
	metrics := newMetricsEndpoint(o.metricsAddr)
	client, err := o.client.client(ctx, log, metrics.registerer())
	if err != nil {
		return err
	}
	defer client.Close()
	checkCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = client.CheckBucket(checkCtx, p.url.Bucket)
	cancel()
	if err != nil {
		return fmt.Errorf("cannot mount %s: %w", p.url, err)
	}
	warnIfEmpty(ctx, client, p.url, log, ready)
	p.cacheOpts.Logger = log
	p.fsCfg.Store = client
	p.fsCfg.Logger = log
	return runMount(ctx, p, client, log, metrics, ready)
}

// warnIfEmpty warns, in the log and to the user, when the bucket or prefix
// to be mounted holds no objects: most often a mistyped prefix, which
// would otherwise mount as an empty folder without a word. It is only a
// warning: objects may appear later.
func warnIfEmpty(ctx context.Context, client *rangefetch.Client, u rangefetch.URL, log *slog.Logger, ready *readiness) {
	prefix := u.Key
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	listCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	page, err := client.ListPage(listCtx, u.Bucket, prefix, "", 1)
	cancel()
	if err != nil || len(page.Objects)+len(page.Prefixes) > 0 {
		return // a failing listing shows in the mount itself
	}
	what := fmt.Sprintf("the bucket %s holds no objects", u.Bucket)
	if prefix != "" {
		what = fmt.Sprintf("no objects under %s (is the prefix right?)", rangefetch.URL{Bucket: u.Bucket, Key: prefix})
	}
	msg := what + ": the mount is an empty folder until some are added"
	log.Warn(msg)
	ready.warn(msg)
}

// runMount opens the cache, starts the owner socket and the metrics
// endpoint (if metrics is not nil: then the client registered on it
// already), mounts, reports readiness and serves until unmounted. mount and
// demo share it.
func runMount(ctx context.Context, p mountPlan, client *rangefetch.Client, log *slog.Logger, metrics *metricsEndpoint, ready *readiness) error {
	limitHeap(p.fsCfg.FetchMemory)
	sigs := catchStopSignals()
	defer signal.Stop(sigs)
	p.cacheOpts.Metrics = metrics.registerer()
	p.fsCfg.Metrics = metrics.registerer()
	c, err := cache.Open(p.cacheOpts, client)
	if err != nil {
		var locked *cache.LockedError
		if errors.As(err, &locked) {
			return fmt.Errorf("cache directory %s is in use by process %d (another mount or materialize); use another --cache-dir", locked.Dir, locked.PID)
		}
		return fmt.Errorf("open cache: %w", err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			log.Warn("closing the cache", "err", err)
		}
	}()
	materializeServer, err := materialize.StartServer(ctx, c, client, log)
	if err != nil {
		return fmt.Errorf("start the cache's control socket: %w", err)
	}
	defer materializeServer.Close()

	if metrics != nil {
		ln, err := net.Listen("tcp", metrics.addr)
		if err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		metricsSrv := serveMetrics(ln, metrics.registry, log, p.profile)
		defer metricsSrv.Close()
	}

	p.fsCfg.Cache = c
	srv, err := fs.Mount(p.mountpoint, p.fsCfg)
	if err != nil {
		return err
	}
	materializeServer.SetStatusProvider(mountStatus(p.url.String(), srv))
	ready.ok()
	serveUntilSignal(srv, sigs, log)
	return nil
}

// limitHeap sets a soft limit on the mount's Go heap, unless GOMEMLIMIT
// chose one already. Fetch buffers of a few MiB come and go at the
// network's pace; left to GOGC alone, the heap grows to twice what is live
// between collections, which during a large sequential read is most of the
// process's memory. With the limit the collector runs a little earlier
// instead. The limit leaves room for fetchMemory, the prefetched bytes the
// mount may hold in buffers when the cache cannot store them (0: the
// mount's default), so that it does not collect without pause then.
func limitHeap(fetchMemory int64) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if fetchMemory <= 0 {
		fetchMemory = fs.DefaultFetchMemory
	}
	const rest = 64 << 20 // index, listings, FUSE and HTTP buffers
	debug.SetMemoryLimit(rest + fetchMemory)
}

// metricsEndpoint is what --metrics-addr asks for: a registry of the
// mount's own, on which the client, the cache and the mount register their
// counters, served at addr. Each of them labels its series (endpoint,
// cache_dir, mountpoint), so the scrape tells which mount it came from.
type metricsEndpoint struct {
	addr     string
	registry *prometheus.Registry
}

// newMetricsEndpoint returns the endpoint to serve at addr, or nil for ""
// (no endpoint: nothing registers).
func newMetricsEndpoint(addr string) *metricsEndpoint {
	if addr == "" {
		return nil
	}
	reg := prometheus.NewRegistry()
	// What the default registry holds, so that the Go runtime's and the
	// process's figures are served as well.
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	return &metricsEndpoint{addr: addr, registry: reg}
}

// registerer is where the components register: nil (not registered) when
// there is no endpoint.
func (m *metricsEndpoint) registerer() prometheus.Registerer {
	if m == nil {
		return nil
	}
	return m.registry
}

// serveMetrics serves reg on ln until the server is closed. With profiling
// (the hidden --profile flag) it also serves the Go profiles under
// /debug/pprof/.
func serveMetrics(ln net.Listener, reg *prometheus.Registry, log *slog.Logger, profiling bool) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	if profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics endpoint stopped", "err", err)
		}
	}()
	log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return srv
}
