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

// Every body corrupted: never a wrong DEST. Blocks fetched twice alike are
// kept, so a rerun against a healthy server fetches only the others.
func TestMaterializeNeverInstallsFlippedBytes(t *testing.T) {
	e := newMatEnv(t)
	data := e.put("flip.bin", testutil.RandomBytes(21, 7*mib+11))
	dest := e.dest("flip.bin")
	e.srv.SetFaults(ossserver.Faults{FlipByteFraction: 1})

	_, err := e.materialize(materialize.Request{Key: "flip.bin", Dest: dest, PartSize: mib})
	if !errors.Is(err, materialize.ErrIntegrity) {
		t.Fatalf("err = %v, want ErrIntegrity", err)
	}
	assertMissing(t, dest)
	assertNoTemps(t, e.outDir)

	e.srv.SetFaults(ossserver.Faults{})
	res, err := e.materialize(materialize.Request{Key: "flip.bin", Dest: dest})
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)
	if !res.Verified || res.Refetched {
		t.Errorf("rerun: verified %v, refetched %v; want verified at once", res.Verified, res.Refetched)
	}
}

// 30% of the bodies corrupted (the server's fault dice are seeded, so the
// run is the same every time): one run repairs by agreement and installs
// the exact object, fetching at most 4x its size in all.
func TestMaterializeRepairsFlippedBytes(t *testing.T) {
	e := newMatEnv(t)
	data := e.put("flip3.bin", testutil.RandomBytes(22, 24*mib))
	dest := e.dest("flip3.bin")
	e.srv.SetFaults(ossserver.Faults{FlipByteFraction: 0.3})

	res, err := e.materialize(materialize.Request{Key: "flip3.bin", Dest: dest, PartSize: mib})
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)
	st := e.srv.Stats()
	if st.FlippedBodies == 0 || !res.Refetched || !res.Verified {
		t.Errorf("flipped bodies %d, refetched %v, verified %v: the repair was not exercised", st.FlippedBodies, res.Refetched, res.Verified)
	}
	if st.BodyBytes > 4*int64(len(data)) {
		t.Errorf("the server sent %d bytes for an object of %d: more than 4x", st.BodyBytes, len(data))
	}
	t.Logf("server sent %.2fx the object; %d of %d bodies flipped", float64(st.BodyBytes)/float64(len(data)), st.FlippedBodies, st.Gets)
	// The cache's own check, which may have done the repair, let go of
	// the version in time for the run to move its file into place.
	if res.Install != materialize.InstallMove && res.Install != materialize.InstallReflink {
		t.Errorf("installed by %s, want a move (or a reflink) on the same filesystem", res.Install)
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
