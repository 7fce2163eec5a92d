package ossserver

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
)

// StartTest starts a server on 127.0.0.1 with a fresh MemStorage and fresh
// random credentials, and closes it when the test ends. It sets nothing
// global, so parallel tests each get their own server. Options adjust the
// Config before the server starts (for example to set a session token).
func StartTest(t testing.TB, opts ...func(*Config)) (*Running, *MemStorage, Credentials) {
	t.Helper()
	mem := NewMemStorage()
	cfg := Config{
		Storage: mem,
		Credentials: Credentials{
			AccessKeyID:     "LTAI" + randomHex(8),
			AccessKeySecret: randomHex(15),
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	r, err := Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("ossserver: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r, mem, cfg.Credentials
}

// WithSessionToken makes StartTest require STS-style requests carrying a
// fresh random security token, which it puts into the returned Credentials.
func WithSessionToken() func(*Config) {
	return func(c *Config) { c.Credentials.SessionToken = "STS." + randomHex(16) }
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
