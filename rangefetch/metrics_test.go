package rangefetch_test

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/rangefetch"
)

// read fetches the first n bytes of key through c.
func read(t *testing.T, c *rangefetch.Client, key string, n int64) {
	t.Helper()
	info, err := c.Stat(context.Background(), testBucket, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ReadRange(context.Background(), info.Ref(), 0, n, newObjectBuffer(info.Size)); err != nil {
		t.Fatal(err)
	}
}

// Two clients of two endpoints share a registry, each counting its own
// requests and bytes under its endpoint; Close takes a client's series away.
func TestMetricsOfTwoClientsOnOneRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	register := func(cfg *rangefetch.Config) { cfg.Metrics = reg }
	a, b := newEnv(t, register), newEnv(t, register)
	a.store.Put(testBucket, "k", []byte("0123456789"))
	b.store.Put(testBucket, "k", []byte("0123456789"))
	read(t, a.client, "k", 10)
	read(t, b.client, "k", 4)
	read(t, b.client, "k", 4)

	bytes := testutil.SeriesByLabel(t, reg, "ossmount_rangefetch_bytes_total", "endpoint")
	ea, eb := a.client.Endpoint(), b.client.Endpoint()
	if len(bytes) != 2 || bytes[ea] != 10 || bytes[eb] != 8 {
		t.Fatalf("bytes by endpoint %v, want %s=10 and %s=8", bytes, ea, eb)
	}
	requests := testutil.SeriesByLabel(t, reg, "ossmount_rangefetch_requests_total", "endpoint")
	if len(requests) != 2 || requests[ea] != 2 || requests[eb] != 4 {
		t.Fatalf("requests by endpoint %v, want %s=2 and %s=4", requests, ea, eb)
	}

	a.client.Close()
	if bytes := testutil.SeriesByLabel(t, reg, "ossmount_rangefetch_bytes_total", "endpoint"); len(bytes) != 1 || bytes[eb] != 8 {
		t.Fatalf("after closing the first client: %v", bytes)
	}
	// The endpoint is free again for a new client.
	c := a.newClient(t, register)
	read(t, c, "k", 3)
	a.client.Close() // a second Close must not take the new client's series
	if bytes := testutil.SeriesByLabel(t, reg, "ossmount_rangefetch_bytes_total", "endpoint"); bytes[ea] != 3 {
		t.Fatalf("after a new client of the first endpoint: %v", bytes)
	}
}

// A second client of the same endpoint on the same registry is refused
// with the registry's error; two are accepted when each is told apart by a
// wrapped Registerer.
func TestMetricsOfOneEndpointTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, nil)
	cfg := func(m prometheus.Registerer) rangefetch.Config {
		return rangefetch.Config{
			Endpoint: e.srv.Endpoint,
			Credentials: rangefetch.Credentials{
				AccessKeyID: e.creds.AccessKeyID, AccessKeySecret: e.creds.AccessKeySecret, SessionToken: e.creds.SessionToken,
			},
			Retry:   fastRetry,
			Metrics: m,
		}
	}
	first, err := rangefetch.New(cfg(reg))
	if err != nil {
		t.Fatal(err)
	}
	_, err = rangefetch.New(cfg(reg))
	var dup prometheus.AlreadyRegisteredError
	if !errors.As(err, &dup) {
		t.Fatalf("second client of one endpoint: %v, want prometheus.AlreadyRegisteredError", err)
	}
	first.Close()

	// A registry keeps the label names of a metric once seen, even
	// unregistered: the wrapped pair registers on a registry of its own.
	reg = prometheus.NewRegistry()
	e.store.Put(testBucket, "k", []byte("0123456789"))
	for _, name := range []string{"one", "three"} {
		c, err := rangefetch.New(cfg(prometheus.WrapRegistererWith(prometheus.Labels{"client": name}, reg)))
		if err != nil {
			t.Fatalf("client %s: %v", name, err)
		}
		t.Cleanup(func() { c.Close() })
		read(t, c, "k", int64(len(name)))
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byClient := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "ossmount_rangefetch_bytes_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "client" {
					byClient[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	if len(byClient) != 2 || byClient["one"] != 3 || byClient["three"] != 5 {
		t.Fatalf("bytes by client %v, want one=3 and three=5", byClient)
	}
}
