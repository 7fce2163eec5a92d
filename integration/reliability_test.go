package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/ossserver/ossservertest"
	"github.com/ossmount/ossmount/internal/testutil"
)

// The reliability figures: the built ossmount, through real FUSE mounts and
// materialize runs, against the local server's faults, each run under a
// deadline. It prints two Markdown tables (bench/reliability.sh runs it and
// the README quotes them) and asserts nothing: a row that misses its goal
// is a figure to report, not a failure of the suite. It runs only with
// OSSMOUNT_RELIABILITY=1, and takes a few minutes.

const (
	relBucket     = "reliability"
	relObjectSize = 4 << 20
	relMountWait  = 30 * time.Second // mount, unmount and each CLI run
	relReadWait   = 60 * time.Second // one whole read or materialize run
	relCloseWait  = 15 * time.Second // unmount of a mount whose cache vanished
)

// relRow is one line of the fault table.
type relRow struct {
	name      string
	runs      int
	wrong     int64 // bytes returned or installed that differ from the source
	hung      int   // runs past their deadline, killed
	failed    int   // runs that ended in an error (not a goal: faults may fail reads)
	refetched int64 // server body bytes beyond the object sizes the runs needed
	notes     []string
	elapsed   time.Duration
}

func (r *relRow) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	for _, n := range r.notes {
		if n == s {
			return
		}
	}
	if len(r.notes) < 4 {
		r.notes = append(r.notes, s)
	}
}

// relInput is one line of the bad-input table.
type relInput struct {
	what  string
	code  int
	hung  bool
	first string
}

// relEnv is the server, its one bucket and the scratch space of the runs.
type relEnv struct {
	t     *testing.T
	srv   *ossserver.Running
	mem   *ossserver.MemStorage
	creds ossserver.Credentials
	dir   string
	data  []byte
	rng   *rand.Rand
	seq   int
}

