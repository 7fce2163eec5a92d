package ossserver_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/testutil"
)

var (
	etagForm      = regexp.MustCompile(`^"[0-9A-F]{32}"$`)
	requestIDForm = regexp.MustCompile(`^[0-9A-F]{24}$`)
)

func TestHeadAndGetHeaders(t *testing.T) {
	for _, s := range signings {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			_, mem, b := startWith(t, s, "bkt")
			data := testutil.RandomBytes(1, 1000)
			key := "dir/b c+d%41 ünï.bin"
			mem.Put("bkt", key, data)

			h, err := b.GetObjectDetailedMeta(key)
			if err != nil {
				t.Fatal(err)
			}
			checkObjectHeaders(t, h, data)

			var gh http.Header
			rc, err := b.GetObject(key, oss.GetResponseHeader(&gh))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || string(got) != string(data) {
				t.Fatalf("GET body differs (err %v)", err)
			}
			checkObjectHeaders(t, gh, data)
			if gh.Get("ETag") != h.Get("ETag") {
				t.Errorf("GET ETag %s, HEAD ETag %s", gh.Get("ETag"), h.Get("ETag"))
			}

			if _, err := b.GetObjectMeta(key); err != nil {
				t.Errorf("GetObjectMeta: %v", err)
			}
			if ok, err := b.IsObjectExist(key); !ok || err != nil {
				t.Errorf("IsObjectExist = %v, %v", ok, err)
			}
			if ok, err := b.IsObjectExist("nope"); ok || err != nil {
				t.Errorf("IsObjectExist(nope) = %v, %v", ok, err)
			}
		})
	}
}

func checkObjectHeaders(t *testing.T, h http.Header, data []byte) {
	t.Helper()
	want := map[string]string{
		"Content-Length":       strconv.Itoa(len(data)),
		"X-Oss-Hash-Crc64ecma": strconv.FormatUint(crc(data), 10),
		"X-Oss-Object-Type":    "Normal",
		"X-Oss-Storage-Class":  "Standard",
		"Accept-Ranges":        "bytes",
		"Server":               "AliyunOSS",
	}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	if !etagForm.MatchString(h.Get("ETag")) {
		t.Errorf("ETag %q is not quoted upper hex", h.Get("ETag"))
	}
	if !requestIDForm.MatchString(h.Get("X-Oss-Request-Id")) {
		t.Errorf("x-oss-request-id %q", h.Get("X-Oss-Request-Id"))
	}
	if _, err := http.ParseTime(h.Get("Last-Modified")); err != nil || !strings.HasSuffix(h.Get("Last-Modified"), "GMT") {
		t.Errorf("Last-Modified %q: %v", h.Get("Last-Modified"), err)
	}
	if h.Get("Content-Type") == "" {
		t.Error("no Content-Type")
	}
}

func TestMissingObjectAndBucket(t *testing.T) {
	for _, s := range signings[:2] {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			r, _, b := startWith(t, s, "bkt")
			_, err := b.GetObjectDetailedMeta("missing/key")
			wantCode(t, err, "NoSuchKey", 404) // from x-oss-err: HEAD has no body
			_, err = b.GetObject("missing/key")
			wantCode(t, err, "NoSuchKey", 404)
			_, err = b.GetObject("../escape")
			wantCode(t, err, "NoSuchKey", 404)

			other := newBucket(t, r, credsOf(t, b), "nobucket", s.opts...)
			_, err = other.GetObject("k")
			wantCode(t, err, "NoSuchBucket", 404)
			_, err = other.ListObjects()
			wantCode(t, err, "NoSuchBucket", 404)
		})
	}
}

// credsOf recovers the credentials an SDK bucket handle signs with.
func credsOf(t testing.TB, b *oss.Bucket) (c ossserver.Credentials) {
	cfg := b.Client.Config
	cr := cfg.GetCredentials()
	c.AccessKeyID, c.AccessKeySecret, c.SessionToken = cr.GetAccessKeyID(), cr.GetAccessKeySecret(), cr.GetSecurityToken()
	return c
}

func TestRange(t *testing.T) {
	const data = "0123456789abcdefghij" // 20 bytes
	cases := []struct {
		rng      string
		standard bool
		status   int    // 416 means InvalidRange
		body     string // expected body for 200/206
		cr       string // Content-Range
	}{
		{"2-5", false, 206, "2345", "bytes 2-5/20"},
		{"2-5", true, 206, "2345", "bytes 2-5/20"},
		{"15-", false, 206, "fghij", "bytes 15-19/20"},
		{"-3", false, 206, "hij", "bytes 17-19/20"},
		{"-3", true, 206, "hij", "bytes 17-19/20"},
		{"0-0", false, 206, "0", "bytes 0-0/20"},
		{"19-19", true, 206, "j", "bytes 19-19/20"},
		{"5-100", false, 200, data, ""},
		{"5-100", true, 206, data[5:], "bytes 5-19/20"},
		{"50-60", false, 200, data, ""},
		{"50-60", true, 416, "", ""},
		{"20-", true, 416, "", ""},
		{"-2000", false, 200, data, ""},
		{"-2000", true, 206, data, "bytes 0-19/20"},
		{"0-1,5-6", false, 200, data, ""},
		{"0-1,5-6", true, 416, "", ""},
		{"abc", false, 200, data, ""},
		{"abc", true, 416, "", ""},
		{"5-2", false, 200, data, ""},
		{"-0", true, 416, "", ""},
	}
	for _, s := range signings[:2] {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			_, mem, b := startWith(t, s, "bkt")
			mem.Put("bkt", "obj", []byte(data))
			for _, c := range cases {
				opts := []oss.Option{oss.NormalizedRange(c.rng)}
				if c.standard {
					opts = append(opts, oss.RangeBehavior("standard"))
				}
				res, err := b.DoGetObject(&oss.GetObjectRequest{ObjectKey: "obj"}, opts)
				if c.status == 416 {
					wantCode(t, err, "InvalidRange", 416)
					continue
				}
				if err != nil {
					t.Fatalf("%s standard=%v: %v", c.rng, c.standard, err)
				}
				body, _ := io.ReadAll(res.Response.Body)
				res.Response.Body.Close()
				if res.Response.StatusCode != c.status || string(body) != c.body ||
					res.Response.Headers.Get("Content-Range") != c.cr {
					t.Errorf("bytes=%s standard=%v: got %d %q Content-Range %q, want %d %q %q", c.rng, c.standard,
						res.Response.StatusCode, body, res.Response.Headers.Get("Content-Range"), c.status, c.body, c.cr)
				}
			}
		})
	}
}

