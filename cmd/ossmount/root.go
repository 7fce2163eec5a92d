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
	root.AddCommand(newVersionCommand())
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	root.SetHelpCommand(newHelpCommand())
	addCompletionCommand(root)
	rejectEmptyArgs(root)
	return root
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
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return usagef("%s; see '%s --help'", msg, cmd.CommandPath())
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
				return usagef("no help topic %q; see 'ossmount --help'", strings.Join(args, " "))
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
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version of ossmount",
		Example: "  ossmount version",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "ossmount", buildVersion())
			return nil
		},
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
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
