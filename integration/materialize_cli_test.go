package integration

import (
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/object"
)

func TestMaterializeCLIExactWithJSONProgress(t *testing.T) {
	e := newMatEnv(t)
	data := e.put("cli/obj.bin", testutil.RandomBytes(30, 11*mib+1))
	dest := e.dest("obj.bin")

	r := e.run("--progress=json", "--threads", "4", "--part-size", "2MiB", "oss://"+matBucket+"/cli/obj.bin", dest)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	assertFile(t, dest, data)
	assertNoTemps(t, e.outDir)

	// One JSON object per line; the total is null until the size is known,
	// done never goes down, and the last line carries the result.
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) < 3 {
		t.Fatalf("only %d progress lines", len(lines))
	}
	var prev int64
	var sawUnknown bool
	var last jsonProgress
	for _, l := range lines {
		var p jsonProgress
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		if p.Total == nil {
			sawUnknown = true
		} else if *p.Total != int64(len(data)) {
			t.Fatalf("total %d, want %d", *p.Total, len(data))
		}
		if p.Done < prev {
			t.Fatalf("done went down: %d after %d", p.Done, prev)
		}
		prev, last = p.Done, p
	}
	if !sawUnknown {
		t.Error("no line with an unknown total")
	}
	if last.Done != int64(len(data)) || last.Result == nil || !last.Result.Verified {
		t.Errorf("last line %+v", last)
	}
}

func TestMaterializeCLIUsageErrors(t *testing.T) {
	e := newMatEnv(t)
	e.put("u.bin", []byte("x"))
	src, dest := "oss://"+matBucket+"/u.bin", e.dest("u.bin")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--part-size", "50KB", src, dest}, "--part-size"},
		{[]string{"--part-size", "6GB", src, dest}, "--part-size"},
		{[]string{"--part-size", "lots", src, dest}, "--part-size"},
		{[]string{"--threads", "0", src, dest}, "--threads"},
		{[]string{"--progress", "fancy", src, dest}, "--progress"},
		{[]string{"--verify", "md5", src, dest}, "--verify"},
		{[]string{"--multiget-threshold", "big", src, dest}, "--multiget-threshold"},
		{[]string{"--no-such-flag", src, dest}, "no-such-flag"},
		{[]string{"--sign-version", "3", src, dest}, "--sign-version"},
		{[]string{src}, "2 argument"},
		{[]string{"s3://bucket/key", dest}, "SOURCE"},
		{[]string{"oss://" + matBucket + "/", dest}, "not an object"},
	}
	for _, c := range cases {
		r := e.run(c.args...)
		if r.code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", c.args, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%q: stderr %q should be one line mentioning %q", c.args, r.stderr, c.want)
		}
	}
	assertMissing(t, dest)
	if st := e.srv.Stats(); st.Gets+st.Heads != 0 {
		t.Errorf("usage errors reached the server: %+v", st)
	}
}

