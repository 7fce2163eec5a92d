package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// execute runs the command line args in process and returns what it
// printed and the exit code main would use.
func execute(t *testing.T, args ...string) (stdout, stderr string, code int, err error) {
	t.Helper()
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	// A command that passes its checks by mistake must not run on.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = root.ExecuteContext(ctx)
	if err != nil {
		code = exitCode(err)
	}
	return out.String(), errOut.String(), code, err
}

func TestVersion(t *testing.T) {
	out, _, code, err := execute(t, "version")
	if err != nil || code != 0 || !strings.HasPrefix(out, "ossmount ") || strings.Count(out, "\n") != 1 {
		t.Fatalf("version: %q, %v (exit %d)", out, err, code)
	}
}

func TestRootHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {}, {"help"}} {
		out, _, code, err := execute(t, args...)
		if err != nil || code != 0 {
			t.Fatalf("ossmount %v: %v (exit %d)", args, err, code)
		}
		for _, want := range []string{"Usage:", "Examples:", "Available Commands:", "serve", "version", "OSS_ACCESS_KEY_ID"} {
			if !strings.Contains(out, want) {
				t.Errorf("ossmount %v does not show %q:\n%s", args, want, out)
			}
		}
	}
}

func TestServeHelp(t *testing.T) {
	out, _, code, err := execute(t, "serve", "--help")
	if err != nil || code != 0 {
		t.Fatalf("serve --help: %v (exit %d)", err, code)
	}
	if viaHelp, _, _, _ := execute(t, "help", "serve"); viaHelp != out {
		t.Errorf("'help serve' differs from 'serve --help':\n%s", viaHelp)
	}
	for _, want := range []string{"Examples:", "ossmount serve --root", "--anonymous", "--addr", "--latency",
		"--bandwidth", "--slowdown", "--cut-body", "--flip-byte", "--wrong-crc", "/-/stats", "OSS_ACCESS_KEY_ID"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help does not show %q:\n%s", want, out)
		}
	}
}

// Every command, cobra's own help and completion included, shows examples
// in its help: the project's rule for the command line.
func TestEveryCommandHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.Hidden && strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q has no Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand())
}

func TestUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("OSS_ACCESS_KEY_ID", "LTAIusageerrors")
	t.Setenv("OSS_ACCESS_KEY_SECRET", "secret")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"serv"}, `did you mean "serve"`},
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"version", "extra"}, "takes no arguments"},
		{[]string{"help", "nonsense"}, `no help topic "nonsense"`},
		{[]string{"serve", "--bogus"}, "unknown flag: --bogus (see 'ossmount serve --help')"},
		{[]string{"serve", "extra", "--root", dir}, "takes no arguments"},
		{[]string{"serve"}, "serve needs --root DIR"},
		{[]string{"serve", "--root", dir + "/missing"}, "is not a directory"},
		{[]string{"serve", "--root", dir, "--addr", "no-port"}, "--addr"},
		{[]string{"serve", "--root", dir, "--anonymous", "--addr", "0.0.0.0:0"}, "--anonymous is only allowed on a loopback address"},
		{[]string{"serve", "--root", dir, "--slowdown", "1.5"}, "--slowdown must be between 0 and 1"},
		{[]string{"serve", "--root", dir, "--cut-body", "-0.1"}, "--cut-body must be between 0 and 1"},
		{[]string{"serve", "--root", dir, "--flip-byte", "NaN"}, "--flip-byte must be between 0 and 1"},
		{[]string{"serve", "--root", dir, "--latency", "-1s"}, "--latency must not be negative"},
		{[]string{"serve", "--root", dir, "--latency", "soon"}, `invalid argument "soon" for "--latency"`},
		{[]string{"serve", "--root", dir, "--bandwidth", "fast"}, `--bandwidth: "fast" is not a size`},
	}
	for _, c := range cases {
		_, _, code, err := execute(t, c.args...)
		if err == nil || code != exitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ossmount %q: exit %d, %v; want exit %d and a message with %q", c.args, code, err, exitUsage, c.want)
		}
	}
}

func TestServeWithoutCredentialsNamesThem(t *testing.T) {
	t.Setenv("OSS_ACCESS_KEY_ID", "")
	t.Setenv("OSS_ACCESS_KEY_SECRET", "")
	_, _, code, err := execute(t, "serve", "--root", t.TempDir(), "--addr", "127.0.0.1:0")
	if err == nil || code == 0 {
		t.Fatalf("serve without a key pair started (exit %d)", code)
	}
	for _, want := range []string{"OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "--anonymous"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not name %s", err, want)
		}
	}
}
