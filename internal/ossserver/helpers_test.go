package ossserver_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"hash/crc64"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/ossserver/ossservertest"
)

// signing is one way of signing requests the tests run with.
type signing struct {
	name string
	opts []oss.ClientOption
	sts  bool
}

var signings = []signing{
	{name: "V1"},
	{name: "V4", opts: []oss.ClientOption{oss.AuthVersion(oss.AuthV4), oss.Region("cn-hangzhou")}},
	{name: "V4-STS", opts: []oss.ClientOption{oss.AuthVersion(oss.AuthV4), oss.Region("cn-hangzhou")}, sts: true},
	{name: "V1-STS", sts: true},
}

// newBucket returns an SDK bucket handle for a server.
func newBucket(t testing.TB, r *ossserver.Running, c ossserver.Credentials, bucket string, opts ...oss.ClientOption) *oss.Bucket {
	t.Helper()
	if c.SessionToken != "" {
		opts = append(opts, oss.SecurityToken(c.SessionToken))
	}
	client, err := oss.New(r.Endpoint, c.AccessKeyID, c.AccessKeySecret, opts...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := client.Bucket(bucket)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startWith starts a test server for a signing method and returns a bucket
// handle that signs that way.
func startWith(t testing.TB, s signing, bucket string) (*ossserver.Running, *ossserver.MemStorage, *oss.Bucket) {
	t.Helper()
	var opts []func(*ossserver.Config)
	if s.sts {
		opts = append(opts, ossservertest.WithSessionToken())
	}
	r, mem, creds := ossservertest.Start(t, opts...)
	mem.CreateBucket(bucket)
	return r, mem, newBucket(t, r, creds, bucket, s.opts...)
}

// serviceCode returns the OSS error code and HTTP status of err.
func serviceCode(err error) (string, int) {
	var se oss.ServiceError
	if errors.As(err, &se) {
		return se.Code, se.StatusCode
	}
	return "", 0
}

// signV1 signs req the OSS V1 way for resource ("/bucket/key") at date,
// independently of the SDK, so tests can send what the SDK cannot (an old
// Date, a virtual-host Host header).
func signV1(req *http.Request, c ossserver.Credentials, resource string, date time.Time) {
	req.Header.Set("Date", date.UTC().Format(http.TimeFormat))
	if c.SessionToken != "" {
		req.Header.Set("X-Oss-Security-Token", c.SessionToken)
	}
	var oss []string
	for k := range req.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-oss-") {
			oss = append(oss, lk+":"+req.Header.Get(k)+"\n")
		}
	}
	sort.Strings(oss)
	sts := req.Method + "\n\n\n" + req.Header.Get("Date") + "\n" + strings.Join(oss, "") + resource
	m := hmac.New(sha1.New, []byte(c.AccessKeySecret))
	m.Write([]byte(sts))
	req.Header.Set("Authorization", "OSS "+c.AccessKeyID+":"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
}

// errorCode reads the Code of an OSS error response body.
func errorCode(t testing.TB, resp *http.Response) string {
	t.Helper()
	var e struct{ Code string }
	body, _ := io.ReadAll(resp.Body)
	if err := xml.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e.Code
}

// do sends req with a fresh client and returns the response.
func do(t testing.TB, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// crc returns the CRC-64/ECMA OSS reports.
func crc(b []byte) uint64 { return crc64.Checksum(b, crc64.MakeTable(crc64.ECMA)) }

// wantCode fails unless err is an OSS service error with code and status.
func wantCode(t testing.TB, err error, code string, status int) {
	t.Helper()
	gotCode, gotStatus := serviceCode(err)
	if gotCode != code || gotStatus != status {
		t.Fatalf("got error %v (code %q, status %d), want %s %d", err, gotCode, gotStatus, code, status)
	}
}