func TestConditionalRequests(t *testing.T) {
	for _, s := range signings[:2] {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			_, mem, b := startWith(t, s, "bkt")
			mod := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
			mem.PutAt("bkt", "k", []byte("payload"), mod)
			h, err := b.GetObjectDetailedMeta("k")
			if err != nil {
				t.Fatal(err)
			}
			etag := h.Get("ETag")
			before, after := mod.Add(-time.Hour), mod.Add(time.Hour)

			get := func(opts ...oss.Option) error {
				rc, err := b.GetObject("k", opts...)
				if err == nil {
					io.Copy(io.Discard, rc)
					rc.Close()
				}
				return err
			}
			notModified := func(name string, err error) {
				t.Helper()
				// The SDK reports 304 as a plain error, not a ServiceError.
				if err == nil || !strings.Contains(err.Error(), "304") {
					t.Errorf("%s: got %v, want 304", name, err)
				}
			}
			ok := func(name string, err error) {
				t.Helper()
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			ok("If-Match", get(oss.IfMatch(etag)))
			wantCode(t, get(oss.IfMatch(`"0123456789ABCDEF0123456789ABCDEF"`)), "PreconditionFailed", 412)
			ok("If-Unmodified-Since later", get(oss.IfUnmodifiedSince(after)))
			ok("If-Unmodified-Since same", get(oss.IfUnmodifiedSince(mod)))
			wantCode(t, get(oss.IfUnmodifiedSince(before)), "PreconditionFailed", 412)
			notModified("If-None-Match", get(oss.IfNoneMatch(etag)))
			ok("If-None-Match other", get(oss.IfNoneMatch(`"0123456789ABCDEF0123456789ABCDEF"`)))
			notModified("If-Modified-Since same", get(oss.IfModifiedSince(mod)))
			ok("If-Modified-Since before", get(oss.IfModifiedSince(before)))

			// Order: If-Match first; a passing If-Match overrides If-Unmodified-Since.
			ok("If-Match+If-Unmodified-Since", get(oss.IfMatch(etag), oss.IfUnmodifiedSince(before)))
			wantCode(t, get(oss.IfMatch(`"X"`), oss.IfNoneMatch(etag)), "PreconditionFailed", 412)
			wantCode(t, get(oss.IfUnmodifiedSince(before), oss.IfNoneMatch(etag)), "PreconditionFailed", 412)
			notModified("If-None-Match+If-Modified-Since", get(oss.IfNoneMatch(etag), oss.IfModifiedSince(before)))

			_, err = b.GetObjectDetailedMeta("k", oss.IfMatch(`"X"`))
			wantCode(t, err, "PreconditionFailed", 412) // on HEAD through x-oss-err
		})
	}
}

func TestArchiveAndRestore(t *testing.T) {
	r, mem, b := startWith(t, signings[0], "bkt")
	mem.Put("bkt", "cold", []byte("frozen"))
	mem.Put("bkt", "cold2", []byte("frozen too"))
	r.SetStorageClass("bkt", "cold", "Archive")
	r.SetStorageClass("bkt", "cold2", "ColdArchive")

	_, err := b.GetObject("cold")
	wantCode(t, err, "InvalidObjectState", 403)
	h, err := b.GetObjectDetailedMeta("cold")
	if err != nil || h.Get("X-Oss-Storage-Class") != "Archive" {
		t.Fatalf("HEAD of archived object: %v, class %q", err, h.Get("X-Oss-Storage-Class"))
	}
	lr, err := b.ListObjects()
	if err != nil || len(lr.Objects) != 2 || lr.Objects[0].StorageClass != "Archive" {
		t.Fatalf("listing: %v %+v", err, lr.Objects)
	}

	if err := b.RestoreObject("cold"); err != nil { // POST ?restore
		t.Fatal(err)
	}
	r.Restore("bkt", "cold2")
	for _, k := range []string{"cold", "cold2"} {
		rc, err := b.GetObject(k)
		if err != nil {
			t.Fatalf("GET %s after restore: %v", k, err)
		}
		rc.Close()
	}
	h, _ = b.GetObjectDetailedMeta("cold")
	if !strings.Contains(h.Get("X-Oss-Restore"), `ongoing-request="false"`) {
		t.Errorf("x-oss-restore = %q", h.Get("X-Oss-Restore"))
	}
	r.SetStorageClass("bkt", "cold", "Standard")
	if h, _ := b.GetObjectDetailedMeta("cold"); h.Get("X-Oss-Storage-Class") != "Standard" {
		t.Errorf("class after reset: %q", h.Get("X-Oss-Storage-Class"))
	}
}

func TestReadOnly(t *testing.T) {
	_, _, b := startWith(t, signings[0], "bkt")
	err := b.PutObject("k", strings.NewReader("x"))
	wantCode(t, err, "AccessDenied", 403)
}
