package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/rangefetch"
)

// clientFlags are the flags of every subcommand that talks to OSS. The same
// names mean the same things everywhere.
type clientFlags struct {
	endpoint        string
	region          string
	signVersion     int
	credentialsFile string
	maxParallel     int
}

func (f *clientFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.endpoint, "endpoint", "", "OSS endpoint, e.g. oss-cn-hangzhou.aliyuncs.com or 127.0.0.1:9000 (default $OSS_ENDPOINT)")
	fs.StringVar(&f.region, "region", "", "OSS region for V4 signatures, e.g. cn-hangzhou (default $OSS_REGION, or derived from the endpoint)")
	fs.IntVar(&f.signVersion, "sign-version", 4, "signature version: 4, or 1 for old gateways")
	fs.StringVar(&f.credentialsFile, "credentials-file", "", "file with OSS_ACCESS_KEY_ID=... lines, mode 0600 (default: the environment)")
	fs.IntVar(&f.maxParallel, "max-parallel", 16, "parallel connections to OSS")
}

// config resolves the flags and the environment into a client configuration.
func (f *clientFlags) config(log *slog.Logger) (rangefetch.Config, error) {
	if f.signVersion != 1 && f.signVersion != 4 {
		return rangefetch.Config{}, usagef("--sign-version must be 1 or 4, not %d", f.signVersion)
	}
	if f.maxParallel < 1 || f.maxParallel > 256 {
		return rangefetch.Config{}, usagef("--max-parallel must be between 1 and 256, not %d", f.maxParallel)
	}
	var creds rangefetch.Credentials
	var err error
	if f.credentialsFile != "" {
		creds, err = rangefetch.LoadCredentialsFile(f.credentialsFile)
	} else {
		creds, err = rangefetch.CredentialsFromEnv()
	}
	if err != nil {
		return rangefetch.Config{}, err
	}
	return rangefetch.Config{
		Endpoint:    f.endpoint,
		Region:      f.region,
		SignVersion: f.signVersion,
		Credentials: creds,
		MaxConns:    f.maxParallel,
		Logger:      log,
	}, nil
}

// client builds an OSS client from the flags.
func (f *clientFlags) client(_ context.Context, log *slog.Logger) (*rangefetch.Client, error) {
	cfg, err := f.config(log)
	if err != nil {
		return nil, err
	}
	return rangefetch.New(cfg)
}

// cacheFlags are the flags of every subcommand that uses the local cache.
type cacheFlags struct {
	dir  string
	size string
}

func (f *cacheFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.dir, "cache-dir", "", "cache directory (default "+cache.DefaultDir()+")")
	fs.StringVar(&f.size, "cache-size", "", "cache size cap, e.g. 20GiB (default: 10GiB or the free space, whichever is smaller)")
}

// options resolves the flags into cache options.
func (f *cacheFlags) options(log *slog.Logger) (cache.Options, error) {
	opts := cache.Options{Dir: f.dir, Logger: log}
	if opts.Dir == "" {
		opts.Dir = cache.DefaultDir()
	}
	if f.size != "" {
		n, err := parseSize(f.size)
		if err != nil {
			return cache.Options{}, usagef("--cache-size: %v", err)
		}
		opts.MaxBytes = n
	}
	return opts, nil
}

// sizeUnits are the suffixes parseSize accepts, longest first so that
// "MiB" is not read as "B".
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"TB", 1000 * 1000 * 1000 * 1000},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// parseSize reads a byte count such as 100KB, 8MiB, 5GB or 4096.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if len(t) > len(u.suffix) && strings.EqualFold(t[len(t)-len(u.suffix):], u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size (try 100KB, 8MiB or 5GB)", s)
	}
	n := v * float64(mult)
	if n > 1<<62 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(n), nil
}

// newLogger returns the logger of a command: text to stderr, debug level on request.
func newLogger(debug bool, w interface{ Write([]byte) (int, error) }) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
