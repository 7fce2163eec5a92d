package rangefetch

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Environment variables that carry credentials. They are the only places,
// besides a 0600 file, that credentials are read from.
const (
	EnvAccessKeyID     = "OSS_ACCESS_KEY_ID"
	EnvAccessKeySecret = "OSS_ACCESS_KEY_SECRET"
	EnvSessionToken    = "OSS_SESSION_TOKEN"
	EnvEndpoint        = "OSS_ENDPOINT"
	EnvRegion          = "OSS_REGION"
)

// ErrNoCredentials is returned when no access key is configured.
var ErrNoCredentials = errors.New("no OSS credentials: set " + EnvAccessKeyID + " and " + EnvAccessKeySecret +
	" (and " + EnvSessionToken + " for STS), or put them in a mode-0600 file given with --credentials-file")

// Credentials are an access key pair and an optional STS session token.
// Their String, GoString and LogValue redact the secret parts so that a
// Credentials value that ends up in a log line or an error leaks nothing.
type Credentials struct {
	AccessKeyID, AccessKeySecret, SessionToken string
}

// IsZero reports whether no access key is set.
func (c Credentials) IsZero() bool { return c.AccessKeyID == "" && c.AccessKeySecret == "" }

// Validate reports a clear error when the pair is incomplete.
func (c Credentials) Validate() error {
	switch {
	case c.IsZero():
		return ErrNoCredentials
	case c.AccessKeyID == "":
		return fmt.Errorf("OSS credentials incomplete: %s is empty (set it next to %s)", EnvAccessKeyID, EnvAccessKeySecret)
	case c.AccessKeySecret == "":
		return fmt.Errorf("OSS credentials incomplete: %s is empty (set it next to %s)", EnvAccessKeySecret, EnvAccessKeyID)
	}
	return nil
}

// String shows at most a short prefix of the key id and never the secret or token.
func (c Credentials) String() string {
	id := "<none>"
	if c.AccessKeyID != "" {
		id = redactID(c.AccessKeyID)
	}
	tok := ""
	if c.SessionToken != "" {
		tok = " token=<redacted>"
	}
	sec := "<none>"
	if c.AccessKeySecret != "" {
		sec = "<redacted>"
	}
	return "Credentials{id=" + id + " secret=" + sec + tok + "}"
}

// GoString makes %#v as safe as %v.
func (c Credentials) GoString() string { return c.String() }

// LogValue makes slog print the redacted form.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

func redactID(id string) string {
	if len(id) <= 8 {
		return "<redacted>"
	}
	return id[:4] + "…"
}

// CredentialsFromEnv reads OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET and
// OSS_SESSION_TOKEN. Missing values give an error naming the variables.
func CredentialsFromEnv() (Credentials, error) {
	c := Credentials{
		AccessKeyID:     strings.TrimSpace(os.Getenv(EnvAccessKeyID)),
		AccessKeySecret: strings.TrimSpace(os.Getenv(EnvAccessKeySecret)),
		SessionToken:    strings.TrimSpace(os.Getenv(EnvSessionToken)),
	}
	if err := c.Validate(); err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// LoadCredentialsFile reads KEY=VALUE lines (OSS_ACCESS_KEY_ID,
// OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN; '#' comments, blank lines and an
// optional "export " prefix allowed). It refuses a file that group or others
// may read, because a secret in such a file is already leaked.
func LoadCredentialsFile(path string) (Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials file: %w", err)
	}
	if st.IsDir() {
		return Credentials{}, fmt.Errorf("credentials file %s is a directory", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return Credentials{}, fmt.Errorf("credentials file %s has mode %#o, readable by others: run chmod 600 %s", path, perm, path)
	}
	var c Credentials
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		s = strings.TrimPrefix(s, "export ")
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			// Never echo the line: it may hold a secret.
			return Credentials{}, fmt.Errorf("credentials file %s line %d: expected KEY=VALUE", path, line)
		}
		k = strings.TrimSpace(k)
		v = unquote(strings.TrimSpace(v))
		switch k {
		case EnvAccessKeyID:
			c.AccessKeyID = v
		case EnvAccessKeySecret:
			c.AccessKeySecret = v
		case EnvSessionToken:
			c.SessionToken = v
		default:
			return Credentials{}, fmt.Errorf("credentials file %s line %d: unknown key %q (expected %s, %s or %s)",
				path, line, k, EnvAccessKeyID, EnvAccessKeySecret, EnvSessionToken)
		}
	}
	if err := sc.Err(); err != nil {
		return Credentials{}, fmt.Errorf("credentials file %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return Credentials{}, fmt.Errorf("credentials file %s: %w", path, err)
	}
	return c, nil
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		return v[1 : len(v)-1]
	}
	return v
}
