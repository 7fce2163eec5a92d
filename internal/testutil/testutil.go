// Package testutil holds what the tests of every ossmount package share:
// waiting for a condition with a deadline, repeatable pseudo-random bytes
// and a log buffer that tests read while other goroutines write.
//
// Only tests import it, so it may import testing. It imports no ossmount
// package, so that the internal tests of any package, the lowest included,
// can use it without an import cycle.
package testutil

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// Eventually polls cond until it returns true and fails the test if it
// still returns false after timeout; what names the awaited state in the
// failure. It waits on state, never on elapsed time: the pause between
// polls starts at a millisecond, so a condition that holds soon is seen at
// once, and grows to 10 ms, so a long wait does not spin.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pause) // polling interval, not synchronisation
		pause = min(2*pause, 10*time.Millisecond)
	}
}

// RandomBytes returns n pseudo-random bytes that depend only on seed: the
// same seed gives the same bytes on every run and machine, different seeds
// give unrelated bytes.
func RandomBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// LogBuffer is an io.Writer that keeps everything written to it, for a
// test to read while a logger or a child process writes. It is safe for
// concurrent use; the zero value is ready.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p. It never fails.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
