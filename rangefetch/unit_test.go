package rangefetch_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ossmount/ossmount/rangefetch"
)

func TestParseURL(t *testing.T) {
	good := map[string]rangefetch.URL{
		"oss://my-bucket":           {Bucket: "my-bucket"},
		"oss://my-bucket/":          {Bucket: "my-bucket"},
		"oss://abc/dir/file.bin":    {Bucket: "abc", Key: "dir/file.bin"},
		"OSS://abc/dir/":            {Bucket: "abc", Key: "dir/"},
		"oss://a1-2/with space+x%y": {Bucket: "a1-2", Key: "with space+x%y"},
	}
	for in, want := range good {
		got, err := rangefetch.ParseURL(in)
		if err != nil || got != want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                                 "must start with oss://",
		"s3://bucket/key":                  "must start with oss://",
		"oss://":                           "missing bucket",
		"oss:///key":                       "missing bucket",
		"oss://ab/key":                     "3 to 63",
		"oss://-abc/key":                   "start or end with '-'",
		"oss://abc-/key":                   "start or end with '-'",
		"oss://ABC/key":                    "lower-case",
		"oss://a_b_c/key":                  "lower-case",
		"oss://abc//key":                   "must not start with '/'",
		"oss://" + strings.Repeat("a", 64): "3 to 63",
	}
	for in, want := range bad {
		_, err := rangefetch.ParseURL(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%q) err = %v, want mention of %q", in, err, want)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	f, l, tot, err := rangefetch.ParseContentRange("bytes 2-5/20")
	if err != nil || f != 2 || l != 5 || tot != 20 {
		t.Fatalf("got %d %d %d %v", f, l, tot, err)
	}
	if _, _, tot, err := rangefetch.ParseContentRange("bytes 0-0/*"); err != nil || tot != -1 {
		t.Fatalf("star total: %d %v", tot, err)
	}
	for _, s := range []string{"", "bytes", "bytes 2-5", "bytes 5-2/20", "bytes 2-20/20", "bytes -1-5/20",
		"bytes +1-5/20", "items 1-2/3", "bytes 1 -2/3", "bytes 1-2/99999999999999999999"} {
		if _, _, _, err := rangefetch.ParseContentRange(s); err == nil {
			t.Errorf("ParseContentRange(%q) accepted", s)
		}
	}
}

func TestRegionFromHost(t *testing.T) {
	for host, want := range map[string]string{
		"oss-cn-hangzhou.aliyuncs.com":           "cn-hangzhou",
		"oss-cn-shanghai-internal.aliyuncs.com":  "cn-shanghai",
		"bucket.oss-ap-southeast-1.aliyuncs.com": "ap-southeast-1",
		"example.com":                            "",
		"127.0.0.1":                              "",
		"oss-accelerate.aliyuncs.com":            "",
	} {
		if got := rangefetch.RegionFromHost(host); got != want {
			t.Errorf("regionFromHost(%q) = %q, want %q", host, got, want)
		}
	}
}

func TestCredentialsRedact(t *testing.T) {
	c := rangefetch.Credentials{AccessKeyID: "LTAIabcdefghijkl", AccessKeySecret: "s3cr3t-value", SessionToken: "STS.tok-value"}
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("x", "creds", c)
	for _, s := range []string{c.String(), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), sb.String()} {
		if strings.Contains(s, "s3cr3t") || strings.Contains(s, "tok-value") || strings.Contains(s, "LTAIabcdefghijkl") {
			t.Errorf("credentials leaked: %s", s)
		}
	}
}

func TestCredentialsFromEnv(t *testing.T) {
	t.Setenv("OSS_ACCESS_KEY_ID", "")
	t.Setenv("OSS_ACCESS_KEY_SECRET", "")
	t.Setenv("OSS_SESSION_TOKEN", "")
	_, err := rangefetch.CredentialsFromEnv()
	if !errors.Is(err, rangefetch.ErrNoCredentials) || !strings.Contains(err.Error(), "OSS_ACCESS_KEY_ID") {
		t.Fatalf("missing env: %v", err)
	}
	t.Setenv("OSS_ACCESS_KEY_ID", "id")
	if _, err := rangefetch.CredentialsFromEnv(); err == nil || !strings.Contains(err.Error(), "OSS_ACCESS_KEY_SECRET") {
		t.Fatalf("missing secret: %v", err)
	}
	t.Setenv("OSS_ACCESS_KEY_SECRET", "sec")
	t.Setenv("OSS_SESSION_TOKEN", "tok")
	c, err := rangefetch.CredentialsFromEnv()
	if err != nil || c != (rangefetch.Credentials{AccessKeyID: "id", AccessKeySecret: "sec", SessionToken: "tok"}) {
		t.Fatalf("got %v %v", c, err)
	}
}

func TestLoadCredentialsFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "creds")
	body := "# comment\n\nOSS_ACCESS_KEY_ID=theid\nexport OSS_ACCESS_KEY_SECRET=\"the secret\"\nOSS_SESSION_TOKEN=tok\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := rangefetch.LoadCredentialsFile(p)
	if err != nil || c != (rangefetch.Credentials{AccessKeyID: "theid", AccessKeySecret: "the secret", SessionToken: "tok"}) {
		t.Fatalf("got %v %v", c, err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := rangefetch.LoadCredentialsFile(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("0644 file: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("OSS_ACCESS_KEY_SECRET supersecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rangefetch.LoadCredentialsFile(bad); err == nil || strings.Contains(err.Error(), "supersecret") {
		t.Fatalf("malformed line: %v", err)
	}
	if _, err := rangefetch.LoadCredentialsFile(filepath.Join(dir, "nope")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestNewValidates(t *testing.T) {
	for _, v := range []string{"OSS_ENDPOINT", "OSS_REGION", "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN"} {
		t.Setenv(v, "")
	}
	creds := rangefetch.Credentials{AccessKeyID: "id", AccessKeySecret: "secret"}
	if _, err := rangefetch.New(rangefetch.Config{Endpoint: "127.0.0.1:1"}); !errors.Is(err, rangefetch.ErrNoCredentials) {
		t.Errorf("no credentials: %v", err)
	}
	if _, err := rangefetch.New(rangefetch.Config{Credentials: creds}); err == nil || !strings.Contains(err.Error(), "OSS_ENDPOINT") {
		t.Errorf("no endpoint: %v", err)
	}
	if _, err := rangefetch.New(rangefetch.Config{Endpoint: "example.com", Credentials: creds}); err == nil || !strings.Contains(err.Error(), "OSS_REGION") {
		t.Errorf("no region for V4: %v", err)
	}
	c, err := rangefetch.New(rangefetch.Config{Endpoint: "oss-cn-beijing-internal.aliyuncs.com", Credentials: creds})
	if err != nil || c.Region() != "cn-beijing" || c.Endpoint() != "https://oss-cn-beijing-internal.aliyuncs.com" {
		t.Errorf("derived region: %v", err)
	}
	c, err = rangefetch.New(rangefetch.Config{Region: "cn-shenzhen", Credentials: creds})
	if err != nil || c.Endpoint() != "https://oss-cn-shenzhen.aliyuncs.com" {
		t.Errorf("endpoint from region: %v", err)
	}
	c, err = rangefetch.New(rangefetch.Config{Endpoint: "localhost:9000", Credentials: creds, SignVersion: 1})
	if err != nil || c.Endpoint() != "http://localhost:9000" {
		t.Errorf("localhost: %v", err)
	}
	if _, err := rangefetch.New(rangefetch.Config{Endpoint: "http://h/x?y", Credentials: creds, SignVersion: 1}); err == nil {
		t.Error("endpoint with path accepted")
	}
	if _, err := rangefetch.New(rangefetch.Config{Endpoint: "h", Credentials: creds, SignVersion: 2}); err == nil {
		t.Error("sign version 2 accepted")
	}
}

func TestBackoffFullJitter(t *testing.T) {
	p := rangefetch.RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	for n, ceil := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		ceil *= time.Millisecond
		var maxSeen time.Duration
		for range 2000 {
			d := rangefetch.BackoffDelay(p, n)
			if d < 0 || d >= ceil {
				t.Fatalf("attempt %d: delay %v outside [0, %v)", n, d, ceil)
			}
			maxSeen = max(maxSeen, d)
		}
		if maxSeen < ceil/2 {
			t.Fatalf("attempt %d: delays never above %v of a %v ceiling: not full jitter", n, maxSeen, ceil)
		}
	}
}
