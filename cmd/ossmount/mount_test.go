package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/ossmount/ossmount/cache"
)

// Without --metrics-addr nothing registers: the registerer is a nil
// interface, not a nil registry inside one.
func TestNoMetricsEndpoint(t *testing.T) {
	m := newMetricsEndpoint("")
	if m != nil {
		t.Fatalf("endpoint %+v for no address", m)
	}
	if r := m.registerer(); r != nil {
		t.Fatalf("registerer %#v, want nil", r)
	}
}

// The endpoint serves what registers on its registry, labelled, beside the
// Go runtime's figures.
func TestMetricsEndpointServesItsRegistry(t *testing.T) {
	m := newMetricsEndpoint("127.0.0.1:0")
	dir := t.TempDir()
	c, err := cache.Open(cache.Options{Dir: dir, MinFreeRatio: -1, Metrics: m.registerer()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ln, err := net.Listen("tcp", m.addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := serveMetrics(ln, m.registry, slog.New(slog.DiscardHandler), false)
	defer srv.Close()

	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`ossmount_cache_hit_bytes_total{cache_dir="` + c.Dir() + `"} 0`,
		"go_goroutines ",
	} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("/metrics lacks %q:\n%s", want, body)
		}
	}
}
