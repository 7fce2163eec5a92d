package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "ossmount",
		Short: "Mount an Alibaba Cloud OSS bucket read-only and make objects local, fast",
		Long: `ossmount mounts an OSS bucket (or a prefix of it) as a read-only folder.
Reads fetch only the byte ranges they need into a persistent local cache, which
survives unmounts, crashes and reboots. "ossmount materialize" turns an object
into a verified local file, reusing whatever the cache already holds.

Credentials come from OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET and, for STS,
OSS_SESSION_TOKEN, or from a file given with --credentials-file (mode 0600).`,
		Example: `  # try it on a built-in local server, no account needed
  ossmount demo

  # mount a bucket prefix, read it, unmount
  export OSS_ACCESS_KEY_ID=... OSS_ACCESS_KEY_SECRET=...
  ossmount mount --endpoint oss-cn-hangzhou.aliyuncs.com oss://my-bucket/datasets /mnt/data
  ossmount unmount /mnt/data

  # make one object a verified local file
  ossmount materialize oss://my-bucket/models/llm.bin ./llm.bin`,
		// Without arguments the root prints its help; with one it is an
		// unknown command, which is a usage error like any other.
		Args: unknownCommand,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },

		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%v (see '%s --help')", err, c.CommandPath())
	})
	root.Version = buildVersion()
	root.SetVersionTemplate("ossmount {{.Version}}\n")
	root.AddCommand(newVersionCommand())
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	root.SetHelpCommand(newHelpCommand())
	root.InitDefaultHelpCmd()
	addCompletionCommand(root)
	suggestSubcommands(root)
	rejectEmptyArgs(root)
	documentAllExitCodes(root)
	return root
}

// suggestSubcommands makes every command that has subcommands answer an
// unknown one with a usage error that suggests the nearest name, as the
// root does ("ossmount cache stat": did you mean "stats"?).
func suggestSubcommands(c *cobra.Command) {
	if c.HasSubCommands() {
		c.Args = unknownCommand
		if !c.Runnable() {
			// Cobra answers any arguments of a command that cannot run
			// with its help and exit status 0, before checking them.
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
	}
	for _, sub := range c.Commands() {
		suggestSubcommands(sub)
	}
}

// rejectEmptyArgs makes an empty positional argument a usage error for c
// and every command below it that checks its arguments: "" is never a
// path, URL or name, and taken as a path it would mean the working
// directory. (Commands that check nothing are parents, whose arguments
// cobra matches against their subcommands.)
func rejectEmptyArgs(c *cobra.Command) {
	for _, sub := range c.Commands() {
		rejectEmptyArgs(sub)
	}
	check := c.Args
	if check == nil {
		return
	}
	c.Args = func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return err
		}
		for i, a := range args {
			if a == "" {
				return usagef("%s must not be empty (see '%s --help')", argName(cmd, i), cmd.CommandPath())
			}
		}
		return nil
	}
}

// unknownCommand rejects what cobra could not match to a subcommand.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := suggestionFor(cmd, args[0]); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return usagef("%s; see '%s --help'", msg, cmd.CommandPath())
}

// suggestionFor returns the subcommand of cmd nearest to the mistyped
// name, or "". Cobra sets its default distance only on its own path, so
// it is set here: typos within two edits ("mout") are suggested, as are
// prefixes ("serv").
func suggestionFor(cmd *cobra.Command, name string) string {
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		return s[0]
	}
	return ""
}

// newHelpCommand replaces cobra's help command, which answers an unknown
// topic with exit status 0, by one for which that is a usage error.
func newHelpCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "help [command]",
		Short:   "Help about any command",
		Example: "  ossmount help materialize\n  ossmount help cache clear",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				msg := fmt.Sprintf("no help topic %q", strings.Join(args, " "))
				if cmd != nil && len(rest) > 0 {
					if s := suggestionFor(cmd, rest[0]); s != "" {
						msg += fmt.Sprintf(" (did you mean %q?)", strings.TrimSpace(strings.TrimPrefix(cmd.CommandPath(), "ossmount")+" "+s))
					}
				}
				return usagef("%s; see 'ossmount --help'", msg)
			}
			cmd.InitDefaultHelpFlag() // list --help as "cmd --help" would
			return cmd.Help()
		},
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []string
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					names = append(names, sub.Name()+"\t"+sub.Short)
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
	}
}

