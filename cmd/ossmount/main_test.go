package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
)

// runMainEnv makes the test binary behave as the ossmount binary: tests
// run the real command line, exit codes and signal handling included, in
// a child process without a separate go build.
const runMainEnv = "OSSMOUNT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// processDeadline bounds how long any child may take to do what a test
// waits for; it is a guard against hangs, not a performance assertion.
const processDeadline = 60 * time.Second

// childEnv is the environment of a child: the test's own without any
// OSS_* variable, plus env.
func childEnv(env ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OSS_") {
			out = append(out, kv)
		}
	}
	return append(append(out, runMainEnv+"=1"), env...)
}

// result is how a finished child ended.
type result struct {
	stdout, stderr string
	code           int
}

// runOssmount runs ossmount with args to completion, in this process's
// working directory.
func runOssmount(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return runOssmountIn(t, "", env, args...)
}

// child is a running ossmount process whose stdout is read line by line.
type child struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string         // stdout lines; closed at EOF
	stderr *testutil.LogBuffer // everything written to stderr
	exited chan struct{}       // closed once the process has been waited for
	err    error               // Wait's result, set before exited closes
}

// startOssmount starts ossmount with args. The test's cleanup kills it if
// it is still running and waits for it and its output reader.
func startOssmount(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = childEnv(env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, lines: make(chan string, 64), stderr: &testutil.LogBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		<-readerDone // Wait closes the pipe; read everything first
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			cmd.Process.Kill()
			c.wait()
		}
	})
	return c
}

// line returns the next stdout line, failing the test if none comes
// within the deadline.
func (c *child) line() string {
	c.t.Helper()
	timer := time.NewTimer(processDeadline)
	defer timer.Stop()
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.wait()
			c.t.Fatalf("ossmount exited without printing a line (%v); stderr:\n%s", c.err, c.stderr)
		}
		return l
	case <-timer.C:
		c.t.Fatalf("ossmount printed nothing within %v; stderr:\n%s", processDeadline, c.stderr)
		return ""
	}
}

// stop sends sig and returns the exit code once the process has ended.
func (c *child) stop(sig syscall.Signal) int {
	c.t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("signal: %v", err)
	}
	c.wait()
	return c.cmd.ProcessState.ExitCode()
}

// wait waits for the process to end, up to the deadline. Lines it has
// not read are dropped so that the output reader can finish.
func (c *child) wait() {
	c.t.Helper()
	timer := time.NewTimer(processDeadline)
	defer timer.Stop()
	lines := c.lines
	for {
		select {
		case <-c.exited:
			return
		case _, ok := <-lines:
			if !ok {
				lines = nil
			}
		case <-timer.C:
			c.t.Fatalf("ossmount did not exit within %v; stderr:\n%s", processDeadline, c.stderr)
		}
	}
}
