package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spf13/cobra"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/internal/fs"
	"github.com/ossmount/ossmount/internal/mountinfo"
	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/rangefetch"
)

func init() { subcommands = append(subcommands, newDemoCommand) }

const demoBucket = "demo"

type demoOptions struct {
	cacheDir  string
	bigSize   string
	latency   time.Duration
	bandwidth string
	debug     bool
}

func newDemoCommand() *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo [DIR]",
		Short: "Mount a sample bucket from a built-in local OSS server, to try ossmount without an account",
		Long: `demo starts an OSS-compatible server inside this process, with a sample
bucket (a few text files and a 256 MiB binary object), and mounts it at DIR
(default: a new temporary directory). It needs no credentials: random ones
are made up for the in-process server and never leave the process.

By default the server answers like a remote service (first byte after
--latency, each response paced to --bandwidth), so the difference between a
first, fetched read and a second, cached one is visible.

Everything the demo creates lives in one new directory under $TMPDIR (the
sample data, the default mountpoint and cache, the file its materialize
hint writes), plus DIR and its parents if they did not exist. Ctrl-C or
SIGTERM, at any stage, unmounts and removes all of it, as does an unmount
from outside or a failed start; a --cache-dir you name is kept. Before
writing anything the demo checks that $TMPDIR has room for --big-size and
64 MiB more.`,
		Example: `  go run ./cmd/ossmount demo
  ossmount demo /tmp/oss-demo
  ossmount demo --latency 0 --bandwidth 0 /tmp/oss-demo   # unshaped, as fast as loopback goes`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("%s takes at most one argument: %s", cmd.CommandPath(), cmd.Use)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args) },
	}
	f := cmd.Flags()
	f.StringVar(&o.cacheDir, "cache-dir", "", "cache directory, kept at exit (default: a temporary one, removed at exit)")
	f.StringVar(&o.bigSize, "big-size", "256MiB", "size of the sample binary object big.bin, written to $TMPDIR (which needs that much free and 64 MiB more)")
	f.DurationVar(&o.latency, "latency", 15*time.Millisecond, "time to first byte of each GET of the built-in server")
	f.StringVar(&o.bandwidth, "bandwidth", "32MiB", "pace of each GET response of the built-in server (0 = unlimited)")
	f.BoolVar(&o.debug, "debug", false, "log at debug level")
	return cmd
}

// demoMargin is the room the demo wants on the sample data's filesystem
// beyond big.bin: the small objects, and air for whatever else writes there.
const demoMargin = 64 << 20

func (o *demoOptions) run(cmd *cobra.Command, args []string) (err error) {
	bigSize, err := parseSize(o.bigSize)
	if err != nil {
		return usagef("--big-size: %v", err)
	}
	bandwidth, err := parseSize(o.bandwidth)
	if err != nil {
		return usagef("--bandwidth: %v", err)
	}
	log := newLogger(o.debug, cmd.ErrOrStderr())
	out := cmd.OutOrStdout()
	// Nothing is created before the space is known to suffice.
	if err := checkDemoSpace(os.TempDir(), bigSize); err != nil {
		return err
	}

	// From here on a signal never kills the process: it cancels what is
	// being prepared, and the deferred removal below always runs.
	sig := watchDemoSignals()
	defer sig.stop()
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	prepCtx, cancelPrep := context.WithCancel(ctx)
	defer cancelPrep()
	sig.onPreparing(cancelPrep)

	ws, err := newDemoWorkspace()
	if err != nil {
		return err
	}
	defer func() {
		if rerr := ws.remove(); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()

	mountpoint := filepath.Join(ws.dir, "mnt")
	if len(args) == 1 {
		if mountpoint, err = filepath.Abs(args[0]); err != nil {
			return err
		}
		if err := ws.mkdirAll(mountpoint); err != nil {
			return err
		}
	} else if err := os.Mkdir(mountpoint, 0o755); err != nil {
		return err
	}
	if err := fs.CheckMountpoint(mountpoint); err != nil {
		return err
	}
	ws.mountpoint = mountpoint
	cacheDir := o.cacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(ws.dir, "cache")
	}
	if cacheDir, err = filepath.Abs(cacheDir); err != nil {
		return err
	}

	fmt.Fprintln(out, "ossmount demo: preparing the sample bucket...")
	dataRoot := filepath.Join(ws.dir, "buckets")
	if err := demoData(prepCtx, dataRoot, bigSize); err != nil {
		if prepCtx.Err() != nil {
			return errors.New("interrupted while preparing the sample bucket; removed what the demo created")
		}
		return fmt.Errorf("prepare sample data: %w", err)
	}
	if sig.onStarting() {
		return errors.New("interrupted while preparing the sample bucket; removed what the demo created")
	}
	creds := ossserver.Credentials{AccessKeyID: "LTAIdemo" + rand.Text(), AccessKeySecret: rand.Text()}
	srv, err := ossserver.Listen("127.0.0.1:0", ossserver.Config{
		Storage:     ossserver.NewDirStorage(dataRoot),
		Credentials: creds,
		Faults:      ossserver.Faults{FirstByteLatency: o.latency, BytesPerSecond: bandwidth},
	})
	if err != nil {
		return fmt.Errorf("start the built-in OSS server: %w", err)
	}
	defer srv.Close()

	client, err := rangefetch.New(rangefetch.Config{
		Endpoint: srv.Endpoint,
		Region:   "cn-hangzhou",
		Credentials: rangefetch.Credentials{
			AccessKeyID: creds.AccessKeyID, AccessKeySecret: creds.AccessKeySecret,
		},
		Logger: log,
	})
	if err != nil {
		return err
	}
	defer client.Close()

	p := mountPlan{
		url:        rangefetch.URL{Bucket: demoBucket},
		mountpoint: mountpoint,
		cacheOpts:  cache.Options{Dir: cacheDir, Logger: log},
		fsCfg: fs.Config{
			Store: client, Bucket: demoBucket, CacheDir: cacheDir,
			Logger: log,
		},
	}
	ready := &readiness{onReady: func() {
		// A signal that came while the mount was starting was not seen
		// by the mount's own handler: unmount now, which ends serving.
		if sig.onServing() {
			go fs.UnmountPath(mountpoint, false)
			return
		}
		printDemoHelp(out, mountpoint, cacheDir, srv.Endpoint, filepath.Join(ws.dir, "train.csv"))
	}}
	return runMount(ctx, p, client, log, nil, ready)
}

