package rangefetch

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
)

// localRegion is the signing region used for loopback endpoints when none
// is configured: local gateways accept any region in the V4 scope.
const localRegion = "cn-hangzhou"

// Client talks to one OSS endpoint. It is safe for concurrent use.
type Client struct {
	cfg       Config
	endpoint  endpoint
	region    string
	oss       *oss.Client
	transport *http.Transport
	log       *slog.Logger
	metrics   *clientMetrics
	closeOnce sync.Once // Close unregisters the metrics once
}

// New builds a Client. Zero Credentials are read from the environment
// (CredentialsFromEnv). It sends no request; use CheckBucket to verify
// the endpoint, the credentials and the bucket in one round trip.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if cfg.SignVersion != 1 && cfg.SignVersion != 4 {
		return nil, fmt.Errorf("unsupported signature version %d: use 4 (default) or 1", cfg.SignVersion)
	}
	region := strings.TrimSpace(cfg.Region)
	if region == "" {
		region = strings.TrimSpace(os.Getenv(EnvRegion))
	}
	ep, err := resolveEndpoint(cfg.Endpoint, region)
	if err != nil {
		return nil, err
	}
	if region == "" {
		region = regionFromHost(ep.host)
	}
	// The credentials last: a mistake in the endpoint is reported as
	// such even where no credentials are set yet.
	if cfg.Credentials.IsZero() {
		creds, err := CredentialsFromEnv()
		if err != nil {
			return nil, err
		}
		cfg.Credentials = creds
	}
	if err := cfg.Credentials.Validate(); err != nil {
		return nil, err
	}
	if region == "" && ep.pathStyle {
		region = localRegion
	}
	if region == "" && cfg.SignVersion == 4 {
		return nil, fmt.Errorf("cannot tell the OSS region of endpoint %s for signature V4: set %s or --region (e.g. cn-hangzhou), or use --sign-version 1", ep.url, EnvRegion)
	}

	tr := newTransport(cfg)
	opts := []oss.ClientOption{
		oss.HTTPClient(&http.Client{Transport: tr}),
		// Callers checksum what they read; the SDK's CRC on GET bodies
		// would only cost CPU (and is never checked for ranges anyway).
		oss.EnableCRC(false),
	}
	if ep.pathStyle {
		opts = append(opts, oss.ForcePathStyle(true))
	}
	if cfg.Credentials.SessionToken != "" {
		opts = append(opts, oss.SecurityToken(cfg.Credentials.SessionToken))
	}
	if cfg.SignVersion == 4 {
		opts = append(opts, oss.AuthVersion(oss.AuthV4), oss.Region(region))
	} else {
		opts = append(opts, oss.AuthVersion(oss.AuthV1))
		if region != "" {
			opts = append(opts, oss.Region(region))
		}
	}
	oc, err := oss.New(ep.url, cfg.Credentials.AccessKeyID, cfg.Credentials.AccessKeySecret, opts...)
	if err != nil {
		tr.CloseIdleConnections()
		// The SDK's message never holds the credentials, only the endpoint.
		return nil, fmt.Errorf("invalid OSS endpoint %s: %v", ep.url, err)
	}
	m := newClientMetrics(ep.url)
	if cfg.Metrics != nil {
		if err := cfg.Metrics.Register(m); err != nil {
			tr.CloseIdleConnections()
			return nil, fmt.Errorf("register the metrics of the OSS client for %s: %w", ep.url, err)
		}
	}
	return &Client{cfg: cfg, endpoint: ep, region: region, oss: oc, transport: tr, log: cfg.Logger, metrics: m}, nil
}

// newTransport builds the HTTP transport. The SDK ignores its own timeout
// and pool options once it is handed an http.Client, so they all live here.
func newTransport(cfg Config) *http.Transport {
	d := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.FirstByteTimeout,
		MaxIdleConns:          cfg.MaxConns,
		MaxIdleConnsPerHost:   cfg.MaxConns,
		MaxConnsPerHost:       cfg.MaxConns,
		IdleConnTimeout:       90 * time.Second,
		// Object bytes must arrive exactly as stored, and ranges of a
		// gzip-encoded body would be meaningless.
		DisableCompression: true,
		ForceAttemptHTTP2:  false,
	}
}

// Endpoint returns the endpoint URL in use, e.g. "http://127.0.0.1:9000".
func (c *Client) Endpoint() string { return c.endpoint.url }

// Region returns the signing region in use.
func (c *Client) Region() string { return c.region }

// Close drops idle pooled connections and takes the client's counters off
// Config.Metrics. In-flight calls are not affected.
func (c *Client) Close() error {
	c.transport.CloseIdleConnections()
	c.closeOnce.Do(func() {
		if c.cfg.Metrics != nil {
			c.cfg.Metrics.Unregister(c.metrics)
		}
	})
	return nil
}

func (c *Client) bucket(name string) (*oss.Bucket, error) {
	if err := ValidateBucketName(name); err != nil {
		return nil, err
	}
	return c.oss.Bucket(name)
}
