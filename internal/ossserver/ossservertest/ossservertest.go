// Package ossservertest starts the local OSS-compatible server inside a Go
// test, in the manner of net/http/httptest: a fresh in-memory bucket store,
// fresh random credentials, a free loopback port, and a cleanup that closes
// it when the test ends. It is the only place that links package testing
// with the server, so the ossmount binary (which ships the server for
// `ossmount serve` and `ossmount demo`) does not.
package ossservertest

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/ossmount/ossmount/internal/ossserver"
)

// Start starts a server on 127.0.0.1 with a fresh MemStorage and fresh
// random credentials, and closes it when the test ends. It sets nothing
// global, so parallel tests each get their own server. Options adjust the
// Config before the server starts (for example to set a session token).
func Start(t testing.TB, opts ...func(*ossserver.Config)) (*ossserver.Running, *ossserver.MemStorage, ossserver.Credentials) {
	t.Helper()
	mem := ossserver.NewMemStorage()
	cfg := ossserver.Config{
		Storage: mem,
		Credentials: ossserver.Credentials{
			AccessKeyID:     "LTAI" + randomHex(8),
			AccessKeySecret: randomHex(15),
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	r, err := ossserver.Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("ossserver: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r, mem, cfg.Credentials
}

// WithSessionToken makes Start require STS-style requests carrying a
// fresh random security token, which it puts into the returned Credentials.
func WithSessionToken() func(*ossserver.Config) {
	return func(c *ossserver.Config) { c.Credentials.SessionToken = "STS." + randomHex(16) }
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
