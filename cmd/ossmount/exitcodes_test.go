package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ossmount/ossmount/internal/mountinfo"
)

// A usage error of mount exits 2 whether the mount would run in the
// foreground or in the background, and nothing is mounted.
func TestMountUsageErrorsExit2WithAndWithoutForeground(t *testing.T) {
	mp := t.TempDir()
	cacheDir := filepath.Join(t.TempDir(), "cache")
	env := []string{"OSS_ACCESS_KEY_ID=LTAIusageerrors", "OSS_ACCESS_KEY_SECRET=secret"}
	cases := []struct {
		flags []string
		want  string
	}{
		{[]string{"--max-parallel", "0"}, "--max-parallel must be between 1 and 256"},
		{[]string{"--max-parallel", "257"}, "--max-parallel must be between 1 and 256"},
		{[]string{"--sign-version", "2"}, "--sign-version must be 1 or 4"},
		{[]string{"--max-parallel-per-file", "300"}, "--max-parallel-per-file"},
		{[]string{"--metadata-ttl", "0s"}, "--metadata-ttl must be positive"},
		{[]string{"--file-mode", "0999"}, "--file-mode must be octal"},
		{[]string{"--dir-mode", "rwx"}, "--dir-mode must be octal"},
		{[]string{"--read-ahead", "lots"}, "--read-ahead"},
		{[]string{"--fetch-memory", "-1"}, "--fetch-memory"},
		{[]string{"--cache-size", "huge"}, "--cache-size"},
		{[]string{"--metrics-addr", "no-port"}, "--metrics-addr must be HOST:PORT"},
		{[]string{"--log-size", "100"}, "--log-size must be at least"},
		{[]string{"--log-size", "big"}, "--log-size"},
		{[]string{"--uid", "x"}, `invalid argument "x" for "--uid"`},
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"--endpoint", "ftp://host"}, `invalid OSS endpoint "ftp://host"`},
	}
	for _, c := range cases {
		for _, fg := range [][]string{nil, {"--foreground"}} {
			// A usage error is reported as such whether or not
			// credentials are set: the flags are checked first.
			for _, env := range [][]string{env, nil} {
				args := append([]string{"mount", "--endpoint", "127.0.0.1:1", "--cache-dir", cacheDir}, fg...)
				args = append(append(args, c.flags...), "oss://bucket", mp)
				r := runOssmount(t, env, args...)
				if r.code != exitUsage || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
					t.Errorf("ossmount %s (credentials %v): exit %d, stderr %q; want exit 2 and one line with %q",
						strings.Join(args, " "), env != nil, r.code, r.stderr, c.want)
				}
			}
		}
	}
	// materialize too.
	for _, flags := range [][]string{{"--endpoint", "ftp://host"}, {"--threads", "0"}, {"--sign-version", "3"}} {
		args := append(append([]string{"materialize"}, flags...), "oss://bucket/key", filepath.Join(t.TempDir(), "dest"))
		if r := runOssmount(t, nil, args...); r.code != exitUsage {
			t.Errorf("ossmount %s without credentials: exit %d, stderr %q; want 2", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	// Without --foreground, standard error cannot be the log.
	r := runOssmount(t, env, "mount", "--endpoint", "127.0.0.1:1", "--cache-dir", cacheDir, "--log-file", "-", "oss://bucket", mp)
	if r.code != exitUsage || !strings.Contains(r.stderr, "--log-file - (standard error) needs --foreground") {
		t.Errorf("--log-file - in the background: exit %d, %q", r.code, r.stderr)
	}
	if mounts, err := mountinfo.Read(); err == nil {
		if _, ok := mountinfo.At(mounts, mp); ok {
			t.Errorf("%s was mounted", mp)
		}
	}
	if _, err := os.Stat(cacheDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a usage error created the cache directory: %v", err)
	}
}

// The background process reports how it failed with the exit code of its
// error, which the parent exits with; warnings reach the parent's stderr.
func TestReadinessCarriesExitCodeAndWarnings(t *testing.T) {
	for _, fail := range []error{
		usagef("--max-parallel must be between 1 and 256, not 0"),
		errors.New("cannot mount oss://b/: bucket not found"),
		withExitCode(7, errors.New("seven\nlines")),
	} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		ready := &readiness{f: w}
		ready.warn("first warning")
		ready.fail(fail)
		var warnings strings.Builder
		ok, err := awaitReadiness(r, &warnings)
		r.Close()
		if ok || err == nil || exitCode(err) != exitCode(fail) || err.Error() != strings.ReplaceAll(fail.Error(), "\n", " ") {
			t.Errorf("fail(%q): ready %v, %v (exit %d); want exit %d", fail, ok, err, exitCode(err), exitCode(fail))
		}
		if warnings.String() != "ossmount: warning: first warning\n" {
			t.Errorf("warnings: %q", warnings.String())
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	(&readiness{f: w}).ok()
	if ok, err := awaitReadiness(r, nil); !ok || err != nil {
		t.Errorf("ok(): ready %v, %v", ok, err)
	}
}

// Every command's help ends with what its exit codes mean, generated from
// the table the command exits by.
func TestEveryCommandDocumentsItsExitCodes(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		section, ok := c.Annotations[exitCodesAnnotation]
		switch {
		case !ok:
			t.Errorf("%q has no table of exit codes", c.CommandPath())
		case !strings.HasSuffix(c.Long, "\n\n"+section):
			t.Errorf("%q: help does not end with its exit codes:\n%s", c.CommandPath(), c.Long)
		default:
			for _, code := range []int{0, exitFailure, exitUsage} {
				if !strings.Contains(section, fmt.Sprintf("\n  %d  ", code)) {
					t.Errorf("%q does not say what exit %d means:\n%s", c.CommandPath(), code, section)
				}
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root := newRootCommand()
	walk(root)
	for path, done := range doneMeanings {
		cmd, rest, err := root.Find(strings.Fields(path)[1:])
		if err != nil || len(rest) > 0 || !strings.Contains(cmd.Long, "\n  0  "+done+"\n") {
			t.Errorf("%s: no command, or its help does not say exit 0 means %q", path, done)
		}
	}

	for path, want := range map[string][]exitMeaning{
		"materialize":  materializeExitCodes,
		"cache verify": cacheVerifyExitCodes,
	} {
		cmd, _, err := root.Find(strings.Fields(path))
		if err != nil {
			t.Fatal(err)
		}
		meaning := map[int]string{}
		for _, row := range want {
			meaning[row.code] = row.meaning // the later row of a code counts
		}
		for code, m := range meaning {
			line := fmt.Sprintf("\n  %d  %s\n", code, m)
			if !strings.Contains(cmd.Long+"\n", line) {
				t.Errorf("%s --help lacks %q", path, line)
			}
		}
	}
	// One code, one meaning: a later row replaces the default.
	mat, _, _ := root.Find([]string{"materialize"})
	if n := strings.Count(mat.Long, "\n  1  "); n != 1 {
		t.Errorf("materialize documents exit 1 %d times", n)
	}
	verify, _, _ := root.Find([]string{"cache", "verify"})
	if !strings.Contains(verify.Long, "\n  3  blocks failed their checksum") {
		t.Errorf("cache verify does not say what 3 means:\n%s", verify.Long)
	}
	if !strings.Contains(mat.Long, "\n  3  the object or bucket does not exist") {
		t.Errorf("materialize does not say what 3 means:\n%s", mat.Long)
	}
}

// A web server at the endpoint that answers 404 is not a missing object
// (exit 3): materialize says the endpoint does not look like OSS, naming
// it, and exits 1. https:// to a plain-HTTP server says to use http://.
func TestMaterializeAgainstAnEndpointThatIsNotOSS(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	defer ts.Close()
	env := []string{"OSS_ACCESS_KEY_ID=LTAInotoss", "OSS_ACCESS_KEY_SECRET=secret"}
	dest := filepath.Join(t.TempDir(), "out.bin")
	r := runOssmount(t, env, "materialize", "--endpoint", ts.URL, "--cache-dir", t.TempDir(), "oss://bucket/key", dest)
	if r.code != exitFailure || !strings.Contains(r.stderr, "the endpoint "+ts.URL+" does not look like OSS") ||
		strings.Contains(r.stderr, "not found") {
		t.Errorf("404 from a web server: exit %d, %q; want exit 1 saying the endpoint does not look like OSS", r.code, r.stderr)
	}
	host := strings.TrimPrefix(ts.URL, "http://")
	r = runOssmount(t, env, "materialize", "--endpoint", "https://"+host, "--cache-dir", t.TempDir(), "oss://bucket/key", dest)
	if r.code != exitFailure || !strings.Contains(r.stderr, "use --endpoint http://"+host) || strings.Contains(r.stderr, "try again later") {
		t.Errorf("https:// to plain HTTP: exit %d, %q; want exit 1 advising http://", r.code, r.stderr)
	}
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("DEST was created: %v", err)
	}
}

// A mistyped subcommand is a usage error that suggests the nearest one, at
// every level.
func TestMistypedSubcommandSuggests(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"mout"}, `unknown command "mout" for "ossmount" (did you mean "mount"?)`},
		{[]string{"materialise"}, `(did you mean "materialize"?)`},
		{[]string{"cache", "stat"}, `unknown command "stat" for "ossmount cache" (did you mean "stats"?)`},
		{[]string{"cache", "verfy"}, `(did you mean "verify"?)`},
		{[]string{"completion", "bashh"}, `(did you mean "bash"?)`},
		{[]string{"help", "cache", "stat"}, `no help topic "cache stat" (did you mean "cache stats"?)`},
		{[]string{"help", "mout"}, `(did you mean "mount"?)`},
	}
	for _, c := range cases {
		_, _, code, err := execute(t, c.args...)
		if err == nil || code != exitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ossmount %q: exit %d, %v; want exit 2 and %q", c.args, code, err, c.want)
		}
	}
}
