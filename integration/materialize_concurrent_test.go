package integration

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/materialize"
)

// Two runs of one object in one process share the download: every byte
// crosses the network once and both files are exact.
func TestMaterializeConcurrentRunsInOneProcess(t *testing.T) {
	e := newMatEnv(t)
	size := 30*mib + 17
	data := e.put("c.bin", testutil.RandomBytes(40, size))
	e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 16 * mib})
	client := e.client()
	c := e.openCache(client)
	defer c.Close()

	dests := []string{e.dest("a"), e.dest("b"), e.dest("a")}
	var wg sync.WaitGroup
	results := make([]materialize.Result, len(dests))
	errs := make([]error, len(dests))
	for i, d := range dests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = materialize.Materialize(context.Background(), c, client,
				e.request(materialize.Request{Key: "c.bin", Dest: d, PartSize: mib, Threads: 4}), nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	assertFile(t, e.dest("a"), data)
	assertFile(t, e.dest("b"), data)
	assertNoTemps(t, e.outDir)
	if st := e.srv.Stats(); st.BodyBytes != int64(size) {
		t.Errorf("server sent %d body bytes for %d runs, want %d (each byte once)", st.BodyBytes, len(dests), size)
	}
}

// Another process's run is handed to the process owning the cache (here
// the test, as a mount would be), which does the work and streams progress.
func TestMaterializeDelegatesToCacheOwner(t *testing.T) {
	e := newMatEnv(t)
	size := 12*mib + 3
	data := e.put("d.bin", testutil.RandomBytes(41, size))
	client := e.client()
	c := e.openCache(client)
	defer c.Close()
	server, err := materialize.StartServer(context.Background(), c, client, e.log)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	dest := e.dest("d.bin")
	// The subprocess has neither a working endpoint nor credentials: only
	// the owner can fetch.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := e.bareCommand(ctx, "materialize", "--progress=json", "--endpoint", "127.0.0.1:1", "--cache-dir", e.cacheDir,
		"oss://"+matBucket+"/d.bin", dest)
	cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, "OSS_ACCESS_KEY") })
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("materialize through the owner: %v: %s", err, stderr.String())
	}
	assertFile(t, dest, data)
	if st := e.srv.Stats(); st.BodyBytes != int64(size) {
		t.Errorf("server sent %d body bytes, want %d", st.BodyBytes, size)
	}
	if !strings.Contains(string(out), `"done":`+strconv.Itoa(size)) {
		t.Errorf("no progress streamed back: %s", out)
	}

	// Errors keep their exit codes across the socket.
	r := e.run("oss://"+matBucket+"/nope", e.dest("nope"))
	if r.code != 3 {
		t.Errorf("missing object through the owner: exit %d, want 3; %s", r.code, r.stderr)
	}
}

// Ctrl-C of a delegating process cancels its request in the owner.
func TestMaterializeDelegatedRunStopsWithItsClient(t *testing.T) {
	e := newMatEnv(t)
	e.put("slow.bin", testutil.RandomBytes(42, 32*mib))
	e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 2 * mib})
	client := e.client()
	c := e.openCache(client)
	defer c.Close()
	server, err := materialize.StartServer(context.Background(), c, client, e.log)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	dest := e.dest("slow.bin")
	run := e.start("--threads", "2", "--part-size", "1MiB", "oss://"+matBucket+"/slow.bin", dest)
	run.waitProgress(t, func(p jsonProgress) bool { return p.Done > 0 })
	run.cmd.Process.Signal(os.Interrupt)
	if code := run.wait(t); code != 1 {
		t.Errorf("exit %d after Ctrl-C, want 1", code)
	}
	// Shutdown returns once the owner has nothing in flight, which it
	// reaches only by cancelling the abandoned request.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := server.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("the owner kept working for a client that had gone")
	}
	assertMissing(t, dest)
	assertNoTemps(t, e.outDir)
}

// Two materialize processes on one cache directory: the second finds the
// first owning the cache and hands its request over, so the object is
// downloaded once.
func TestMaterializeTwoProcessesFetchOnce(t *testing.T) {
	e := newMatEnv(t)
	size := 40*mib + 5
	data := e.put("two.bin", testutil.RandomBytes(43, size))
	e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 4 * mib})
	src := "oss://" + matBucket + "/two.bin"

	first := e.start("--threads", "4", "--part-size", "1MiB", src, e.dest("first"))
	// Once progress shows, the first process owns the cache and serves it.
	first.waitProgress(t, func(p jsonProgress) bool { return p.Done > 0 })
	second := e.start("--threads", "4", "--part-size", "1MiB", src, e.dest("second"))
	if code := second.wait(t); code != 0 {
		t.Fatalf("second: exit %d: %s", code, second.stderr)
	}
	if code := first.wait(t); code != 0 {
		t.Fatalf("first: exit %d: %s", code, first.stderr)
	}
	assertFile(t, e.dest("first"), data)
	assertFile(t, e.dest("second"), data)
	assertNoTemps(t, e.outDir)
	if st := e.srv.Stats(); st.BodyBytes != int64(size) {
		t.Errorf("server sent %d body bytes, want %d (once)", st.BodyBytes, size)
	}
}

// The object is replaced while the run fetches it: the GETs pinned to the
// old ETag fail with 412, and the run starts over with the new version
// rather than splicing the two.
func TestMaterializeObjectReplacedDuringRun(t *testing.T) {
	e := newMatEnv(t)
	e.put("moving.bin", testutil.RandomBytes(44, 16*mib))
	replacement := testutil.RandomBytes(45, 9*mib+1)
	e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 8 * mib})
	client := e.client()
	c := e.openCache(client)
	defer c.Close()

	var replaced atomic.Bool
	progress := func(done, total int64) {
		if done > 0 && total == 16*mib && !replaced.Swap(true) {
			e.put("moving.bin", replacement)
		}
	}
	dest := e.dest("moving.bin")
	res, err := materialize.Materialize(context.Background(), c, client,
		e.request(materialize.Request{Key: "moving.bin", Dest: dest, PartSize: mib, Threads: 1}), progress)
	if err != nil {
		t.Fatal(err)
	}
	if !replaced.Load() {
		t.Fatal("the object was never replaced")
	}
	assertFile(t, dest, replacement)
	if !res.Restarted || !strings.Contains(strings.Join(res.Notes, "\n"), "replaced") {
		t.Errorf("restart not reported: %+v", res)
	}
}