// checkDemoSpace refuses a --big-size that the filesystem of dir (where the
// sample data goes) has no room for, before anything is written.
func checkDemoSpace(dir string, bigSize int64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("temporary directory %s (set TMPDIR to change it): %w", dir, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if need := bigSize + demoMargin; need > free {
		return fmt.Errorf("--big-size %s: the sample data needs %s free in %s (big.bin and %s more) but only %s is free; choose a smaller --big-size or set TMPDIR to a larger filesystem",
			iecBytes(bigSize), iecBytes(need), dir, iecBytes(demoMargin), iecBytes(free))
	}
	return nil
}

// demoWorkspace is the one temporary directory that holds everything the
// demo creates (the sample bucket, the default cache and mountpoint, what
// its hints write), plus the directories it made for a DIR that did not
// exist. remove takes all of it away again, and nothing else.
type demoWorkspace struct {
	dir        string
	mountpoint string   // where the demo mounts, set once known
	madeDirs   []string // directories created for DIR, outermost first
}

func newDemoWorkspace() (*demoWorkspace, error) {
	dir, err := os.MkdirTemp("", "ossmount-demo-")
	if err != nil {
		return nil, fmt.Errorf("create the demo's temporary directory: %w", err)
	}
	return &demoWorkspace{dir: dir}, nil
}

// mkdirAll creates path and its missing parents, remembering which ones it
// created.
func (w *demoWorkspace) mkdirAll(path string) error {
	var missing []string
	for p := path; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil || p == filepath.Dir(p) {
			break
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		w.madeDirs = append(w.madeDirs, missing[i])
	}
	return nil
}

// remove deletes the workspace and the directories made for DIR. A mount
// still attached at the demo's mountpoint (its unmount failed) is detached
// first, so that removal never walks into a filesystem; if anything is
// still mounted inside, that part is left and named.
func (w *demoWorkspace) remove() error {
	if w.mountpoint != "" && ossmountAt(w.mountpoint) {
		_ = fs.UnmountPath(w.mountpoint, true)
	}
	if under := mountedUnder(w.dir); under != "" {
		return fmt.Errorf("left %s in place: %s is still mounted", w.dir, under)
	}
	err := os.RemoveAll(w.dir)
	for i := len(w.madeDirs) - 1; i >= 0; i-- {
		// Only empty directories: what a user put there stays.
		if rerr := os.Remove(w.madeDirs[i]); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
			break
		}
	}
	if err != nil {
		return fmt.Errorf("remove the demo's files: %w", err)
	}
	return nil
}

// ossmountAt reports whether an ossmount mount is on top at path.
func ossmountAt(path string) bool {
	mounts, err := mountinfo.Read()
	if err != nil {
		return false
	}
	m, ok := mountinfo.At(mounts, path)
	return ok && m.FSType == ossmountMountType
}

// mountedUnder returns a mount point at or below dir, or "" if there is
// none (or the mount table cannot be read, when removal is refused by
// naming the table instead).
func mountedUnder(dir string) string {
	mounts, err := mountinfo.Read()
	if err != nil {
		return mountinfo.Path + " (unreadable: " + err.Error() + ")"
	}
	for _, m := range mounts {
		if m.Point == dir || strings.HasPrefix(m.Point, dir+"/") {
			return m.Point
		}
	}
	return ""
}

