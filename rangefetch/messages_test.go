package rangefetch_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/ossserver/ossservertest"
	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

// assertOneLine fails unless msg is a single line that mentions every
// want and holds no XML.
func assertOneLine(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "<\n") {
		t.Errorf("%s: message holds XML or several lines: %q", what, msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%s: message %q does not mention %q", what, msg, w)
		}
	}
}

// startForeignServer answers every request with status and an HTML page,
// as a proxy or a web server mistaken for the endpoint would. It counts
// the requests.
func startForeignServer(t *testing.T, status int) (endpoint string, requests *atomic.Int64) {
	t.Helper()
	requests = new(atomic.Int64)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprint(w, "<html>\n<body><h1>not OSS</h1></body>\n</html>\n")
	}))
	t.Cleanup(ts.Close)
	return ts.URL, requests
}

func foreignClient(t *testing.T, endpoint string) *rangefetch.Client {
	t.Helper()
	c, err := rangefetch.New(rangefetch.Config{
		Endpoint:    endpoint,
		Credentials: rangefetch.Credentials{AccessKeyID: "LTAIforeign0000", AccessKeySecret: "secret"},
		Retry:       rangefetch.RetryPolicy{MaxAttempts: 3, BaseDelay: 1, MaxDelay: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestForeignErrorPageIsClassifiedByStatus(t *testing.T) {
	ctx := context.Background()
	ref := object.Ref{Bucket: testBucket, Key: "k", ETag: `"E"`}

	endpoint, requests := startForeignServer(t, http.StatusForbidden)
	c := foreignClient(t, endpoint)
	_, lerr := c.ListPage(ctx, testBucket, "", "", 0)
	rerr := c.ReadRange(ctx, ref, 0, 4, newObjectBuffer(4))
	for what, err := range map[string]error{"ListPage": lerr, "ReadRange": rerr} {
		if !errors.Is(err, rangefetch.ErrAccessDenied) || errors.Is(err, rangefetch.ErrRetriesExhausted) {
			t.Errorf("%s on a 403 page: %v, want ErrAccessDenied without retries", what, err)
		}
		assertOneLine(t, what, err, "403", "--endpoint")
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("%d requests for two calls: a 403 page was retried", n)
	}

	endpoint, requests = startForeignServer(t, http.StatusServiceUnavailable)
	c = foreignClient(t, endpoint)
	_, err := c.ListPage(ctx, testBucket, "", "", 0)
	if !errors.Is(err, rangefetch.ErrRetriesExhausted) || requests.Load() != 3 {
		t.Errorf("503 page: %v after %d requests, want ErrRetriesExhausted after 3", err, requests.Load())
	}
	assertOneLine(t, "503 page", err, "503")
}

func TestNonXMLListingIsABadResponse(t *testing.T) {
	endpoint, requests := startForeignServer(t, http.StatusOK)
	c := foreignClient(t, endpoint)
	_, err := c.ListPage(context.Background(), testBucket, "", "", 0)
	if !errors.Is(err, rangefetch.ErrBadResponse) {
		t.Fatalf("HTML listing: %v, want ErrBadResponse", err)
	}
	assertOneLine(t, "HTML listing", err, "--endpoint")
	if n := requests.Load(); n != 1 {
		t.Errorf("%d requests: a reply that is not XML was retried", n)
	}
}

func TestRefusedConnectionNamesTheEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := foreignClient(t, addr)
	_, err = c.Stat(context.Background(), testBucket, "k")
	assertOneLine(t, "refused", err, "connection refused", "--endpoint")
}

func TestWrongRegionNamesTheRegion(t *testing.T) {
	srv, store, creds := ossservertest.Start(t, func(c *ossserver.Config) { c.Region = "cn-beijing" })
	store.Put(testBucket, "k", []byte("data"))
	e := &env{srv: srv, store: store, creds: creds}
	c := e.newClient(t, func(c *rangefetch.Config) { c.Region = "cn-hangzhou" })
	_, err := c.Stat(context.Background(), testBucket, "k")
	assertOneLine(t, "wrong region", err, "OSS_REGION", "--region")
	if srv.Stats().Heads != 1 {
		t.Errorf("a refused region was retried: %+v", srv.Stats())
	}
}