func TestReliabilityFigures(t *testing.T) {
	if os.Getenv("OSSMOUNT_RELIABILITY") != "1" {
		t.Skip("the reliability figures run only with OSSMOUNT_RELIABILITY=1 (bench/reliability.sh)")
	}
	requireFUSE(t)
	if os.Geteuid() != 0 {
		t.Skip("the reliability figures need root (tmpfs and read-only mounts)")
	}
	srv, mem, creds := ossservertest.Start(t)
	mem.CreateBucket(relBucket)
	e := &relEnv{t: t, srv: srv, mem: mem, creds: creds, dir: t.TempDir(),
		data: testutil.RandomBytes(1, relObjectSize), rng: rand.New(rand.NewPCG(12, 34))}
	e.mem.Put(relBucket, "object.bin", e.data)
	ossmountBinary(t)

	kills := 20
	if s := os.Getenv("OSSMOUNT_RELIABILITY_KILLS"); s != "" {
		kills, _ = strconv.Atoi(s)
	}
	faultRuns := 5

	var rows []relRow
	faults := []struct {
		name string
		f    ossserver.Faults
	}{
		{"503 SlowDown on 30% of GETs", ossserver.Faults{SlowDownFraction: 0.3}},
		{"30% of bodies cut mid-way", ossserver.Faults{CutBodyFraction: 0.3}},
		{"stalls: 2 s before each first byte, 1 MiB/s per body", ossserver.Faults{FirstByteLatency: 2 * time.Second, BytesPerSecond: 1 << 20}},
		{"one byte flipped in 50% of bodies", ossserver.Faults{FlipByteFraction: 0.5}},
		{"one byte flipped in 30% of bodies", ossserver.Faults{FlipByteFraction: 0.3}},
		{"wrong x-oss-hash-crc64ecma", ossserver.Faults{WrongCRC: true}},
	}
	add := func(measure func() relRow) {
		start := time.Now()
		r := measure()
		r.elapsed = time.Since(start)
		t.Logf("%s: %s", r.name, r.elapsed.Round(time.Second))
		rows = append(rows, r)
	}
	for _, f := range faults {
		add(func() relRow { return e.mountRow("mount: "+f.name, f.f, faultRuns) })
		add(func() relRow { return e.materializeRow("materialize: "+f.name, f.f, faultRuns) })
	}
	for _, viaMaterialize := range []bool{false, true} {
		add(func() relRow { return e.replacedRow(faultRuns, viaMaterialize) })
	}
	for _, viaMaterialize := range []bool{false, true} {
		add(func() relRow { return e.enospcRow(faultRuns, viaMaterialize) })
	}
	add(func() relRow { return e.vanishedRow(3) })
	add(func() relRow { return e.killMountRow(kills) })
	add(func() relRow { return e.killMaterializeRow(kills) })
	start := time.Now()
	inputs := e.badInputs()

	t.Logf("bad inputs: %s", time.Since(start).Round(time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "| fault | runs | wrong bytes (goal 0) | hung (goal 0) | runs that failed | fetched again | notes |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %s |\n", r.name, r.runs, r.wrong, r.hung, r.failed,
			relMiB(r.refetched), strings.Join(r.notes, "; "))
	}
	fmt.Fprintf(&b, "\n$T is the run's temporary directory.\n")
	fmt.Fprintf(&b, "\n| # | bad input | exit code | hung (goal 0) | first line of the message |\n")
	fmt.Fprintf(&b, "|---:|---|---:|---:|---|\n")
	for i, in := range inputs {
		hung := 0
		if in.hung {
			hung = 1
		}
		fmt.Fprintf(&b, "| %d | %s | %d | %d | %s |\n", i+1, in.what, in.code, hung, strings.ReplaceAll(in.first, "|", "\\|"))
	}
	if out := os.Getenv("OSSMOUNT_RELIABILITY_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
	fmt.Print(b.String())
}

func relMiB(n int64) string {
	if n < 0 {
		n = 0
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// fresh returns a new empty directory for one run.
func (e *relEnv) fresh(what string) string {
	e.seq++
	d := filepath.Join(e.dir, fmt.Sprintf("%s-%d", what, e.seq))
	if err := os.Mkdir(d, 0o700); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// ossmount runs the built binary with the server's credentials (env adds
// to them and overrides) for at most wait; a run past it is killed and
// reported as hung.
func (e *relEnv) ossmount(wait time.Duration, env []string, args ...string) (code int, out string, hung bool) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cmd := e.cmd(ctx, env, args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return exitOf(ctx, err), buf.String(), ctx.Err() != nil
}

func (e *relEnv) cmd(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, ossmountBinary(e.t), args...)
	cmd.Env = append(os.Environ(), "OSS_ACCESS_KEY_ID="+e.creds.AccessKeyID,
		"OSS_ACCESS_KEY_SECRET="+e.creds.AccessKeySecret, "OSS_REGION=cn-hangzhou", "OSS_ENDPOINT="+e.srv.Endpoint)
	cmd.Env = append(cmd.Env, env...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func exitOf(ctx context.Context, err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// firstLine is the first line of a command's output that states an error
// ("ossmount: ...", not a "note:" or "warning:" on the way), or else its
// first line; progress lines and notes come before the error in
// materialize's output.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	lines := strings.Split(s, "\n")
	s = lines[0]
	for _, l := range lines {
		if strings.HasPrefix(l, "ossmount:") && !strings.HasPrefix(l, "ossmount: note:") && !strings.HasPrefix(l, "ossmount: warning:") {
			s = l
			break
		}
	}
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// wrongBytes counts the bytes of got that differ from want where both
// have them, plus the bytes got has beyond want.
func wrongBytes(got, want []byte) int64 {
	var n int64
	for i := range got {
		if i >= len(want) || got[i] != want[i] {
			n++
		}
	}
	return n
}

// mounted is one background mount made by "ossmount mount".
type mounted struct {
	e        *relEnv
	mp, dir  string
	pid      int
	mountErr string
}

func (e *relEnv) mount(cacheDir string) *mounted {
	m := &mounted{e: e, mp: e.fresh("mnt"), dir: cacheDir}
	code, out, hung := e.ossmount(relMountWait, nil, "mount", "--cache-dir", cacheDir, "oss://"+relBucket, m.mp)
	if code != 0 || hung {
		m.mountErr = fmt.Sprintf("mount exit %d: %s", code, firstLine(out))
		if hung {
			m.mountErr = "mount hung"
		}
		m.detach()
		return m
	}
	m.pid, _, _ = cache.LockHolder(cacheDir)
	return m
}

// read reads key through the mount within the read deadline. On a hang
// it kills the mount, so the read returns.
func (m *mounted) read(key string) (data []byte, err error, hung bool) {
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		b, err := os.ReadFile(filepath.Join(m.mp, key))
		ch <- res{b, err}
	}()
	select {
	case r := <-ch:
		return r.b, r.err, false
	case <-time.After(relReadWait):
		m.kill()
		r := <-ch
		return r.b, r.err, true
	}
}

// unmount runs "ossmount unmount" within wait; past it, the mount is
// killed and detached, and the run counts as hung.
func (m *mounted) unmount(wait time.Duration) (hung bool, msg string) {
	if m.mountErr != "" {
		return false, ""
	}
	code, out, hung := m.e.ossmount(wait, nil, "unmount", m.mp)
	if hung || m.alive() {
		m.kill()
		return true, "unmount hung"
	}
	if code != 0 {
		m.detach()
		return false, fmt.Sprintf("unmount exit %d: %s", code, firstLine(out))
	}
	return false, ""
}

func (m *mounted) alive() bool {
	if m.pid <= 0 {
		return false
	}
	// The daemon is not our child: polling kill(0) sees it end.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(m.pid, 0) != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func (m *mounted) kill() {
	if m.pid > 0 {
		syscall.Kill(m.pid, syscall.SIGKILL)
		m.alive()
	}
	m.detach()
}

func (m *mounted) detach() {
	syscall.Unmount(m.mp, syscall.MNT_DETACH)
}

// mountRow reads the object through a fresh mount under faults f, then
// through a remount of the same cache with the server healthy again: what
// the cache kept must be right too.
func (e *relEnv) mountRow(name string, f ossserver.Faults, runs int) relRow {
	row := relRow{name: name, runs: runs}
	for range runs {
		cacheDir := e.fresh("cache")
		e.srv.ResetStats()
		e.srv.SetFaults(f)
		m := e.mount(cacheDir)
		if m.mountErr != "" {
			row.failed++
			row.note("%s", m.mountErr)
			e.srv.SetFaults(ossserver.Faults{})
			continue
		}
		got, err, hung := m.read("object.bin")
		if w := wrongBytes(got, e.data); w > 0 {
			row.wrong += w
			row.note("the read under faults returned wrong bytes")
		}
		if hung {
			row.hung++
		} else if err != nil {
			row.failed++
			row.note("read under faults: %v", errors.Unwrap(err))
		}
		e.srv.SetFaults(ossserver.Faults{})
		if h, msg := m.unmount(relMountWait); h {
			row.hung++
		} else if msg != "" {
			row.note("%s", msg)
		}
		m = e.mount(cacheDir)
		if m.mountErr != "" {
			row.failed++
			row.note("remount: %s", m.mountErr)
			continue
		}
		got, err, hung = m.read("object.bin")
		if w := wrongBytes(got, e.data); w > 0 {
			row.wrong += w
			row.note("the remount returned wrong bytes")
		}
		if hung {
			row.hung++
		} else if err != nil {
			row.failed++
			row.note("read after remount: %v", errors.Unwrap(err))
		}
		if h, _ := m.unmount(relMountWait); h {
			row.hung++
		}
		row.refetched += e.srv.Stats().BodyBytes - relObjectSize
	}
	return row
}

// materializeRow materializes the object into a fresh cache and DEST
// under faults f.
func (e *relEnv) materializeRow(name string, f ossserver.Faults, runs int) relRow {
	row := relRow{name: name, runs: runs}
	for range runs {
		cacheDir, dest := e.fresh("cache"), filepath.Join(e.fresh("out"), "object.bin")
		e.srv.ResetStats()
		e.srv.SetFaults(f)
		code, out, hung := e.ossmount(relReadWait, nil, "materialize", "--cache-dir", cacheDir, "oss://"+relBucket+"/object.bin", dest)
		e.srv.SetFaults(ossserver.Faults{})
		row.refetched += e.srv.Stats().BodyBytes - relObjectSize
		e.countInstalled(&row, dest, code, out, hung)
	}
	return row
}

// countInstalled checks what a materialize run left at dest: nothing, or
// exactly the object.
func (e *relEnv) countInstalled(row *relRow, dest string, code int, out string, hung bool) {
	if hung {
		row.hung++
	} else if code != 0 {
		row.failed++
		row.note("exit %d: %s", code, firstLine(out))
	}
	got, err := os.ReadFile(dest)
	if err == nil {
		if w := wrongBytes(got, e.data) + int64(max(0, len(e.data)-len(got))); w > 0 {
			row.wrong += w
			row.note("DEST installed with wrong bytes (exit %d)", code)
		}
	} else if code == 0 && !hung {
		row.note("exit 0 without DEST")
		row.wrong += int64(len(e.data))
	}
}

// replacedRow replaces the object while a slow read of it runs: the
// reader must get the old version whole, or the new one whole, or an
// error after a prefix of one of them.
func (e *relEnv) replacedRow(runs int, viaMaterialize bool) relRow {
	name := "mount: object replaced mid-read (1 MiB/s per body)"
	if viaMaterialize {
		name = "materialize: object replaced mid-run (1 MiB/s per body)"
	}
	row := relRow{name: name, runs: runs}
	var oldWhole, newWhole, partial int
	defer func() {
		row.note("the old version whole %d times, the new one %d, neither (an error or nothing) %d", oldWhole, newWhole, partial)
	}()
	for i := range runs {
		key := fmt.Sprintf("replaced-%t-%d.bin", viaMaterialize, i)
		old := testutil.RandomBytes(uint64(1000+2*i), relObjectSize)
		repl := testutil.RandomBytes(uint64(1001+2*i), relObjectSize)
		e.mem.Put(relBucket, key, old)
		e.srv.ResetStats()
		e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 1 << 20})
		replaceOnceFetching := func() {
			deadline := time.Now().Add(relReadWait)
			for e.srv.Stats().BodyBytes == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			e.mem.Put(relBucket, key, repl)
		}
		judge := func(got []byte) int64 {
			switch {
			case bytes.Equal(got, old):
				oldWhole++
			case bytes.Equal(got, repl):
				newWhole++
			default:
				partial++
			}
			return min(wrongBytes(got, old), wrongBytes(got, repl))
		}
		cacheDir := e.fresh("cache")
		if viaMaterialize {
			dest := filepath.Join(e.fresh("out"), key)
			done := make(chan struct{})
			go func() { replaceOnceFetching(); close(done) }()
			code, out, hung := e.ossmount(relReadWait, nil, "materialize", "--cache-dir", cacheDir, "oss://"+relBucket+"/"+key, dest)
			<-done
			if hung {
				row.hung++
			} else if code != 0 {
				row.failed++
				row.note("exit %d", code)
			}
			_ = out
			got, err := os.ReadFile(dest)
			if w := judge(got); err == nil && (w > 0 || len(got) != relObjectSize) {
				row.wrong += max(w, 1)
				row.note("DEST holds neither version")
			}
		} else {
			m := e.mount(cacheDir)
			if m.mountErr != "" {
				row.failed++
				row.note("%s", m.mountErr)
				continue
			}
			done := make(chan struct{})
			go func() { replaceOnceFetching(); close(done) }()
			got, err, hung := m.read(key)
			<-done
			row.wrong += judge(got)
			if hung {
				row.hung++
			} else if err != nil {
				row.failed++
				row.note("read: %v", errors.Unwrap(err))
			}
			if h, _ := m.unmount(relMountWait); h {
				row.hung++
			}
		}
		e.srv.SetFaults(ossserver.Faults{})
		row.refetched += e.srv.Stats().BodyBytes - relObjectSize
	}
	return row
}

// tmpfs mounts a tmpfs of size bytes (read-only if ro) at a fresh
// directory.
func (e *relEnv) tmpfs(size int64, ro bool) string {
	d := e.fresh("tmpfs")
	flags := uintptr(syscall.MS_NOSUID | syscall.MS_NODEV)
	if ro {
		flags |= syscall.MS_RDONLY
	}
	if err := syscall.Mount("tmpfs", d, "tmpfs", flags, "size="+strconv.FormatInt(size, 10)+",mode=0700"); err != nil {
		e.t.Fatalf("mount a tmpfs at %s: %v", d, err)
	}
	e.t.Cleanup(func() { syscall.Unmount(d, syscall.MNT_DETACH) })
	return d
}

// enospcRow puts the cache on a tmpfs smaller than the object.
func (e *relEnv) enospcRow(runs int, viaMaterialize bool) relRow {
	name := "mount: cache on a 2 MiB tmpfs (ENOSPC), 4 MiB object"
	if viaMaterialize {
		name = "materialize: cache on a 2 MiB tmpfs (ENOSPC), 4 MiB object"
	}
	row := relRow{name: name, runs: runs}
	for range runs {
		cacheDir := e.tmpfs(2<<20, false)
		e.srv.ResetStats()
		if viaMaterialize {
			dest := filepath.Join(e.fresh("out"), "object.bin")
			code, out, hung := e.ossmount(relReadWait, nil, "materialize", "--cache-dir", cacheDir, "oss://"+relBucket+"/object.bin", dest)
			row.refetched += e.srv.Stats().BodyBytes - relObjectSize
			e.countInstalled(&row, dest, code, out, hung)
			continue
		}
		m := e.mount(cacheDir)
		if m.mountErr != "" {
			row.failed++
			row.note("%s", m.mountErr)
			continue
		}
		got, err, hung := m.read("object.bin")
		row.wrong += wrongBytes(got, e.data)
		if hung {
			row.hung++
		} else if err != nil {
			row.failed++
			row.note("read: %v", errors.Unwrap(err))
		}
		if h, msg := m.unmount(relMountWait); h {
			row.hung++
		} else if msg != "" {
			row.note("%s", msg)
		}
		row.refetched += e.srv.Stats().BodyBytes - relObjectSize
	}
	return row
}

// vanishedRow removes the cache directory of a running mount, reads an
// object not yet cached, and unmounts within relCloseWait.
func (e *relEnv) vanishedRow(runs int) relRow {
	row := relRow{name: fmt.Sprintf("mount: cache directory removed while mounted (unmount deadline %s)", relCloseWait), runs: runs}
	for i := range runs {
		key := fmt.Sprintf("after-vanish-%d.bin", i)
		e.mem.Put(relBucket, key, e.data)
		cacheDir := e.fresh("cache")
		e.srv.ResetStats()
		m := e.mount(cacheDir)
		if m.mountErr != "" {
			row.failed++
			row.note("%s", m.mountErr)
			continue
		}
		got, _, _ := m.read("object.bin")
		row.wrong += wrongBytes(got, e.data)
		if err := os.RemoveAll(cacheDir); err != nil {
			e.t.Fatal(err)
		}
		got, err, hung := m.read(key)
		row.wrong += wrongBytes(got, e.data)
		if hung {
			row.hung++
		} else if err != nil {
			row.failed++
			row.note("read after removal: %v", errors.Unwrap(err))
		}
		if h, msg := m.unmount(relCloseWait); h {
			row.hung++
			row.note("unmount did not end within %s; killed", relCloseWait)
		} else if msg != "" {
			row.note("%s", msg)
		}
		row.refetched += e.srv.Stats().BodyBytes - 2*relObjectSize
	}
	return row
}

// moment returns a random moment within the first d.
func (e *relEnv) moment(d time.Duration) time.Duration {
	return time.Duration(e.rng.Int64N(int64(d)))
}

// killMountRow kills the mount with SIGKILL at a random moment of a read
// (8 MiB/s per body), then remounts the same cache and reads the object
// whole: it must be exact, and only what was not recorded is fetched again.
func (e *relEnv) killMountRow(rounds int) relRow {
	row := relRow{name: "mount: kill -9 at a random moment of a read, then remount and read", runs: rounds}
	for range rounds {
		cacheDir := e.fresh("cache")
		e.srv.ResetStats()
		e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 8 << 20})
		m := e.mount(cacheDir)
		if m.mountErr != "" {
			row.failed++
			row.note("%s", m.mountErr)
			e.srv.SetFaults(ossserver.Faults{})
			continue
		}
		done := make(chan struct{})
		go func() { m.read("object.bin"); close(done) }()
		time.Sleep(e.moment(700 * time.Millisecond)) // the random moment itself, not a synchronisation
		m.kill()
		<-done
		e.srv.SetFaults(ossserver.Faults{})
		m = e.mount(cacheDir)
		if m.mountErr != "" {
			row.failed++
			row.note("remount: %s", m.mountErr)
			continue
		}
		got, err, hung := m.read("object.bin")
		row.wrong += wrongBytes(got, e.data) + int64(max(0, len(e.data)-len(got)))
		if hung {
			row.hung++
		} else if err != nil {
			row.failed++
			row.note("read after remount: %v", errors.Unwrap(err))
		}
		if h, _ := m.unmount(relMountWait); h {
			row.hung++
		}
		row.refetched += e.srv.Stats().BodyBytes - relObjectSize
	}
	return row
}

// killMaterializeRow kills materialize with SIGKILL at a random moment
// (8 MiB/s per body): DEST must then be absent, and a second run must
// install the exact object.
func (e *relEnv) killMaterializeRow(rounds int) relRow {
	row := relRow{name: "materialize: kill -9 at a random moment, then run again", runs: rounds}
	for range rounds {
		cacheDir, dest := e.fresh("cache"), filepath.Join(e.fresh("out"), "object.bin")
		args := []string{"materialize", "--cache-dir", cacheDir, "oss://" + relBucket + "/object.bin", dest}
		e.srv.ResetStats()
		e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 8 << 20})
		ctx, cancel := context.WithTimeout(context.Background(), relReadWait)
		cmd := e.cmd(ctx, nil, args...)
		if err := cmd.Start(); err != nil {
			e.t.Fatal(err)
		}
		time.Sleep(e.moment(700 * time.Millisecond)) // the random moment itself
		cmd.Process.Kill()
		cmd.Wait()
		cancel()
		if got, err := os.ReadFile(dest); err == nil && !bytes.Equal(got, e.data) {
			row.wrong += max(wrongBytes(got, e.data), 1)
			row.note("a killed run left a wrong DEST")
		}
		e.srv.SetFaults(ossserver.Faults{})
		code, out, hung := e.ossmount(relReadWait, nil, args...)
		row.refetched += e.srv.Stats().BodyBytes - relObjectSize
		e.countInstalled(&row, dest, code, out, hung)
	}
	return row
}

