package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/internal/fs"
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
first, fetched read and a second, cached one is visible. Ctrl-C unmounts
and removes what the demo created.`,
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
	f.StringVar(&o.cacheDir, "cache-dir", "", "cache directory (default: a temporary one, removed at exit)")
	f.StringVar(&o.bigSize, "big-size", "256MiB", "size of the sample binary object big.bin")
	f.DurationVar(&o.latency, "latency", 15*time.Millisecond, "time to first byte of each GET of the built-in server")
	f.StringVar(&o.bandwidth, "bandwidth", "32MiB", "pace of each GET response of the built-in server (0 = unlimited)")
	f.BoolVar(&o.debug, "debug", false, "log at debug level")
	return cmd
}

func (o *demoOptions) run(cmd *cobra.Command, args []string) error {
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

	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	tempDir := func(pattern string) (string, error) {
		d, err := os.MkdirTemp("", pattern)
		if err == nil {
			cleanups = append(cleanups, func() { os.RemoveAll(d) })
		}
		return d, err
	}

	mountpoint := ""
	if len(args) == 1 {
		if mountpoint, err = filepath.Abs(args[0]); err != nil {
			return err
		}
		if err := os.MkdirAll(mountpoint, 0o755); err != nil {
			return err
		}
	} else if mountpoint, err = tempDir("ossmount-demo-mnt-"); err != nil {
		return err
	}
	if err := fs.CheckMountpoint(mountpoint); err != nil {
		return err
	}
	cacheDir := o.cacheDir
	if cacheDir == "" {
		if cacheDir, err = tempDir("ossmount-demo-cache-"); err != nil {
			return err
		}
	}
	if cacheDir, err = filepath.Abs(cacheDir); err != nil {
		return err
	}

	fmt.Fprintln(out, "ossmount demo: preparing the sample bucket...")
	dataRoot, err := demoData(bigSize)
	if err != nil {
		return fmt.Errorf("prepare sample data: %w", err)
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
	cleanups = append(cleanups, func() { srv.Close() })

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
	ready := &readiness{onReady: func() { printDemoHelp(out, mountpoint, cacheDir, srv.Endpoint) }}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return runMount(ctx, p, client, log, nil, ready)
}

func printDemoHelp(out interface{ Write([]byte) (int, error) }, mp, cacheDir, endpoint string) {
	fmt.Fprintf(out, `
ossmount demo: bucket oss://%[4]s (served at %[3]s) is mounted at
  %[1]s

Try, in another terminal:
  ls -l %[1]s %[1]s/datasets/2024
  cat %[1]s/README.txt
  time cat %[1]s/big.bin > /dev/null    # first read: fetched in parallel, into the cache
  time cat %[1]s/big.bin > /dev/null    # second read: from the local cache
  go run ./cmd/ossmount materialize %[1]s/datasets/2024/train.csv ./train.csv
                                        # or "ossmount materialize ..." after "go install ./cmd/ossmount"

The cache is in %[2]s.
Press Ctrl-C to unmount and exit.
`, mp, cacheDir, endpoint, demoBucket)
}

// demoData writes the sample bucket once into a directory under the
// system's temporary directory and returns the storage root. It is kept
// between runs (regenerated if incomplete), so a second demo starts at
// once; big.bin is generated block by block from a fixed seed, never held
// in memory whole.
func demoData(bigSize int64) (string, error) {
	base := filepath.Join(os.TempDir(), fmt.Sprintf("ossmount-demo-%d-%d", os.Getuid(), bigSize))
	root := filepath.Join(base, "buckets")
	bucket := filepath.Join(root, demoBucket)
	marker := filepath.Join(base, "complete")
	if _, err := os.Stat(marker); err == nil {
		return root, nil
	}
	if err := os.RemoveAll(root); err != nil {
		return "", err
	}
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
			return "", err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	if err := writeRandomFile(filepath.Join(bucket, "big.bin"), bigSize); err != nil {
		return "", err
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return "", err
	}
	return root, nil
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
// 1 MiB at a time.
func writeRandomFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	src := mrand.NewChaCha8([32]byte{'o', 's', 's', 'm', 'o', 'u', 'n', 't'})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
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
