package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

const (
	serveKeyID  = "LTAIservetest0001"
	serveSecret = "serve-test-secret"
)

var serveEnv = []string{"OSS_ACCESS_KEY_ID=" + serveKeyID, "OSS_ACCESS_KEY_SECRET=" + serveSecret}

// writeBucket lays out root/bucket/key files with the given contents.
func writeBucket(t *testing.T, root, bucket string, objects map[string][]byte) {
	t.Helper()
	for key, data := range objects {
		p := filepath.Join(root, bucket, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// serveClient is a client for a served endpoint, with the test key pair.
func serveClient(t *testing.T, endpoint string, signVersion int, mutate ...func(*rangefetch.Config)) *rangefetch.Client {
	t.Helper()
	cfg := rangefetch.Config{
		Endpoint:    endpoint,
		SignVersion: signVersion,
		Credentials: rangefetch.Credentials{AccessKeyID: serveKeyID, AccessKeySecret: serveSecret},
		Retry:       rangefetch.RetryPolicy{MaxAttempts: 2, BaseDelay: 1, MaxDelay: 1},
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := rangefetch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// buffer is an io.WriterAt over an object of known size.
type buffer []byte

func (b buffer) WriteAt(p []byte, off int64) (int, error) { return copy(b[off:], p), nil }

// serverStats reads GET /-/stats.
func serverStats(t *testing.T, endpoint string) ossserver.Stats {
	t.Helper()
	resp, err := http.Get(endpoint + "/-/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st ossserver.Stats
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /-/stats: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("GET /-/stats: %v", err)
	}
	return st
}

func TestServeAnswersTheSDKAndStopsOnSIGTERM(t *testing.T) {
	root := t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 40_000) // 640,000 bytes
	writeBucket(t, root, "test-bucket", map[string][]byte{
		"dir/big.bin":        data,
		"dir/with space.txt": []byte("spaced"),
		"top.txt":            []byte("top"),
	})
	srv := startOssmount(t, serveEnv, "serve", "--root", root, "--addr", "127.0.0.1:0")
	endpoint := srv.line()
	if !strings.HasPrefix(endpoint, "http://127.0.0.1:") {
		t.Fatalf("first line %q is not the endpoint", endpoint)
	}
	ctx := context.Background()

	for _, sv := range []int{4, 1} {
		c := serveClient(t, endpoint, sv)
		info, err := c.Stat(ctx, "test-bucket", "dir/big.bin")
		if err != nil {
			t.Fatalf("V%d Stat: %v", sv, err)
		}
		if info.Size != int64(len(data)) || !info.HasCRC64 || info.CRC64 != object.CRC64(data, 0) {
			t.Fatalf("V%d Stat: %+v, want size %d and the CRC64 of the file", sv, info, len(data))
		}
		got := make(buffer, len(data))
		const off, n = 100_001, 300_000
		if err := c.ReadRange(ctx, info.Ref(), off, n, got); err != nil {
			t.Fatalf("V%d ReadRange: %v", sv, err)
		}
		if !bytes.Equal(got[off:off+n], data[off:off+n]) {
			t.Fatalf("V%d ReadRange: bytes differ from the file", sv)
		}
		page, err := c.ListPage(ctx, "test-bucket", "dir/", "", 0)
		if err != nil {
			t.Fatalf("V%d ListPage: %v", sv, err)
		}
		var keys []string
		for _, o := range page.Objects {
			keys = append(keys, o.Key)
		}
		if strings.Join(keys, "|") != "dir/big.bin|dir/with space.txt" {
			t.Fatalf("V%d ListPage: keys %q", sv, keys)
		}
	}

	st := serverStats(t, endpoint)
	if st.Heads != 2 || st.Gets != 2 || st.Lists != 2 || st.PartialGets != 2 || st.BodyBytes != 2*300_000 {
		t.Errorf("stats over HTTP: %+v, want 2 HEADs, 2 ranged GETs of 300000 bytes, 2 lists", st)
	}

	// A wrong secret is refused with a message naming the fix.
	bad := serveClient(t, endpoint, 4, func(c *rangefetch.Config) { c.Credentials.AccessKeySecret = "wrong" })
	if _, err := bad.Stat(ctx, "test-bucket", "top.txt"); !errors.Is(err, rangefetch.ErrAccessDenied) ||
		!strings.Contains(err.Error(), "OSS_ACCESS_KEY_SECRET") {
		t.Errorf("wrong secret: %v", err)
	}

	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM; stderr:\n%s", code, srv.stderr)
	}
	if !strings.Contains(srv.stderr.String(), "stopping") {
		t.Errorf("serve did not log that it stopped:\n%s", srv.stderr)
	}
}

func TestServeFaultFlags(t *testing.T) {
	root := t.TempDir()
	writeBucket(t, root, "test-bucket", map[string][]byte{"obj": []byte("some object bytes")})
	srv := startOssmount(t, serveEnv, "serve", "--root", root, "--addr", "127.0.0.1:0",
		"--slowdown", "1", "--wrong-crc", "--bandwidth", "1MiB/s")
	endpoint := srv.line()
	c := serveClient(t, endpoint, 4)
	ctx := context.Background()

	info, err := c.Stat(ctx, "test-bucket", "obj")
	if err != nil {
		t.Fatal(err)
	}
	if info.CRC64 == object.CRC64([]byte("some object bytes"), 0) {
		t.Errorf("--wrong-crc: HEAD sent the right CRC64")
	}
	err = c.ReadRange(ctx, info.Ref(), 0, 4, make(buffer, info.Size))
	if !errors.Is(err, rangefetch.ErrRetriesExhausted) || !strings.Contains(err.Error(), "SlowDown") {
		t.Errorf("--slowdown 1: %v, want retries exhausted on SlowDown", err)
	}
	if st := serverStats(t, endpoint); st.SlowDowns != 2 || st.Gets != 2 || st.BodyBytes != 0 {
		t.Errorf("--slowdown 1: stats %+v, want 2 GETs both answered SlowDown", st)
	}
	srv.stop(syscall.SIGTERM)
}

func TestServeAnonymousAndNonLoopback(t *testing.T) {
	root := t.TempDir()
	writeBucket(t, root, "test-bucket", map[string][]byte{"obj": []byte("x")})

	// Anonymous on loopback: no key pair needed on either side.
	anon := startOssmount(t, nil, "serve", "--root", root, "--addr", "127.0.0.1:0", "--anonymous")
	resp, err := http.Get(anon.line() + "/test-bucket/obj")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("anonymous GET: %s", resp.Status)
	}
	anon.stop(syscall.SIGINT)

	// Anonymous beyond loopback: refused before listening.
	r := runOssmount(t, nil, "serve", "--root", root, "--addr", "0.0.0.0:0", "--anonymous")
	if r.code != exitUsage || !strings.Contains(r.stderr, "loopback") {
		t.Errorf("--anonymous on 0.0.0.0: exit %d, stderr %q", r.code, r.stderr)
	}

	// Signed beyond loopback: allowed, with a warning.
	wide := startOssmount(t, serveEnv, "serve", "--root", root, "--addr", "0.0.0.0:0")
	endpoint := wide.line()
	if _, err := serveClient(t, endpoint, 4).Stat(context.Background(), "test-bucket", "obj"); err != nil {
		t.Errorf("Stat through 0.0.0.0: %v", err)
	}
	wide.stop(syscall.SIGTERM)
	if !strings.Contains(wide.stderr.String(), "non-loopback") {
		t.Errorf("no warning for a non-loopback address:\n%s", wide.stderr)
	}
}

func TestServeProcessWithoutCredentials(t *testing.T) {
	r := runOssmount(t, nil, "serve", "--root", t.TempDir(), "--addr", "127.0.0.1:0")
	if r.code == 0 || !strings.Contains(r.stderr, "OSS_ACCESS_KEY_ID") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("serve without credentials: exit %d, stderr %q; want a one-line error naming OSS_ACCESS_KEY_ID", r.code, r.stderr)
	}
}

func TestProcessExitCodes(t *testing.T) {
	if r := runOssmount(t, nil, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "ossmount ") {
		t.Errorf("version: exit %d, %q", r.code, r.stdout)
	}
	if r := runOssmount(t, nil, "--help"); r.code != 0 || !strings.Contains(r.stdout, "Examples:") {
		t.Errorf("--help: exit %d, %q", r.code, r.stdout)
	}
	r := runOssmount(t, nil, "serve", "--slowdown", "2")
	if r.code != exitUsage || r.stderr != "ossmount: serve needs --root DIR\n" {
		t.Errorf("usage error: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runOssmount(t, nil, "nonsense")
	if r.code != exitUsage || !strings.Contains(r.stderr, `unknown command "nonsense"`) {
		t.Errorf("unknown command: exit %d, stderr %q", r.code, r.stderr)
	}
}
