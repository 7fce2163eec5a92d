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

// An error page that is not OSS's says that the endpoint is not OSS,
// naming it, whatever its status: a 403 or 404 from a web server says
// nothing about the object. Only a status that may pass is retried.
func TestForeignErrorPageSaysNotOSS(t *testing.T) {
	ctx := context.Background()
	ref := object.Ref{Bucket: testBucket, Key: "k", ETag: `"E"`}

	for _, status := range []int{http.StatusForbidden, http.StatusNotFound} {
		endpoint, requests := startForeignServer(t, status)
		c := foreignClient(t, endpoint)
		_, lerr := c.ListPage(ctx, testBucket, "", "", 0)
		rerr := c.ReadRange(ctx, ref, 0, 4, newObjectBuffer(4))
		_, serr := c.Stat(ctx, testBucket, "k") // a HEAD: no body at all
		for what, err := range map[string]error{"ListPage": lerr, "ReadRange": rerr, "Stat": serr} {
			if !errors.Is(err, rangefetch.ErrNotOSS) || errors.Is(err, rangefetch.ErrNotFound) ||
				errors.Is(err, rangefetch.ErrAccessDenied) || errors.Is(err, rangefetch.ErrRetriesExhausted) {
				t.Errorf("%s on a %d page: %v, want ErrNotOSS without retries", what, status, err)
			}
			assertOneLine(t, what, err, fmt.Sprint(status), "does not look like OSS", endpoint, "--endpoint")
		}
		if n := requests.Load(); n != 3 {
			t.Errorf("%d requests for three calls: a %d page was retried", n, status)
		}
	}

	endpoint, requests := startForeignServer(t, http.StatusServiceUnavailable)
	c := foreignClient(t, endpoint)
	_, err := c.ListPage(ctx, testBucket, "", "", 0)
	if !errors.Is(err, rangefetch.ErrRetriesExhausted) || requests.Load() != 3 {
		t.Errorf("503 page: %v after %d requests, want ErrRetriesExhausted after 3", err, requests.Load())
	}
	assertOneLine(t, "503 page", err, "503", "an OSS service?", endpoint)
}

// https:// to a server without TLS fails at once, saying so: a plain-HTTP
// server gets the advice to use http://.
func TestNoTLSAtTheEndpointIsPermanent(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(ts.Close)
	host := strings.TrimPrefix(ts.URL, "http://")
	c := foreignClient(t, "https://"+host)
	_, err := c.Stat(context.Background(), testBucket, "k")
	if errors.Is(err, rangefetch.ErrRetriesExhausted) || strings.Contains(fmt.Sprint(err), "attempts") {
		t.Errorf("https:// to plain HTTP was retried: %v", err)
	}
	assertOneLine(t, "https to plain HTTP", err, "does not speak TLS", "--endpoint http://"+host)

	// Something that is not HTTP either.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(conn, "SSH-2.0-OpenSSH_9.6\r\n")
			conn.Close()
		}
	}()
	c = foreignClient(t, "https://"+ln.Addr().String())
	_, err = c.Stat(context.Background(), testBucket, "k")
	if errors.Is(err, rangefetch.ErrRetriesExhausted) || strings.Contains(fmt.Sprint(err), "attempts") {
		t.Errorf("https:// to a server without TLS was retried: %v", err)
	}
	assertOneLine(t, "https to no TLS", err, "does not speak TLS", "--endpoint")
}

func TestNonXMLListingIsNotOSS(t *testing.T) {
	endpoint, requests := startForeignServer(t, http.StatusOK)
	c := foreignClient(t, endpoint)
	_, err := c.ListPage(context.Background(), testBucket, "", "", 0)
	if !errors.Is(err, rangefetch.ErrNotOSS) {
		t.Fatalf("HTML listing: %v, want ErrNotOSS", err)
	}
	assertOneLine(t, "HTML listing", err, "does not look like OSS", endpoint, "--endpoint")
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
