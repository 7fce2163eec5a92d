package integration

import (
	"bytes"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/testutil"
)

// A file read through the mount from a server that flips a byte in half
// its bodies (its CRC64 header right) is not trusted once complete: the
// cache finds it disagrees with the CRC64 the GETs reported, counts it,
// and repairs it in the background, against the same server; a remount
// with the server healthy then returns the exact bytes, from a verified
// version.
func TestMountRepairsFlippedBytes(t *testing.T) {
	e := newMountEnv(t)
	data := e.put("flip.bin", testutil.RandomBytes(42, 8<<20+17))
	e.srv.SetFaults(ossserver.Faults{FlipByteFraction: 0.5})
	e.mountDefault()
	first := copyMounted(t, e.path("flip.bin"))
	if e.stats().FlippedBodies == 0 {
		t.Fatal("no body was flipped; the test proves nothing")
	}
	if bytes.Equal(first, data) {
		t.Log("the flipped bodies were all read ahead and not returned")
	}

	info, err := e.client.Stat(t.Context(), mountBucket, "flip.bin")
	if err != nil {
		t.Fatal(err)
	}
	verified := func() bool {
		h, err := e.cache.Open(t.Context(), info)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		return h.Verified()
	}
	// The repair runs against the same faulty server.
	testutil.Eventually(t, 60*time.Second, verified, "the cache to repair and verify the version")
	if n := e.cache.Stats().CRCMismatches; n != 1 {
		t.Errorf("CRC mismatches counted: %d, want 1", n)
	}
	e.unmount()
	e.srv.SetFaults(ossserver.Faults{})

	e.mountDefault()
	mustEqual(t, "read after the remount", copyMounted(t, e.path("flip.bin")), data)
	if !verified() {
		t.Error("the version is not verified after the remount")
	}
}
