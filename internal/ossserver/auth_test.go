package ossserver_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/ossserver/ossservertest"
)

func TestWrongCredentials(t *testing.T) {
	for _, s := range signings {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			var opts []func(*ossserver.Config)
			if s.sts {
				opts = append(opts, ossservertest.WithSessionToken())
			}
			r, mem, creds := ossservertest.Start(t, opts...)
			mem.Put("bkt", "k", []byte("v"))

			wrongSecret := creds
			wrongSecret.AccessKeySecret += "x"
			b := newBucket(t, r, wrongSecret, "bkt", s.opts...)
			_, err := b.GetObject("k")
			wantCode(t, err, "SignatureDoesNotMatch", 403)
			_, err = b.GetObjectDetailedMeta("k")
			wantCode(t, err, "SignatureDoesNotMatch", 403)
			_, err = b.ListObjectsV2()
			wantCode(t, err, "SignatureDoesNotMatch", 403)

			unknown := creds
			unknown.AccessKeyID = "LTAIunknown"
			_, err = newBucket(t, r, unknown, "bkt", s.opts...).GetObject("k")
			wantCode(t, err, "InvalidAccessKeyId", 403)

			wrongToken := creds
			wrongToken.SessionToken = "STS.other"
			_, err = newBucket(t, r, wrongToken, "bkt", s.opts...).GetObject("k")
			wantCode(t, err, "InvalidSecurityToken", 403)
			if s.sts { // the token is required when one is configured
				noToken := creds
				noToken.SessionToken = ""
				_, err = newBucket(t, r, noToken, "bkt", s.opts...).GetObject("k")
				wantCode(t, err, "InvalidSecurityToken", 403)
			}
			if st := r.Stats(); st.Gets != 3+btoi(s.sts) || st.BodyBytes != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func btoi(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func TestRequestTimeSkew(t *testing.T) {
	r, mem, creds := ossservertest.Start(t, ossservertest.WithSessionToken())
	mem.Put("bkt", "dir/k", []byte("v"))
	for _, c := range []struct {
		age  time.Duration
		code string
	}{
		{-20 * time.Minute, "RequestTimeTooSkewed"},
		{20 * time.Minute, "RequestTimeTooSkewed"},
		{-5 * time.Minute, ""},
		{5 * time.Minute, ""},
	} {
		req, _ := http.NewRequest("GET", r.Endpoint+"/bkt/dir%2Fk", nil)
		signV1(req, creds, "/bkt/dir/k", time.Now().Add(c.age))
		resp := do(t, req)
		if c.code == "" {
			if resp.StatusCode != 200 {
				t.Errorf("date off by %v: status %d, code %s", c.age, resp.StatusCode, errorCode(t, resp))
			}
			continue
		}
		if resp.StatusCode != 403 || errorCode(t, resp) != c.code {
			t.Errorf("date off by %v: status %d", c.age, resp.StatusCode)
		}
	}
}

func TestMissingAuthorization(t *testing.T) {
	r, mem, _ := ossservertest.Start(t)
	mem.Put("bkt", "k", []byte("v"))
	for _, path := range []string{"/bkt/k", "/bkt/", "/"} {
		resp := do(t, mustRequest(t, "GET", r.Endpoint+path))
		if resp.StatusCode != 403 || errorCode(t, resp) != "AccessDenied" {
			t.Errorf("%s: status %d", path, resp.StatusCode)
		}
	}
	resp := do(t, mustRequest(t, "HEAD", r.Endpoint+"/bkt/k"))
	if resp.StatusCode != 403 || resp.Header.Get("X-Oss-Err") == "" || resp.Header.Get("X-Oss-Request-Id") == "" {
		t.Errorf("HEAD: status %d, headers %v", resp.StatusCode, resp.Header)
	}
	req := mustRequest(t, "GET", r.Endpoint+"/bkt/k")
	req.Header.Set("Authorization", "OSS2 AccessKeyId:x,Signature:y")
	req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if resp := do(t, req); resp.StatusCode != 400 || errorCode(t, resp) != "InvalidArgument" {
		t.Errorf("unsupported scheme: status %d", resp.StatusCode)
	}
}

func mustRequest(t testing.TB, method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestAnonymous(t *testing.T) {
	mem := ossserver.NewMemStorage()
	mem.Put("bkt", "k", []byte("v"))
	r, err := ossserver.Listen("127.0.0.1:0", ossserver.Config{Storage: mem, Anonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	resp := do(t, mustRequest(t, "GET", r.Endpoint+"/bkt/k"))
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(body) != "v" {
		t.Errorf("anonymous GET: %d %q", resp.StatusCode, body)
	}
	if _, err := ossserver.New(ossserver.Config{Storage: mem}); err == nil {
		t.Error("New without credentials and without Anonymous succeeded")
	}
}

func TestV4Region(t *testing.T) {
	r, mem, creds := ossservertest.Start(t, func(c *ossserver.Config) { c.Region = "cn-shanghai" })
	mem.Put("bkt", "k", []byte("v"))
	for region, code := range map[string]string{"cn-shanghai": "", "cn-hangzhou": "InvalidArgument", "": "InvalidArgument"} {
		opts := []oss.ClientOption{oss.AuthVersion(oss.AuthV4)}
		if region != "" {
			opts = append(opts, oss.Region(region))
		}
		_, err := newBucket(t, r, creds, "bkt", opts...).GetObjectDetailedMeta("k")
		if code == "" && err != nil {
			t.Errorf("region %q: %v", region, err)
		} else if code != "" {
			wantCode(t, err, code, 400)
		}
	}
}

// TestVirtualHost addresses the bucket in the Host header, both from the
// SDK (a "localhost" endpoint without ForcePathStyle, dialled to the
// server) and from a raw request to "bucket.127.0.0.1:port".
func TestVirtualHost(t *testing.T) {
	r, mem, creds := ossservertest.Start(t)
	mem.Put("bkt", "dir/a b+c", []byte("hello"))
	dialer := &net.Dialer{}
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, r.Addr)
		},
	}}
	_, port, _ := net.SplitHostPort(r.Addr)
	for _, s := range signings[:2] {
		client, err := oss.New("http://localhost:"+port, creds.AccessKeyID, creds.AccessKeySecret,
			append([]oss.ClientOption{oss.HTTPClient(hc)}, s.opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := client.Bucket("bkt")
		rc, err := b.GetObject("dir/a b+c", oss.Range(1, 3))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if string(got) != "ell" {
			t.Errorf("%s: got %q", s.name, got)
		}
		res, err := b.ListObjects(oss.Prefix("dir/"))
		if err != nil || len(res.Objects) != 1 || res.Objects[0].Key != "dir/a b+c" {
			t.Errorf("%s: list %v %+v", s.name, err, res)
		}
		if _, err := client.GetBucketInfo("bkt"); err != nil {
			t.Errorf("%s: bucket info %v", s.name, err)
		}
	}

	req := mustRequest(t, "GET", r.Endpoint+"/dir%2Fa%20b%2Bc")
	req.Host = "bkt." + r.Addr
	signV1(req, creds, "/bkt/dir/a b+c", time.Now())
	resp := do(t, req)
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(body) != "hello" {
		t.Errorf("Host %s: %d %q", req.Host, resp.StatusCode, body)
	}
	req = mustRequest(t, "GET", r.Endpoint+"/?prefix=dir%2F")
	req.Host = "bkt." + r.Addr
	signV1(req, creds, "/bkt/", time.Now())
	resp = do(t, req)
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !strings.Contains(string(body), "<Key>dir/a b+c</Key>") {
		t.Errorf("virtual-host listing: %d %s", resp.StatusCode, body)
	}
}
