package materialize

import (
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after a generous
// deadline. It synchronises on state, never on elapsed time.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 30s")
		}
		time.Sleep(time.Millisecond)
	}
}
