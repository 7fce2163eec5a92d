package rangefetch

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
)

// ErrInvalidEndpoint is the kind of error New returns for an endpoint that
// is no host[:port] or http(s)://host[:port]: a mistake in the
// configuration, not a failure of OSS.
var ErrInvalidEndpoint = errors.New("invalid OSS endpoint")

// CheckEndpoint reports whether endpoint (as Config.Endpoint, "" for the
// environment's) is well formed, without sending anything: an
// ErrInvalidEndpoint, or another error when none can be found.
func CheckEndpoint(endpoint, region string) error {
	if region == "" {
		region = os.Getenv(EnvRegion)
	}
	_, err := resolveEndpoint(endpoint, region)
	return err
}

// endpoint is a resolved OSS endpoint.
type endpoint struct {
	url       string // with scheme, no path
	host      string // without port
	pathStyle bool   // loopback and IP endpoints address buckets by path
}

// resolveEndpoint picks the endpoint (Config, $OSS_ENDPOINT, or derived from
// the region) and adds a scheme: plain http for loopback and IP literals
// (local gateways and test servers), https otherwise.
func resolveEndpoint(cfgEndpoint, region string) (endpoint, error) {
	raw := strings.TrimSpace(cfgEndpoint)
	if raw == "" {
		raw = strings.TrimSpace(os.Getenv(EnvEndpoint))
	}
	if raw == "" {
		if region == "" {
			return endpoint{}, fmt.Errorf("no OSS endpoint: set %s or --endpoint (e.g. oss-cn-hangzhou.aliyuncs.com), or %s / --region", EnvEndpoint, EnvRegion)
		}
		raw = "oss-" + region + ".aliyuncs.com"
	}
	withScheme := raw
	if !strings.Contains(raw, "://") {
		withScheme = "https://" + raw
	}
	u, err := url.Parse(withScheme)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return endpoint{}, fmt.Errorf("%w %q: expected host[:port] or http(s)://host[:port] (e.g. oss-cn-hangzhou.aliyuncs.com)", ErrInvalidEndpoint, raw)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return endpoint{}, fmt.Errorf("%w %q: give only scheme, host and port", ErrInvalidEndpoint, raw)
	}
	host := u.Hostname()
	local := isLocalHost(host)
	if !strings.Contains(raw, "://") && local {
		u.Scheme = "http"
	}
	return endpoint{url: u.Scheme + "://" + u.Host, host: host, pathStyle: local}, nil
}

// isLocalHost reports hosts that cannot carry a bucket as a subdomain.
func isLocalHost(host string) bool {
	return net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// regionFromHost derives "cn-hangzhou" from oss-cn-hangzhou.aliyuncs.com or
// oss-cn-hangzhou-internal.aliyuncs.com (also with a bucket subdomain).
func regionFromHost(host string) string {
	host = strings.ToLower(host)
	if !strings.HasSuffix(host, ".aliyuncs.com") {
		return ""
	}
	labels := strings.Split(strings.TrimSuffix(host, ".aliyuncs.com"), ".")
	l := labels[len(labels)-1]
	if !strings.HasPrefix(l, "oss-") {
		return ""
	}
	r := strings.TrimPrefix(l, "oss-")
	r = strings.TrimSuffix(r, "-internal")
	r = strings.TrimSuffix(r, "-vpc")
	if r == "" || r == "accelerate" || r == "accelerate-overseas" {
		return ""
	}
	return r
}
