package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/rangefetch"
)

func init() { subcommands = append(subcommands, newServeCommand) }

// serveOptions are the flags of "ossmount serve".
type serveOptions struct {
	root, addr, region string
	anonymous, verbose bool
	maxSkew            time.Duration
	latency            time.Duration
	bandwidth          string
	slowdown, cutBody  float64
	flipByte           float64
	wrongCRC           bool
	seed               uint64
}

func newServeCommand() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve --root DIR",
		Short: "Serve a directory as a local OSS-compatible endpoint (for tests and benchmarks)",
		Long: `serve answers the OSS protocol from a local directory: every top-level
directory of --root is a bucket, every file below it an object whose key is
its path relative to the bucket. It is read-only and checks V1 and V4
signatures (and the STS token) against OSS_ACCESS_KEY_ID,
OSS_ACCESS_KEY_SECRET and OSS_SESSION_TOKEN, unless --anonymous is given.

The fault flags slow down or break object GETs so that clients can be tested
against an unreliable service. The endpoint is printed on standard output;
request counters are at GET <endpoint>/-/stats. It listens on loopback
unless --addr says otherwise.`,
		Example: `  # serve ./data on a fixed port, signed with the key pair in the environment
  export OSS_ACCESS_KEY_ID=test OSS_ACCESS_KEY_SECRET=secret
  ossmount serve --root ./data --addr 127.0.0.1:9000

  # a slow, flaky service: 50 ms to first byte, 32 MiB/s per response,
  # 5% of GETs answered 503 SlowDown, 1% of bodies cut
  ossmount serve --root ./data --latency 50ms --bandwidth 32MiB --slowdown 0.05 --cut-body 0.01

  # no signatures at all (loopback only)
  ossmount serve --root ./data --anonymous --addr 127.0.0.1:0`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	f.StringVar(&o.root, "root", "", "directory whose top-level directories are served as buckets (required)")
	f.StringVar(&o.addr, "addr", "127.0.0.1:9000", "address to listen on (port 0 picks a free port)")
	f.StringVar(&o.region, "region", "", "require V4 signatures for this region (default: accept any)")
	f.BoolVar(&o.anonymous, "anonymous", false, "accept unsigned requests; only on a loopback address")
	f.DurationVar(&o.maxSkew, "max-skew", ossserver.DefaultMaxSkew, "largest accepted difference between request time and server time")
	f.DurationVar(&o.latency, "latency", 0, "wait this long before answering each object GET")
	f.StringVar(&o.bandwidth, "bandwidth", "0", "limit each response body to this many bytes per second, e.g. 32MiB (0 = unlimited)")
	f.Float64Var(&o.slowdown, "slowdown", 0, "fraction of object GETs answered 503 SlowDown (0..1)")
	f.Float64Var(&o.cutBody, "cut-body", 0, "fraction of GET bodies cut mid-way by closing the connection (0..1)")
	f.Float64Var(&o.flipByte, "flip-byte", 0, "fraction of GET bodies with one byte flipped (0..1)")
	f.BoolVar(&o.wrongCRC, "wrong-crc", false, "send a wrong x-oss-hash-crc64ecma header")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the random fault decisions")
	f.BoolVar(&o.verbose, "verbose", false, "log every request to standard error")
	return cmd
}

func (o *serveOptions) run(cmd *cobra.Command) error {
	if o.root == "" {
		return usagef("serve needs --root DIR")
	}
	if fi, err := os.Stat(o.root); err != nil || !fi.IsDir() {
		return usagef("--root %q is not a directory", o.root)
	}
	faults, err := o.faults()
	if err != nil {
		return err
	}
	loopback, err := isLoopbackAddr(o.addr)
	if err != nil {
		return usagef("--addr %q: %v", o.addr, err)
	}
	if !loopback && o.anonymous {
		return usagef("--anonymous is only allowed on a loopback address, not %q", o.addr)
	}
	var creds ossserver.Credentials
	if !o.anonymous {
		// Trimmed as rangefetch trims them, so that a stray newline in an
		// exported variable cannot make the two sides disagree.
		creds = ossserver.Credentials{
			AccessKeyID:     strings.TrimSpace(os.Getenv(rangefetch.EnvAccessKeyID)),
			AccessKeySecret: strings.TrimSpace(os.Getenv(rangefetch.EnvAccessKeySecret)),
			SessionToken:    strings.TrimSpace(os.Getenv(rangefetch.EnvSessionToken)),
		}
		if creds.AccessKeyID == "" || creds.AccessKeySecret == "" {
			return usagef("serve needs OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET in the environment (and OSS_SESSION_TOKEN for STS), or --anonymous")
		}
	}
	logger := newLogger(o.verbose, cmd.ErrOrStderr())
	if !loopback {
		logger.Warn("listening on a non-loopback address: anyone who can reach it and holds the key pair can read every file below the root", "addr", o.addr)
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := ossserver.Listen(o.addr, ossserver.Config{
		Storage:     ossserver.NewDirStorage(o.root),
		Credentials: creds,
		Anonymous:   o.anonymous,
		Region:      o.region,
		MaxSkew:     o.maxSkew,
		Logger:      logger,
		Faults:      faults,
		Seed:        o.seed,
	})
	if err != nil {
		return fmt.Errorf("%w (choose another --addr; port 0 picks a free one)", err)
	}
	fmt.Fprintln(cmd.OutOrStdout(), srv.Endpoint)
	logger.Info("serving", "root", o.root, "endpoint", srv.Endpoint, "anonymous", o.anonymous, "stats", srv.Endpoint+"/-/stats")

	<-ctx.Done()
	stop()
	logger.Info("stopping")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// faults checks the fault flags.
func (o *serveOptions) faults() (ossserver.Faults, error) {
	bps, err := parseBandwidth(o.bandwidth)
	if err != nil {
		return ossserver.Faults{}, usagef("--bandwidth: %v", err)
	}
	for name, v := range map[string]float64{"--slowdown": o.slowdown, "--cut-body": o.cutBody, "--flip-byte": o.flipByte} {
		if !(v >= 0 && v <= 1) {
			return ossserver.Faults{}, usagef("%s must be between 0 and 1, got %v", name, v)
		}
	}
	if o.latency < 0 {
		return ossserver.Faults{}, usagef("--latency must not be negative")
	}
	return ossserver.Faults{
		FirstByteLatency: o.latency,
		BytesPerSecond:   bps,
		SlowDownFraction: o.slowdown,
		CutBodyFraction:  o.cutBody,
		FlipByteFraction: o.flipByte,
		WrongCRC:         o.wrongCRC,
	}, nil
}

// parseBandwidth reads a rate such as "32MiB" or "500KB/s" (bytes per second).
func parseBandwidth(s string) (int64, error) {
	return parseSize(strings.TrimSuffix(strings.TrimSpace(s), "/s"))
}

// isLoopbackAddr reports whether host:port names only the loopback
// interface; an empty host means every interface.
func isLoopbackAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}
