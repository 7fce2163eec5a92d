package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// A built binary names the commit it was built from: the module version,
// the revision, whether the tree had changes, and the commit time, both
// for "version" and "--version". The module's files are committed to a
// repository of the test's own, so that the revision and time are known.
func TestVersionOfABuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ossmount twice")
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git to make a repository with")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*processDeadline)
	defer cancel()
	run := func(dir string, env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}

	moduleRoot := filepath.Dir(run(".", nil, "go", "env", "GOMOD"))
	files := strings.Split(run(moduleRoot, nil, gitPath, "ls-files", "-co", "--exclude-standard"), "\n")
	repo := t.TempDir()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(moduleRoot, f))
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the work tree
			}
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(repo, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const when = "2026-03-04T05:06:07Z"
	gitEnv := []string{"GIT_AUTHOR_DATE=" + when, "GIT_COMMITTER_DATE=" + when,
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1"}
	run(repo, gitEnv, gitPath, "init", "-q")
	run(repo, gitEnv, gitPath, "add", "-A")
	run(repo, gitEnv, gitPath, "commit", "-q", "-m", "version test")
	revision := run(repo, gitEnv, gitPath, "rev-parse", "HEAD")

	bin := filepath.Join(t.TempDir(), "ossmount")
	build := func() {
		t.Helper()
		// -buildvcs=true explicitly: GOFLAGS may turn stamping off.
		run(filepath.Join(repo, "cmd", "ossmount"), []string{"GOWORK=off"}, "go", "build", "-buildvcs=true", "-o", bin, ".")
	}
	version := func() string {
		t.Helper()
		out := run(repo, nil, bin, "version")
		if flag := run(repo, nil, bin, "--version"); flag != out {
			t.Errorf("--version says %q, version says %q", flag, out)
		}
		return out
	}

	build()
	out := version()
	// Go derives a pseudo-version from the commit when no tag names it.
	want := regexp.MustCompile(`^ossmount v0\.0\.0-20260304050607-` + revision[:12] +
		` \(revision ` + revision + `, committed ` + regexp.QuoteMeta(when) + `, ` + regexp.QuoteMeta(runtime.Version()) + `\)$`)
	if !want.MatchString(out) {
		t.Errorf("version of a clean build: %q, want it to match %s", out, want)
	}

	if err := os.WriteFile(filepath.Join(repo, "uncommitted.txt"), []byte("change\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build()
	if out := version(); !strings.Contains(out, "revision "+revision+", modified, committed "+when) {
		t.Errorf("version of a build with uncommitted changes: %q", out)
	}
}

// Without VCS information the version says so rather than inventing one;
// a version set at link time replaces the module's.
func TestDescribeBuild(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}
	if got := describeBuild("", bi); got != "devel (no VCS revision recorded, go1.26.8)" {
		t.Errorf("no VCS information: %q", got)
	}
	bi.Main.Version = "v1.2.3"
	bi.Settings = []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.time", Value: "T"}, {Key: "vcs.modified", Value: "false"}}
	if got := describeBuild("", bi); got != "v1.2.3 (revision abc, committed T, go1.26.8)" {
		t.Errorf("tagged build: %q", got)
	}
	if got := describeBuild("v9", bi); !strings.HasPrefix(got, "v9 (revision abc") {
		t.Errorf("-X main.version=v9: %q", got)
	}
}
