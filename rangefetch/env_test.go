package rangefetch_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ossmount/ossmount/rangefetch"
)

// TestNewFromEnvironment: endpoint "host:port" and credentials from the
// environment, the way the CLI runs without flags.
func TestNewFromEnvironment(t *testing.T) {
	e := newEnv(t, nil)
	t.Setenv("OSS_ENDPOINT", e.srv.Addr)
	t.Setenv("OSS_REGION", "")
	t.Setenv("OSS_ACCESS_KEY_ID", e.creds.AccessKeyID)
	t.Setenv("OSS_ACCESS_KEY_SECRET", e.creds.AccessKeySecret)
	t.Setenv("OSS_SESSION_TOKEN", e.creds.SessionToken)
	c, err := rangefetch.New(rangefetch.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Endpoint() != "http://"+e.srv.Addr {
		t.Fatalf("endpoint %s", c.Endpoint())
	}
	if err := c.CheckBucket(context.Background(), testBucket); err != nil {
		t.Fatal(err)
	}
}

func TestCredentialsFileClient(t *testing.T) {
	e := newEnv(t, nil)
	p := filepath.Join(t.TempDir(), "creds")
	body := "OSS_ACCESS_KEY_ID=" + e.creds.AccessKeyID + "\nOSS_ACCESS_KEY_SECRET=" + e.creds.AccessKeySecret + "\n"
	if e.creds.SessionToken != "" {
		body += "OSS_SESSION_TOKEN=" + e.creds.SessionToken + "\n"
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := rangefetch.LoadCredentialsFile(p)
	if err != nil {
		t.Fatal(err)
	}
	c := e.newClient(t, func(cfg *rangefetch.Config) { cfg.Credentials = creds })
	if err := c.CheckBucket(context.Background(), testBucket); err != nil {
		t.Fatal(err)
	}
}

// TestMetricsRegisteredOnce: many clients share the package's counters on
// the default registry, and reads move them.
func TestMetricsRegisteredOnce(t *testing.T) {
	e := newEnv(t, nil)
	e.store.Put(testBucket, "k", []byte("0123456789"))
	for range 3 {
		e.newClient(t, nil)
	}
	info, err := e.client.Stat(context.Background(), testBucket, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.ReadRange(context.Background(), info.Ref(), 0, 10, newObjectBuffer(10)); err != nil {
		t.Fatal(err)
	}
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "ossmount_rangefetch_") {
			continue
		}
		for _, m := range f.GetMetric() {
			found[f.GetName()] += m.GetCounter().GetValue()
		}
	}
	if found["ossmount_rangefetch_requests_total"] < 2 || found["ossmount_rangefetch_bytes_total"] < 10 {
		t.Fatalf("metrics: %v", found)
	}
}
