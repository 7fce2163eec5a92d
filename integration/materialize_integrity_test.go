package integration

import (
	"errors"
	"os"
	"testing"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/materialize"
	"github.com/ossmount/ossmount/object"
)

// A server whose CRC64 header disagrees with the bytes: fresh and resumed
// runs both refuse, and DEST is never written.
func TestMaterializeRefusesWrongCRC(t *testing.T) {
	e := newMatEnv(t)
	e.put("crc.bin", testutil.RandomBytes(20, 6*mib+3))
	dest := e.dest("crc.bin")
	os.WriteFile(dest, []byte("previous"), 0o644)
	e.srv.SetFaults(ossserver.Faults{WrongCRC: true})

	t.Run("fresh", func(t *testing.T) {
		res, err := e.materialize(materialize.Request{Key: "crc.bin", Dest: dest})
		if !errors.Is(err, materialize.ErrIntegrity) {
			t.Fatalf("err = %v, want ErrIntegrity", err)
		}
		if !res.Refetched {
			t.Error("the run did not fetch again before giving up")
		}
		assertFile(t, dest, []byte("previous"))
		assertNoTemps(t, e.outDir)
	})

	t.Run("resumed", func(t *testing.T) {
		// Half the object cached by an earlier, healthy read.
		e.srv.SetFaults(ossserver.Faults{})
		e.prefill("crc.bin", object.Range{Off: 0, Len: 3 * mib})
		e.srv.SetFaults(ossserver.Faults{WrongCRC: true})
		_, err := e.materialize(materialize.Request{Key: "crc.bin", Dest: dest})
		if !errors.Is(err, materialize.ErrIntegrity) {
			t.Fatalf("err = %v, want ErrIntegrity", err)
		}
		assertFile(t, dest, []byte("previous"))
		assertNoTemps(t, e.outDir)
	})

	t.Run("fully cached", func(t *testing.T) {
		// Every block present and every one right: the wrong header alone
		// must still stop the run.
		e.srv.SetFaults(ossserver.Faults{})
		e.prefill("crc.bin", object.Range{Off: 0, Len: 6*mib + 3})
		e.srv.SetFaults(ossserver.Faults{WrongCRC: true})
		_, err := e.materialize(materialize.Request{Key: "crc.bin", Dest: dest})
		if !errors.Is(err, materialize.ErrIntegrity) {
			t.Fatalf("err = %v, want ErrIntegrity", err)
		}
		assertFile(t, dest, []byte("previous"))
	})
}

// Every body corrupted: never a wrong DEST.
func TestMaterializeNeverInstallsFlippedBytes(t *testing.T) {
	e := newMatEnv(t)
	e.put("flip.bin", testutil.RandomBytes(21, 7*mib+11))
	dest := e.dest("flip.bin")
	e.srv.SetFaults(ossserver.Faults{FlipByteFraction: 1})

	_, err := e.materialize(materialize.Request{Key: "flip.bin", Dest: dest, PartSize: mib})
	if !errors.Is(err, materialize.ErrIntegrity) {
		t.Fatalf("err = %v, want ErrIntegrity", err)
	}
	assertMissing(t, dest)
	assertNoTemps(t, e.outDir)
	// Nothing that failed the check stays cached for the mount or a rerun.
	e.srv.SetFaults(ossserver.Faults{})
	if n := e.cacheHolds("flip.bin"); n != 0 {
		t.Errorf("the cache kept %d bytes that failed the CRC64 check", n)
	}
}

// Some bodies corrupted: the run either recovers by refetching or refuses;
// it never installs wrong bytes.
func TestMaterializeSometimesFlippedBytes(t *testing.T) {
	e := newMatEnv(t)
	data := e.put("flip3.bin", testutil.RandomBytes(22, 6*mib))
	dest := e.dest("flip3.bin")
	e.srv.SetFaults(ossserver.Faults{FlipByteFraction: 0.3})

	_, err := e.materialize(materialize.Request{Key: "flip3.bin", Dest: dest, PartSize: mib})
	switch {
	case err == nil:
		assertFile(t, dest, data)
	case errors.Is(err, materialize.ErrIntegrity):
		assertMissing(t, dest)
	default:
		t.Fatalf("err = %v, want success or ErrIntegrity", err)
	}
	assertNoTemps(t, e.outDir)
}

// 503 SlowDown answers and bodies cut mid-way are retried (resuming the cut
// body) and the result is exact.
func TestMaterializeSurvivesSlowDownsAndCutBodies(t *testing.T) {
	e := newMatEnv(t)
	data := e.put("flaky.bin", testutil.RandomBytes(23, 20*mib+99))
	dest := e.dest("flaky.bin")
	e.srv.SetFaults(ossserver.Faults{SlowDownFraction: 0.3, CutBodyFraction: 0.3})

	res, err := e.materialize(materialize.Request{Key: "flaky.bin", Dest: dest, PartSize: 2 * mib})
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)
	st := e.srv.Stats()
	if st.SlowDowns == 0 && st.CutBodies == 0 {
		t.Error("no fault was injected; the test proves nothing")
	}
	if !res.Verified {
		t.Error("not verified")
	}
}
