package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
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
	fs.IntVar(&f.maxParallel, "max-parallel", 32, "parallel connections to OSS")
}

// config resolves the flags and the environment into a client configuration.
func (f *clientFlags) config(log *slog.Logger) (rangefetch.Config, error) {
	if f.signVersion != 1 && f.signVersion != 4 {
		return rangefetch.Config{}, usagef("--sign-version must be 1 or 4, not %d", f.signVersion)
	}
	if f.maxParallel < 1 || f.maxParallel > 256 {
		return rangefetch.Config{}, usagef("--max-parallel must be between 1 and 256, not %d", f.maxParallel)
	}
	if err := rangefetch.CheckEndpoint(f.endpoint, f.region); errors.Is(err, rangefetch.ErrInvalidEndpoint) {
		return rangefetch.Config{}, usagef("%v", err) // before the credentials: a mistake in the flags
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

// client builds an OSS client from the flags, registering its counters on
// metrics unless that is nil.
func (f *clientFlags) client(_ context.Context, log *slog.Logger, metrics prometheus.Registerer) (*rangefetch.Client, error) {
	cfg, err := f.config(log)
	if err != nil {
		return nil, err
	}
	cfg.Metrics = metrics
	return newClient(cfg)
}

// newClient is rangefetch.New with an endpoint that cannot be parsed (a
// bad --endpoint or OSS_ENDPOINT) reported as the usage error it is.
func newClient(cfg rangefetch.Config) (*rangefetch.Client, error) {
	c, err := rangefetch.New(cfg)
	if errors.Is(err, rangefetch.ErrInvalidEndpoint) {
		return nil, usagef("%v", err)
	}
	return c, err
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

// sizeUnits are the units parseSize accepts, case-insensitively. A bare
// K, M, G or T is binary, as in most tools' size flags; KB, MB, GB and TB
// are decimal.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// maxSize bounds parsed sizes well inside int64, so that callers can add
// and multiply sizes without overflow.
const maxSize = 1 << 62

// parseSize reads a byte count such as 4096, 100KB, 8MiB, 1.5GiB or 5 GB:
// plain decimal digits with an optional fraction, then an optional unit.
// A fraction of a byte is dropped. Signs, exponents, hex, NaN and Inf are
// refused, so that a typo never becomes a surprising size.
func parseSize(s string) (int64, error) {
	bad := fmt.Errorf("%q is not a size (try 4096, 100KB, 8MiB or 1.5GiB)", s)
	t := strings.TrimSpace(s)
	digits := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if digits < 0 {
		digits = len(t)
	}
	num, unit := t[:digits], strings.TrimSpace(t[digits:])
	whole, frac, _ := strings.Cut(num, ".")
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok || whole == "" || strings.Contains(frac, ".") {
		return 0, bad
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, bad
	}
	tooLarge := fmt.Errorf("%q is too large (at most %d bytes)", s, int64(maxSize))
	if err != nil || w > maxSize/mult {
		return 0, tooLarge
	}
	n := w * mult
	if frac != "" {
		f, err := strconv.ParseFloat("0."+frac, 64)
		if err != nil {
			return 0, bad
		}
		n += int64(f * float64(mult))
	}
	if n > maxSize {
		return 0, tooLarge
	}
	return n, nil
}

// newLogger returns the logger of a command: text to stderr, debug level on request.
func newLogger(debug bool, w interface{ Write([]byte) (int, error) }) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
