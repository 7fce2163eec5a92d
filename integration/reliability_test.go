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