// addCompletionCommand creates cobra's completion command now, rather than
// when the root executes, so that its help shows examples like every other
// subcommand's.
func addCompletionCommand(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Example = completionExamples["bash"]
		for _, shell := range c.Commands() {
			shell.Example = completionExamples[shell.Name()]
		}
	}
}

// completionExamples show how to load each shell's completion script.
var completionExamples = map[string]string{
	"bash":       "  source <(ossmount completion bash)\n  ossmount completion bash > /etc/bash_completion.d/ossmount",
	"zsh":        "  ossmount completion zsh > \"${fpath[1]}/_ossmount\"",
	"fish":       "  ossmount completion fish > ~/.config/fish/completions/ossmount.fish",
	"powershell": "  ossmount completion powershell | Out-String | Invoke-Expression",
}

// subcommands lists the constructors of the subcommands defined in other
// files of this package; each file appends its own in an init function.
var subcommands []func() *cobra.Command

func newVersionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of ossmount",
		Long: `version prints the module version of this build and the commit it was
built from (revision, whether the work tree had uncommitted changes, and the
commit time), as recorded by the Go toolchain, and the Go version. "ossmount
--version" prints the same line.`,
		Example: "  ossmount version\n  ossmount --version",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "ossmount", buildVersion())
			return nil
		},
	}
	documentExitCodes(cmd, exitCodes("the version was printed"))
	return cmd
}

// buildVersion describes this build from what the Go toolchain recorded in
// it: "v1.2.3 (revision 0123abcd…, modified, committed 2026-12-01T10:00:00Z,
// go1.26.8)". The module version is "devel" for a build of a work tree
// without a version; the revision is missing where the build had no VCS
// information (go build -buildvcs=false, or a source tree without .git).
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return orDevel(version) + " (no build information)"
	}
	return describeBuild(version, bi)
}

// describeBuild is buildVersion for the build information bi; override,
// if set (-ldflags "-X main.version=..."), replaces the module version.
func describeBuild(override string, bi *debug.BuildInfo) string {
	v := override
	if v == "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	var details []string
	if rev := settings["vcs.revision"]; rev != "" {
		details = append(details, "revision "+rev)
		if settings["vcs.modified"] == "true" {
			details = append(details, "modified")
		}
		if t := settings["vcs.time"]; t != "" {
			details = append(details, "committed "+t)
		}
	} else {
		details = append(details, "no VCS revision recorded")
	}
	details = append(details, bi.GoVersion)
	return orDevel(v) + " (" + strings.Join(details, ", ") + ")"
}

func orDevel(v string) string {
	if v == "" {
		return "devel"
	}
	return v
}

// argName is the name of positional argument i in cmd's usage line
// ("MOUNTPOINT" of "mount oss://BUCKET[/PREFIX] MOUNTPOINT", "DIR" of
// "demo [DIR]"), or "argument N" when the line does not name it.
func argName(cmd *cobra.Command, i int) string {
	var names []string
	for _, f := range strings.Fields(cmd.Use)[1:] {
		if f == "[flags]" {
			continue
		}
		if strings.HasPrefix(f, "[") {
			f = strings.TrimSuffix(strings.TrimPrefix(f, "["), "]")
		}
		names = append(names, f)
	}
	if i < len(names) && !strings.Contains(names[i], "...") {
		return names[i]
	}
	return fmt.Sprintf("argument %d", i+1)
}

// noArgs rejects positional arguments with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

// exactArgs requires n positional arguments, naming them in the error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s needs %d argument(s): %s", cmd.CommandPath(), n, cmd.Use)
		}
		return nil
	}
}
