package rangefetch_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

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
