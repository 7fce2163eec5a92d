package rangefetch

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// URL names a bucket and a key (or key prefix) as oss://bucket/key.
type URL struct{ Bucket, Key string }

// String renders the URL back as oss://bucket/key.
func (u URL) String() string { return "oss://" + u.Bucket + "/" + u.Key }

// ParseURL parses "oss://bucket", "oss://bucket/" or "oss://bucket/key".
// The key is kept verbatim (OSS keys may contain any byte sequence but must
// be valid UTF-8 and shorter than 1024 bytes).
func ParseURL(s string) (URL, error) {
	const scheme = "oss://"
	if len(s) < len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) {
		return URL{}, fmt.Errorf("invalid OSS URL %q: must start with oss:// (e.g. oss://my-bucket/path/to/object)", s)
	}
	rest := s[len(scheme):]
	bucket, key, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return URL{}, fmt.Errorf("invalid OSS URL %q: missing bucket name (e.g. oss://my-bucket/path/to/object)", s)
	}
	if err := ValidateBucketName(bucket); err != nil {
		return URL{}, fmt.Errorf("invalid OSS URL %q: %w", s, err)
	}
	if err := validateKey(key); err != nil {
		return URL{}, fmt.Errorf("invalid OSS URL %q: %w", s, err)
	}
	return URL{Bucket: bucket, Key: key}, nil
}

// ValidateBucketName applies OSS's naming rules: 3 to 63 characters of
// lower-case letters, digits and '-', not starting or ending with '-'.
func ValidateBucketName(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters long", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("bucket name %q may contain only lower-case letters, digits and '-'", b)
		}
	}
	if b[0] == '-' || b[len(b)-1] == '-' {
		return fmt.Errorf("bucket name %q must not start or end with '-'", b)
	}
	return nil
}

func validateKey(k string) error {
	if len(k) >= 1024 {
		return fmt.Errorf("object key is %d bytes; OSS keys are shorter than 1024 bytes", len(k))
	}
	if !utf8.ValidString(k) {
		return fmt.Errorf("object key is not valid UTF-8")
	}
	if strings.HasPrefix(k, "/") {
		return fmt.Errorf("object key must not start with '/' (write oss://bucket/key)")
	}
	return nil
}
