package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// exitMeaning is one row of a command's table of exit codes: what code
// means when that command exits with it.
type exitMeaning struct {
	code    int
	meaning string
}

// exitCodesAnnotation holds, on every command, the "Exit codes:" section
// its help ends with, so that a test can tell that each has one.
const exitCodesAnnotation = "ossmount.exit-codes"

// exitCodes is the table of a command that exits 0 when done, 1 when it
// failed and 2 on a usage error, plus its own codes in more, which the
// command returns with withExitCode and the same constants. A row of more
// with code 1 says better what failure means for that command.
func exitCodes(done string, more ...exitMeaning) []exitMeaning {
	rows := []exitMeaning{
		{0, done},
		{exitFailure, "failed; the message says why"},
		{exitUsage, "bad flags or arguments; nothing was done"},
	}
	return append(rows, more...)
}

// documentExitCodes ends the help of cmd with its table of exit codes.
// The help is generated from the table that names the constants the
// command exits with, so the two cannot drift apart.
func documentExitCodes(cmd *cobra.Command, rows []exitMeaning) {
	byCode := map[int]string{}
	for _, r := range rows {
		byCode[r.code] = r.meaning // a later row replaces an earlier one
	}
	codes := slices.Sorted(maps.Keys(byCode))
	var b strings.Builder
	b.WriteString("Exit codes:\n")
	for _, code := range codes {
		fmt.Fprintf(&b, "  %d  %s\n", code, byCode[code])
	}
	section := strings.TrimSuffix(b.String(), "\n")
	long := strings.TrimRight(cmd.Long, "\n")
	if long == "" {
		long = cmd.Short
	}
	cmd.Long = long + "\n\n" + section
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[exitCodesAnnotation] = section
}

// doneMeanings says what exit 0 means for the commands whose only codes
// are 0, 1 and 2; the others have tables of their own.
var doneMeanings = map[string]string{
	"ossmount unmount":     "unmounted, and the mount's process has let go of the cache (with --lazy: detached)",
	"ossmount serve":       "stopped by Ctrl-C (SIGINT) or SIGTERM",
	"ossmount demo":        "stopped by Ctrl-C (SIGINT) or SIGTERM, and unmounted",
	"ossmount cache stats": "the figures were printed",
	"ossmount cache clear": "the cached versions were removed, or there is no cache at DIR",
	"ossmount cache list":  "the cached versions were listed (also when there is no cache at DIR)",
	"ossmount status":      "the mounts were listed (also when there are none, or one does not answer)",
}

// documentAllExitCodes gives every command under c that has no table of
// its own the plain one: 0, 1 and 2.
func documentAllExitCodes(c *cobra.Command) {
	if _, ok := c.Annotations[exitCodesAnnotation]; !ok {
		done := doneMeanings[c.CommandPath()]
		if done == "" {
			done = "done"
		}
		documentExitCodes(c, exitCodes(done))
	}
	for _, sub := range c.Commands() {
		documentAllExitCodes(sub)
	}
}