// badInputs runs the CLI on inputs that must fail cleanly, each within a
// deadline, and records the exit code and the first line it printed.
func (e *relEnv) badInputs() []relInput {
	var out []relInput
	src := "oss://" + relBucket + "/object.bin"
	outDir := e.fresh("out")
	dest := filepath.Join(outDir, "object.bin")
	cacheDir := e.fresh("cache")
	run := func(what string, env []string, args ...string) {
		code, msg, hung := e.ossmount(relMountWait, env, args...)
		out = append(out, relInput{what: what, code: code, hung: hung, first: firstLine(strings.ReplaceAll(msg, e.dir, "$T"))})
	}
	mat := func(what string, env []string, extra ...string) {
		run(what, env, append([]string{"materialize", "--cache-dir", cacheDir}, extra...)...)
	}
	mnt := func(what string, env []string, extra ...string) {
		mp := e.fresh("mnt")
		run(what, env, append([]string{"mount", "--cache-dir", e.fresh("cache")}, append(extra, mp)...)...)
		syscall.Unmount(mp, syscall.MNT_DETACH)
	}

	mnt("mount: URL with scheme s3://", nil, "s3://"+relBucket)
	mnt("mount: URL without a bucket (oss://)", nil, "oss://")
	mnt("mount: bucket name with invalid characters", nil, "oss://Bad_Bucket!")
	mat("materialize: URL without a key", nil, "oss://"+relBucket, dest)
	mat("materialize: URL with one slash (oss:/b/k)", nil, "oss:/"+relBucket+"/object.bin", dest)
	mat("materialize: empty SOURCE", nil, "", dest)
	mnt("mount: missing bucket", nil, "oss://no-such-bucket")
	mat("materialize: missing bucket", nil, "oss://no-such-bucket/object.bin", dest)
	mat("materialize: missing key", nil, "oss://"+relBucket+"/no-such-key", dest)
	mnt("mount: wrong secret", []string{"OSS_ACCESS_KEY_SECRET=wrong"}, "oss://"+relBucket)
	mat("materialize: unknown access key id", []string{"OSS_ACCESS_KEY_ID=LTAIunknown"}, src, dest)
	mat("materialize: no credentials", []string{"OSS_ACCESS_KEY_ID=", "OSS_ACCESS_KEY_SECRET="}, src, dest)
	credFile := filepath.Join(e.fresh("creds"), "creds")
	os.WriteFile(credFile, []byte("OSS_ACCESS_KEY_ID="+e.creds.AccessKeyID+"\nOSS_ACCESS_KEY_SECRET="+e.creds.AccessKeySecret+"\n"), 0o644)
	mat("materialize: credentials file with mode 0644", nil, "--credentials-file", credFile, src, dest)
	mat("materialize: unreachable endpoint", []string{"OSS_ENDPOINT=127.0.0.1:1"}, src, dest)
	mat("materialize: https:// to a plain-HTTP endpoint", []string{"OSS_ENDPOINT=https://" + strings.TrimPrefix(e.srv.Endpoint, "http://")}, src, dest)
	mat("materialize: --part-size 0", nil, "--part-size", "0", src, dest)
	mat("materialize: --part-size 10GiB", nil, "--part-size", "10GiB", src, dest)
	mat("materialize: --threads 0", nil, "--threads", "0", src, dest)
	mnt("mount: --cache-size -1", nil, "--cache-size", "-1", "oss://"+relBucket)
	mnt("mount: --read-ahead lots", nil, "--read-ahead", "lots", "oss://"+relBucket)

	run("mount: missing mountpoint", nil, "mount", "--cache-dir", e.fresh("cache"), "oss://"+relBucket, filepath.Join(e.dir, "no-such-dir"))
	busy := e.mount(e.fresh("cache"))
	run("mount: mountpoint already an ossmount mount", nil, "mount", "--cache-dir", e.fresh("cache"), "oss://"+relBucket, busy.mp)
	run("mount: cache directory owned by a running mount", nil, "mount", "--cache-dir", busy.dir, "oss://"+relBucket, e.fresh("mnt"))
	busy.unmount(relMountWait)
	full := e.fresh("mnt")
	os.WriteFile(filepath.Join(full, "file"), []byte("x"), 0o600)
	run("mount: mountpoint that holds files", nil, "mount", "--cache-dir", e.fresh("cache"), "oss://"+relBucket, full)
	run("mount: mountpoint that is a file", nil, "mount", "--cache-dir", e.fresh("cache"), "oss://"+relBucket, filepath.Join(full, "file"))

	mat("materialize: DEST in a read-only filesystem", nil, src, filepath.Join(e.tmpfs(1<<20, true), "object.bin"))
	mat("materialize: DEST is a directory", nil, src, outDir)
	mat("materialize: DEST in a missing directory", nil, src, filepath.Join(outDir, "missing", "object.bin"))
	mat("materialize: DEST on a full 1 MiB filesystem", nil, src, filepath.Join(e.tmpfs(1<<20, false), "object.bin"))
	os.WriteFile(dest, []byte("already here"), 0o600)
	mat("materialize: --no-clobber with DEST present", nil, "--no-clobber", src, dest)
	os.Remove(dest)
	run("unmount: a directory that is no mount point", nil, "unmount", outDir)

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		out = append(out, e.signalled(fmt.Sprintf("materialize: %s mid-run", sig), sig, []string{"materialize", "--cache-dir", e.fresh("cache"), src, filepath.Join(e.fresh("out"), "object.bin")}, nil))
	}
	mp := e.fresh("mnt")
	out = append(out, e.signalled("mount --foreground: SIGTERM mid-read", syscall.SIGTERM,
		[]string{"mount", "--foreground", "--cache-dir", e.fresh("cache"), "oss://" + relBucket, mp}, func() bool {
			if !isMounted(e.t, mp) {
				return false
			}
			go os.ReadFile(filepath.Join(mp, "object.bin"))
			return true
		}))
	syscall.Unmount(mp, syscall.MNT_DETACH)
	return out
}

