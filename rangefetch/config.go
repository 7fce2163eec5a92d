package rangefetch

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Client. The zero value of every field means "default".
type Config struct {
	// Endpoint is "127.0.0.1:9000", "http://host:port" or
	// "oss-cn-hangzhou.aliyuncs.com"; default $OSS_ENDPOINT, then
	// https://oss-REGION.aliyuncs.com when a region is known.
	Endpoint string
	// Region for signature V4; default $OSS_REGION or derived from an
	// oss-REGION[-internal].aliyuncs.com endpoint.
	Region string
	// SignVersion is 4 (default) or 1 for old gateways.
	SignVersion int
	Credentials Credentials
	// MaxConns sizes the connection pool; default 64. Set it to at least
	// the number of concurrent ReadRange calls so that they never queue
	// for a connection.
	MaxConns int
	Retry    RetryPolicy
	// ConnectTimeout bounds dialling (and the TLS handshake), default 10s.
	ConnectTimeout time.Duration
	// FirstByteTimeout bounds the wait for response headers, default 30s.
	FirstByteTimeout time.Duration
	// StallTimeout cancels and retries a body that delivers no byte for
	// this long, default 30s.
	StallTimeout time.Duration
	Logger       *slog.Logger
	// Metrics, if set, is where New registers the client's Prometheus
	// counters (ossmount_rangefetch_*), until Close; New fails if it
	// refuses them. Each series carries the label endpoint, the endpoint
	// URL; clients of one endpoint that share a registry are told apart
	// by handing each a Registerer wrapped with a label of its own
	// (prometheus.WrapRegistererWith). Nil registers nothing.
	Metrics prometheus.Registerer
}

// RetryPolicy bounds retries of transient failures (5xx, 429, 408,
// connection resets, timeouts, stalls, short bodies). Delays grow
// exponentially from BaseDelay up to MaxDelay with full jitter.
type RetryPolicy struct {
	// MaxAttempts counts requests that made no progress; a retry that
	// resumed a cut body and received bytes does not use one up.
	MaxAttempts int
	BaseDelay   time.Duration
	MaxDelay    time.Duration
	// MaxElapsed bounds the whole operation including waits.
	MaxElapsed time.Duration
}

// Defaults applied by New.
const (
	DefaultMaxConns         = 64
	DefaultMaxAttempts      = 6
	DefaultBaseDelay        = 100 * time.Millisecond
	DefaultMaxDelay         = 5 * time.Second
	DefaultMaxElapsed       = 2 * time.Minute
	DefaultConnectTimeout   = 10 * time.Second
	DefaultFirstByteTimeout = 30 * time.Second
	DefaultStallTimeout     = 30 * time.Second
)

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = DefaultMaxElapsed
	}
	return p
}

func (c Config) withDefaults() Config {
	if c.SignVersion == 0 {
		c.SignVersion = 4
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	c.Retry = c.Retry.withDefaults()
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.FirstByteTimeout <= 0 {
		c.FirstByteTimeout = DefaultFirstByteTimeout
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
