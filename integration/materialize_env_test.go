package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/ossserver/ossservertest"
	"github.com/ossmount/ossmount/materialize"
	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

const matBucket = "mat-test"

// matEnv is an OSS server with one bucket, a cache directory and a
// directory for the files materialize writes.
type matEnv struct {
	t        *testing.T
	srv      *ossserver.Running
	mem      *ossserver.MemStorage
	creds    ossserver.Credentials
	cacheDir string
	outDir   string
	log      *slog.Logger
}

func newMatEnv(t *testing.T) *matEnv {
	t.Helper()
	srv, mem, creds := ossservertest.Start(t)
	mem.CreateBucket(matBucket)
	return &matEnv{
		t: t, srv: srv, mem: mem, creds: creds,
		cacheDir: t.TempDir(),
		outDir:   t.TempDir(),
		log:      testLogger(t),
	}
}

func (e *matEnv) put(key string, data []byte) []byte {
	e.mem.Put(matBucket, key, data)
	return data
}

func (e *matEnv) dest(name string) string { return filepath.Join(e.outDir, name) }

// client returns a client with quick retries, so that fault tests finish
// fast; it is closed when the test ends.
func (e *matEnv) client() *rangefetch.Client {
	e.t.Helper()
	c, err := rangefetch.New(rangefetch.Config{
		Endpoint: e.srv.Endpoint,
		Region:   "cn-hangzhou",
		Credentials: rangefetch.Credentials{
			AccessKeyID: e.creds.AccessKeyID, AccessKeySecret: e.creds.AccessKeySecret, SessionToken: e.creds.SessionToken,
		},
		MaxConns: 64,
		Retry:    rangefetch.RetryPolicy{MaxAttempts: 8, BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond, MaxElapsed: time.Minute},
		Logger:   e.log,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// openCache opens the cache directory as its owner; close it before a
// subprocess needs to own it.
func (e *matEnv) openCache(src cache.Source) *cache.Cache {
	e.t.Helper()
	c, err := cache.Open(cache.Options{Dir: e.cacheDir, Logger: e.log}, src)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// materialize runs req in this process with a cache opened for the call.
func (e *matEnv) materialize(req materialize.Request) (materialize.Result, error) {
	e.t.Helper()
	client := e.client()
	c := e.openCache(client)
	defer c.Close()
	return materialize.Materialize(context.Background(), c, client, e.request(req), nil)
}

// request fills in the bucket.
func (e *matEnv) request(req materialize.Request) materialize.Request {
	if req.Bucket == "" {
		req.Bucket = matBucket
	}
	return req
}

// prefill makes the given byte ranges of an object present in the cache
// through the cache API, as reads through a mount would.
func (e *matEnv) prefill(key string, ranges ...object.Range) {
	e.t.Helper()
	client := e.client()
	c := e.openCache(client)
	defer c.Close()
	ctx := context.Background()
	info, err := client.Stat(ctx, matBucket, key)
	if err != nil {
		e.t.Fatal(err)
	}
	h, err := c.Open(ctx, info)
	if err != nil {
		e.t.Fatal(err)
	}
	defer h.Close()
	for _, r := range ranges {
		if err := h.Fetch(ctx, r.Off, r.Len); err != nil {
			e.t.Fatal(err)
		}
	}
}

// cacheHolds reports how many bytes of the object's current version the
// cache holds.
func (e *matEnv) cacheHolds(key string) int64 {
	e.t.Helper()
	client := e.client()
	c := e.openCache(client)
	defer c.Close()
	ctx := context.Background()
	info, err := client.Stat(ctx, matBucket, key)
	if err != nil {
		e.t.Fatal(err)
	}
	h, err := c.Open(ctx, info)
	if err != nil {
		e.t.Fatal(err)
	}
	defer h.Close()
	held := info.Size
	for _, r := range h.Missing() {
		held -= r.Len
	}
	return held
}

// assertFile checks that path holds exactly want.
func assertFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	mustEqual(t, path, got, want)
}

// assertNoTemps checks that no temporary file of materialize is left in dir.
func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if strings.Contains(en.Name(), ".ossmount-tmp-") {
			t.Errorf("temporary file left behind: %s", en.Name())
		}
	}
}

func assertMissing(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s should not exist (err %v)", path, err)
	}
}