// signalled starts ossmount ARGS against a slow server (256 KiB/s per
// body), waits until ready reports true (or, without it, until bytes
// flow), sends sig and waits for the exit within relMountWait.
func (e *relEnv) signalled(what string, sig syscall.Signal, args []string, ready func() bool) relInput {
	e.srv.ResetStats()
	e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 256 << 10})
	defer e.srv.SetFaults(ossserver.Faults{})
	ctx, cancel := context.WithTimeout(context.Background(), relMountWait+relReadWait)
	defer cancel()
	cmd := e.cmd(ctx, nil, args...)
	var buf testutil.LogBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(relReadWait)
	for time.Now().Before(deadline) {
		if ready != nil && ready() {
			break
		}
		if ready == nil && e.srv.Stats().BodyBytes > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ready != nil {
		deadline := time.Now().Add(relReadWait)
		for e.srv.Stats().BodyBytes == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	before := len(buf.String())
	cmd.Process.Signal(sig)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		return relInput{what: what, code: exitOf(ctx, err), first: firstLine(strings.ReplaceAll(buf.String()[before:], e.dir, "$T"))}
	case <-time.After(relMountWait):
		cmd.Process.Kill()
		<-exited
		return relInput{what: what, code: -1, hung: true, first: firstLine(strings.ReplaceAll(buf.String()[before:], e.dir, "$T"))}
	}
}

// The figures are only as good as their counting: a wrong byte is any byte
// that differs from the source or lies beyond it, and the message of a run
// is its error line, not the progress before it.
func TestReliabilityCounting(t *testing.T) {
	src := []byte("abcdef")
	for _, c := range []struct {
		got  string
		want int64
	}{
		{"abcdef", 0}, {"abc", 0}, {"", 0}, {"abXdef", 1}, {"XbcdeY", 2}, {"abcdefgh", 2}, {"Xbcdefg", 2},
	} {
		if n := wrongBytes([]byte(c.got), src); n != c.want {
			t.Errorf("wrongBytes(%q, %q) = %d, want %d", c.got, src, n, c.want)
		}
	}
	out := "oss://b/k: 0 B of 4.0 MiB (0%)\nossmount: note: fetching it again\nossmount: integrity failure\nmore\n"
	if l := firstLine(out); l != "ossmount: integrity failure" {
		t.Errorf("firstLine = %q, want the error line", l)
	}
	if l := firstLine("  only progress\nsecond\n"); l != "only progress" {
		t.Errorf("firstLine without an error line = %q, want the first line", l)
	}
}
