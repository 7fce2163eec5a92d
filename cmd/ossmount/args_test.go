package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ossmount/ossmount/internal/mountinfo"
)

// An empty positional argument is a usage error for every command that
// takes one, named, before anything runs: taken as a path, "" would be
// the working directory.
func TestEmptyArgumentsAreUsageErrors(t *testing.T) {
	// The children run in a directory of the test's own, also for their
	// temporary files: a command that took "" for the working directory
	// would mount over this one, never over the source tree.
	work := t.TempDir()
	t.Cleanup(func() {
		if isMountpoint(t, work) {
			syscall.Unmount(work, syscall.MNT_DETACH)
		}
	})
	cacheDir := filepath.Join(t.TempDir(), "cache")
	// An endpoint nothing listens on: should a command run on by mistake,
	// it fails without reaching anything.
	remote := []string{"--endpoint", "127.0.0.1:1", "--cache-dir", cacheDir}
	cases := []struct {
		args []string
		want string
	}{
		{append([]string{"mount"}, append(remote, "oss://test-bucket", "")...), "MOUNTPOINT must not be empty"},
		{append([]string{"mount"}, append(remote, "", t.TempDir())...), "oss://BUCKET[/PREFIX] must not be empty"},
		{[]string{"unmount", ""}, "MOUNTPOINT must not be empty"},
		{[]string{"unmount", "--lazy", ""}, "MOUNTPOINT must not be empty"},
		{append([]string{"materialize"}, append(remote, "oss://test-bucket/key", "")...), "DEST must not be empty"},
		{append([]string{"materialize"}, append(remote, "", filepath.Join(t.TempDir(), "dest"))...), "SOURCE must not be empty"},
		{[]string{"demo", "--big-size", "1MiB", "--cache-dir", cacheDir, ""}, "DIR must not be empty"},
		{[]string{"cache", "clear", "--cache-dir", cacheDir, ""}, "oss://BUCKET[/PREFIX] must not be empty"},
	}
	for _, c := range cases {
		r := runOssmountIn(t, work, []string{"OSS_ACCESS_KEY_ID=LTAIargs", "OSS_ACCESS_KEY_SECRET=secret", "TMPDIR=" + work}, c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("ossmount %q: exit %d, stderr %q; want exit %d and one line saying %q", c.args, r.code, r.stderr, exitUsage, c.want)
		}
	}
	if _, err := os.Stat(cacheDir); !os.IsNotExist(err) {
		t.Errorf("a refused command made the cache directory: %v", err)
	}
}

// runOssmountIn runs ossmount with args to completion in the working
// directory dir ("" for this process's).
func runOssmountIn(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), processDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = childEnv(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("ossmount %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("ossmount %s did not finish within %v", strings.Join(args, " "), processDeadline)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// isMountpoint reports whether path is a mount point.
func isMountpoint(t *testing.T, path string) bool {
	t.Helper()
	mounts, err := mountinfo.Read()
	if err != nil {
		t.Fatal(err)
	}
	_, ok := mountinfo.At(mounts, path)
	return ok
}

func TestArgName(t *testing.T) {
	root := newRootCommand()
	for _, c := range []struct {
		path []string
		i    int
		want string
	}{
		{[]string{"mount"}, 0, "oss://BUCKET[/PREFIX]"},
		{[]string{"mount"}, 1, "MOUNTPOINT"},
		{[]string{"materialize"}, 1, "DEST"},
		{[]string{"demo"}, 0, "DIR"},
		{[]string{"demo"}, 1, "argument 2"},
		{[]string{"cache", "clear"}, 0, "oss://BUCKET[/PREFIX]"},
	} {
		cmd, _, err := root.Find(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := argName(cmd, c.i); got != c.want {
			t.Errorf("argName(%q, %d) = %q, want %q", c.path, c.i, got, c.want)
		}
	}
}