func TestMaterializeCLIExitCodes(t *testing.T) {
	e := newMatEnv(t)
	e.put("e.bin", testutil.RandomBytes(31, 2*mib))
	src := "oss://" + matBucket + "/e.bin"

	t.Run("missing object exits 3", func(t *testing.T) {
		r := e.run("--progress=none", "oss://"+matBucket+"/missing.bin", e.dest("missing"))
		if r.code != 3 || !strings.Contains(r.stderr, "not found") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
		assertMissing(t, e.dest("missing"))
	})
	t.Run("wrong CRC exits 4", func(t *testing.T) {
		e.srv.SetFaults(ossserver.Faults{WrongCRC: true})
		defer e.srv.SetFaults(ossserver.Faults{})
		before := e.srv.Stats().BodyBytes
		r := e.run("--progress=plain", src, e.dest("crc"))
		if r.code != 4 || !strings.Contains(r.stderr, "CRC64") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
		// Two passes that agree on every block end it.
		if got := e.srv.Stats().BodyBytes - before; got > 2*2*mib {
			t.Errorf("fetched %d bytes of a %d-byte object before giving up; want at most two passes", got, 2*mib)
		}
		assertMissing(t, e.dest("crc"))
		assertNoTemps(t, e.outDir)
	})
	t.Run("wrong CRC on a resumed run exits 4", func(t *testing.T) {
		e.prefill("e.bin", object.Range{Off: 0, Len: mib})
		e.srv.SetFaults(ossserver.Faults{WrongCRC: true})
		defer e.srv.SetFaults(ossserver.Faults{})
		dest := e.dest("crc-resumed")
		os.WriteFile(dest, []byte("previous"), 0o644)
		r := e.run("--progress=none", src, dest)
		if r.code != 4 {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
		assertFile(t, dest, []byte("previous"))
		assertNoTemps(t, e.outDir)
	})
	t.Run("no-clobber exits 6", func(t *testing.T) {
		dest := e.dest("exists")
		os.WriteFile(dest, []byte("mine"), 0o644)
		r := e.run("--no-clobber", src, dest)
		if r.code != 6 || !strings.Contains(r.stderr, "no-clobber") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
		assertFile(t, dest, []byte("mine"))
	})
	t.Run("unwritable destination exits 6", func(t *testing.T) {
		r := e.run(src, e.dest("no/such/dir/file"))
		if r.code != 6 {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

// kill -9 half-way, then run again: only the missing parts are fetched,
// the result is exact, and nothing is left beside DEST.
func TestMaterializeCLIResumesAfterKill9(t *testing.T) {
	e := newMatEnv(t)
	size := 48*mib + 4321
	data := e.put("k9.bin", testutil.RandomBytes(32, size))
	dest := e.dest("k9.bin")
	src := "oss://" + matBucket + "/k9.bin"
	// Slow enough that the run is far from done when the first part lands.
	e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 4 * mib})

	run := e.start("--threads", "4", "--part-size", "1MiB", src, dest)
	p := run.waitProgress(t, func(p jsonProgress) bool { return p.Done > 0 && p.Total != nil })
	if err := run.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	run.wait(t)
	if p.Done >= int64(size) {
		t.Fatalf("the run finished before it could be killed")
	}
	assertMissing(t, dest)
	// A kill during the install would have left this; the rerun removes it.
	stale := dest + ".ossmount-tmp-00000000deadbeef"
	os.WriteFile(stale, data[:1000], 0o644)

	e.srv.SetFaults(ossserver.Faults{})
	e.srv.ResetStats()
	r := e.run("--progress=plain", src, dest)
	if r.code != 0 {
		t.Fatalf("rerun: exit %d: %s", r.code, r.stderr)
	}
	assertFile(t, dest, data)
	assertNoTemps(t, e.outDir)
	st := e.srv.Stats()
	if st.BodyBytes >= int64(size) {
		t.Errorf("the rerun fetched %d bytes: nothing was resumed (object %d bytes)", st.BodyBytes, size)
	}
	if st.BodyBytes > int64(size)-p.Done {
		t.Errorf("the rerun fetched %d bytes, more than the %d the killed run had not reported", st.BodyBytes, int64(size)-p.Done)
	}
}

// Ctrl-C stops the run, exits non-zero and leaves nothing beside DEST.
func TestMaterializeCLIInterruptCleansUp(t *testing.T) {
	e := newMatEnv(t)
	e.put("int.bin", testutil.RandomBytes(33, 32*mib))
	dest := e.dest("int.bin")
	e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 2 * mib})

	run := e.start("--threads", "2", "--part-size", "1MiB", "oss://"+matBucket+"/int.bin", dest)
	run.waitProgress(t, func(p jsonProgress) bool { return p.Done > 0 })
	run.cmd.Process.Signal(os.Interrupt)
	if code := run.wait(t); code != 1 {
		t.Errorf("exit %d after Ctrl-C, want 1", code)
	}
	if !strings.Contains(run.stderr.String(), "interrupted") {
		t.Errorf("stderr %q", run.stderr)
	}
	assertMissing(t, dest)
	assertNoTemps(t, e.outDir)
}

// A rerun after the object changed says that it drops the old blocks.
func TestMaterializeCLIReportsObjectChanged(t *testing.T) {
	e := newMatEnv(t)
	e.put("chg.bin", testutil.RandomBytes(34, 5*mib))
	e.prefill("chg.bin", object.Range{Off: 0, Len: 2 * mib})
	data := e.put("chg.bin", testutil.RandomBytes(35, 5*mib))
	dest := e.dest("chg.bin")
	r := e.run("--progress=none", "oss://"+matBucket+"/chg.bin", dest)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	assertFile(t, dest, data)
	want := "changed since the last run: discarding 2097152 cached bytes of the old version"
	if n := strings.Count(r.stderr, want); n != 1 {
		t.Errorf("stderr %q: want one line saying %q", r.stderr, want)
	}
	r = e.run("--progress=none", "oss://"+matBucket+"/chg.bin", e.dest("again.bin"))
	if r.code != 0 || strings.Contains(r.stderr, "changed since") {
		t.Errorf("unchanged object: exit %d, stderr %q", r.code, r.stderr)
	}
}