// binary is the ossmount command built for the CLI tests, once per run.
var binary = struct {
	once sync.Once
	dir  string
	path string
	err  error
}{}

// TestMain removes the directory of the built binary after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// ossmountBinary builds cmd/ossmount on first use.
func ossmountBinary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "ossmount-bin-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "ossmount")
		out, err := exec.Command("go", "build", "-o", binary.path, "github.com/ossmount/ossmount/cmd/ossmount").CombinedOutput()
		if err != nil {
			binary.err = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// command prepares an ossmount command against the test server, with the
// credentials in its environment and the test's cache directory.
func (e *matEnv) command(ctx context.Context, args ...string) *exec.Cmd {
	e.t.Helper()
	full := append([]string{"materialize", "--endpoint", e.srv.Endpoint, "--cache-dir", e.cacheDir}, args...)
	return e.bareCommand(ctx, full...)
}

// bareCommand prepares ossmount ARGS with the test's credentials in the
// environment and nothing else.
func (e *matEnv) bareCommand(ctx context.Context, args ...string) *exec.Cmd {
	e.t.Helper()
	cmd := exec.CommandContext(ctx, ossmountBinary(e.t), args...)
	cmd.Env = append(os.Environ(),
		"OSS_ACCESS_KEY_ID="+e.creds.AccessKeyID,
		"OSS_ACCESS_KEY_SECRET="+e.creds.AccessKeySecret,
		"OSS_SESSION_TOKEN="+e.creds.SessionToken,
		"OSS_REGION=cn-hangzhou",
	)
	return cmd
}

// cliResult is a finished CLI run.
type cliResult struct {
	code           int
	stdout, stderr string
}

// run runs ossmount materialize ARGS to completion.
func (e *matEnv) run(args ...string) cliResult {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := e.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		e.t.Fatalf("run ossmount: %v", err)
	}
	e.t.Logf("ossmount materialize %s -> exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	return res
}

// jsonProgress is a line of --progress=json.
type jsonProgress struct {
	Done   int64               `json:"done"`
	Total  *int64              `json:"total"`
	Result *materialize.Result `json:"result"`
}

// started is a CLI run in the background whose JSON progress is watched.
type started struct {
	cmd    *exec.Cmd
	lines  chan jsonProgress
	stderr *bytes.Buffer
	done   chan struct{} // closed when the process exited and its output was read
	err    error
}

// start runs ossmount materialize --progress=json ARGS in the background.
func (e *matEnv) start(args ...string) *started {
	e.t.Helper()
	cmd := e.command(context.Background(), append([]string{"--progress=json"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	s := &started{cmd: cmd, lines: make(chan jsonProgress, 1<<16), stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var p jsonProgress
			if json.Unmarshal(sc.Bytes(), &p) == nil {
				s.lines <- p
			}
		}
		close(s.lines)
		s.err = cmd.Wait()
	}()
	e.t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
	})
	return s
}

// waitProgress reads progress lines until one satisfies cond; it fails the
// test if the process ends first.
func (s *started) waitProgress(t *testing.T, cond func(p jsonProgress) bool) jsonProgress {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case p, ok := <-s.lines:
			if !ok {
				<-s.done
				t.Fatalf("ossmount exited (%v) before the expected progress; stderr: %s", s.err, s.stderr)
			}
			if cond(p) {
				return p
			}
		case <-timeout:
			t.Fatal("no expected progress within 2 minutes")
		}
	}
}

// wait waits for the process and returns its exit code.
func (s *started) wait(t *testing.T) int {
	t.Helper()
	for range s.lines {
	}
	<-s.done
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return ee.ExitCode()
	}
	if s.err != nil {
		t.Fatal(s.err)
	}
	return 0
}