// demoSignals holds SIGINT and SIGTERM for the whole demo, so that no
// signal ends the process before it has removed what it created. What a
// signal does depends on the phase: while the sample data is prepared it
// cancels the preparation; while the mount starts it is remembered, and
// the mount is unmounted as soon as it is ready; once the mount serves,
// serveUntilSignal, which is notified as well, handles it.
type demoSignals struct {
	ch       chan os.Signal
	done     chan struct{}
	mu       sync.Mutex
	phase    int // demoPreparing, demoStarting, demoServing
	cancel   func()
	received bool // a signal came before the mount served
}

const (
	demoPreparing = iota
	demoStarting
	demoServing
)

func watchDemoSignals() *demoSignals {
	s := &demoSignals{ch: make(chan os.Signal, 2), done: make(chan struct{})}
	signal.Notify(s.ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for {
			select {
			case <-s.ch:
				s.mu.Lock()
				switch s.phase {
				case demoPreparing:
					s.received = true
					if s.cancel != nil {
						s.cancel()
					}
				case demoStarting:
					s.received = true
				}
				s.mu.Unlock()
			case <-s.done:
				return
			}
		}
	}()
	return s
}

func (s *demoSignals) onPreparing(cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancel = cancel
}

// onStarting enters the second phase and reports whether a signal asked
// the demo to end while it was preparing.
func (s *demoSignals) onStarting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase = demoStarting
	return s.received
}

// onServing enters the last phase and reports whether a signal asked the
// demo to end while the mount was starting.
func (s *demoSignals) onServing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase = demoServing
	return s.received
}

func (s *demoSignals) stop() {
	signal.Stop(s.ch)
	close(s.done)
}

func printDemoHelp(out interface{ Write([]byte) (int, error) }, mp, cacheDir, endpoint, dest string) {
	fmt.Fprintf(out, `
ossmount demo: bucket oss://%[4]s (served at %[3]s) is mounted at
  %[1]s

Try, in another terminal:
  ls -l %[1]s %[1]s/datasets/2024
  cat %[1]s/README.txt
  time cat %[1]s/big.bin > /dev/null    # first read: fetched in parallel, into the cache
  time cat %[1]s/big.bin > /dev/null    # second read: from the local cache
  go run ./cmd/ossmount materialize %[1]s/datasets/2024/train.csv %[5]s
                                        # or "ossmount materialize ..." after "go install ./cmd/ossmount"

The cache is in %[2]s.
Press Ctrl-C to unmount and exit; the demo then removes the sample data,
the mountpoint and the cache it made, and the file materialized above.
`, mp, cacheDir, endpoint, demoBucket, dest)
}

// demoData writes the sample bucket under root (the storage root it
// serves from); big.bin is generated block by block from a fixed seed,
// never held in memory whole. Cancelling ctx stops it between blocks.
func demoData(ctx context.Context, root string, bigSize int64) error {
	bucket := filepath.Join(root, demoBucket)
	files := map[string]string{
		"README.txt": `Hello from ossmount!

This file is an object in the bucket "demo" of a small OSS server running
inside "ossmount demo". Everything you read here is fetched by byte range into
a local cache, which survives unmounts and crashes; "ossmount materialize"
turns an object into a verified local file.
`,
		"datasets/2024/train.csv":                demoCSV(1, 2000),
		"datasets/2024/test.csv":                 demoCSV(2, 500),
		"datasets/2025/train.csv":                demoCSV(3, 2000),
		"notes/keys with spaces + symbols %.txt": "Object keys may hold spaces, '+' and '%'; they read as they are.\n",
		"notes/unicode-数据.txt":                   "Unicode keys work too.\n",
	}
	for key, body := range files {
		p := filepath.Join(bucket, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return writeRandomFile(ctx, filepath.Join(bucket, "big.bin"), bigSize)
}

func demoCSV(seed uint64, rows int) string {
	r := mrand.New(mrand.NewPCG(seed, 7))
	b := []byte("id,x,y,label\n")
	for i := 0; i < rows; i++ {
		b = fmt.Appendf(b, "%d,%.4f,%.4f,%d\n", i, r.Float64(), r.Float64(), r.IntN(2))
	}
	return string(b)
}

// writeRandomFile writes size deterministic pseudo-random bytes to path,
// 1 MiB at a time, until done or ctx is cancelled.
func writeRandomFile(ctx context.Context, path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	src := mrand.NewChaCha8([32]byte{'o', 's', 's', 'm', 'o', 'u', 'n', 't'})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		if err := ctx.Err(); err != nil {
			f.Close()
			return err
		}
		n := min(int64(len(buf)), left)
		src.Read(buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		left -= n
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}
