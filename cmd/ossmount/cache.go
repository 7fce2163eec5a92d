package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/materialize"
	"github.com/ossmount/ossmount/rangefetch"
)

func init() { subcommands = append(subcommands, newCacheCommand) }

// exitCacheDropped is the exit code of "cache verify" when it dropped
// corrupt blocks (they will be fetched again when read).
const exitCacheDropped = 3

func newCacheCommand() *cobra.Command {
	var f cacheFlags
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Inspect, verify and clear the local cache",
		Long: `The cache keeps the blocks of objects that were read (by a mount or by
materialize) in sparse files, with an index of the blocks present. It
survives unmounts, crashes and reboots. One process owns a cache directory
at a time; verify and clear need it to be free (unmount first). A cache
directory carries the marker file OSSMOUNT-CACHE; no command takes over
a directory that holds anything else. stats and list only read.`,
		Example: `  ossmount cache stats
  ossmount cache list oss://my-bucket/
  ossmount cache verify --cache-dir /data/ossmount-cache
  ossmount cache clear oss://my-bucket/logs/`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	f.register(cmd.PersistentFlags())
	cmd.AddCommand(newCacheStatsCommand(&f), newCacheListCommand(&f), newCacheVerifyCommand(&f), newCacheClearCommand(&f))
	return cmd
}

func newCacheStatsCommand(f *cacheFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Show what the cache holds",
		Long: `Show the number of cached object versions, the disk space they use
(allocated bytes, not apparent sizes), the index size and the limit that
--cache-size and the free space set. Stats only reads: it changes nothing
in the cache directory, whatever the flags. If a running mount owns the
cache, stats names its pid and counts the data files without opening the
index. A directory without a cache gets "no cache at DIR" (exit 0); one
that holds something else is left alone with an error (exit 1).`,
		Example: `  ossmount cache stats
  ossmount cache stats --cache-dir /var/cache/ossmount --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			v, err := openCacheView(cmd, f)
			var locked *cache.LockedError
			switch {
			case errors.Is(err, cache.ErrNoCache):
				if asJSON {
					return writeJSON(out, struct {
						Dir     string
						NoCache bool
					}{viewDir(f), true})
				}
				fmt.Fprintf(out, "no cache at %s\n", viewDir(f))
				return nil
			case errors.As(err, &locked):
				return printUnreadIndexStats(out, locked.Dir,
					fmt.Sprintf("ossmount process %d holds it; hit and miss counters are that process's", locked.PID),
					locked.PID, false, asJSON)
			case errors.Is(err, cache.ErrUncleanIndex):
				return printUnreadIndexStats(out, viewDir(f),
					"none; the index was not closed cleanly and is recovered by the next mount, materialize or cache verify",
					0, true, asJSON)
			case err != nil:
				return err
			}
			defer v.Close()
			s, err := v.Stats()
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(out, s)
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "cache directory\t%s\n", s.Dir)
			fmt.Fprintf(w, "owner\tnone (no ossmount process is using it)\n")
			fmt.Fprintf(w, "block size\t%s\n", humanize.IBytes(uint64(s.BlockSize)))
			fmt.Fprintf(w, "entries\t%d\n", s.Entries)
			fmt.Fprintf(w, "unverified\t%d (complete, but OSS has no CRC64 for them)\n", s.Unverified)
			fmt.Fprintf(w, "bytes on disk\t%s (%d)\n", humanize.IBytes(uint64(s.BytesOnDisk)), s.BytesOnDisk)
			fmt.Fprintf(w, "index size\t%s\n", humanize.IBytes(uint64(s.IndexBytes)))
			fmt.Fprintf(w, "limit\t%s\n", humanize.IBytes(uint64(s.LimitBytes)))
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the figures as JSON")
	return cmd
}

// openCacheView opens the cache of the flags read-only.
func openCacheView(cmd *cobra.Command, f *cacheFlags) (*cache.View, error) {
	opts, err := f.options(newLogger(false, cmd.ErrOrStderr()))
	if err != nil {
		return nil, err
	}
	return cache.OpenView(opts)
}

// viewDir is the absolute cache directory of the flags, for messages.
func viewDir(f *cacheFlags) string {
	dir := f.dir
	if dir == "" {
		dir = cache.DefaultDir()
	}
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// printUnreadIndexStats reports a cache whose index cannot be read (a
// process owns it, or it needs recovery): who owns it, and what its data
// files take on disk.
func printUnreadIndexStats(out io.Writer, dir, owner string, pid int, unclean, asJSON bool) error {
	files, bytes, err := cache.DiskUsage(dir)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(out, struct {
			Dir          string
			OwnerPID     int
			IndexUnclean bool
			Entries      int
			BytesOnDisk  int64
		}{dir, pid, unclean, files, bytes})
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "cache directory\t%s\n", dir)
	fmt.Fprintf(w, "owner\t%s\n", owner)
	fmt.Fprintf(w, "entries\t%d (data files)\n", files)
	fmt.Fprintf(w, "bytes on disk\t%s (%d)\n", humanize.IBytes(uint64(bytes)), bytes)
	return w.Flush()
}

func newCacheListCommand(f *cacheFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [oss://BUCKET[/PREFIX]]",
		Short: "List the cached object versions",
		Long: `List every cached object version (or those under oss://BUCKET/PREFIX),
most recently used first: its size, how much of it the cache holds, its
state and its last use. The state is "verified" when every block is
present and their combined CRC64 matched the one OSS reported,
"unverified" when every block is present and checked but OSS reported no
CRC64 (passthrough never serves it), "unchecked" when every block is
present but the whole was not checked yet or disagreed with the CRC64
(the owner repairs it), and "partial" otherwise.

List only reads: it changes nothing in the cache directory. When a running
mount (or another ossmount process) owns the cache, that process answers
over the cache's socket, counting the blocks it has recorded.`,
		Example: `  ossmount cache list
  ossmount cache list oss://my-bucket/datasets/ --json`,
		Args: atMostOnePrefix,
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := prefixArg(args)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			v, err := openCacheView(cmd, f)
			var locked *cache.LockedError
			switch {
			case errors.Is(err, cache.ErrNoCache):
				if asJSON {
					return writeJSON(out, []cache.VersionInfo{})
				}
				fmt.Fprintf(out, "no cache at %s\n", viewDir(f))
				return nil
			case errors.As(err, &locked):
			case err != nil:
				return err
			}
			var all []cache.VersionInfo
			if locked != nil {
				// The owner holds the index: it lists its versions.
				ctx, cancel := context.WithTimeout(commandContext(cmd), 10*time.Second)
				all, err = materialize.QueryVersions(ctx, locked.Dir)
				cancel()
				if err != nil {
					return fmt.Errorf("%v; and asking it for its versions failed: %w", locked, err)
				}
			} else {
				defer v.Close()
				if all, err = v.Versions(); err != nil {
					return err
				}
			}
			list := []cache.VersionInfo{}
			for _, vi := range all {
				if u.Bucket == "" || (vi.Bucket == u.Bucket && strings.HasPrefix(vi.Key, u.Key)) {
					list = append(list, vi)
				}
			}
			if asJSON {
				return writeJSON(out, list)
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "SIZE\tPRESENT\tSTATE\tLAST USE\tOBJECT\n")
			for _, vi := range list {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n",
					humanize.IBytes(uint64(vi.Size)), presentText(vi), versionState(vi),
					vi.LastUse.Local().Format("2006-01-02 15:04:05"),
					rangefetch.URL{Bucket: vi.Bucket, Key: vi.Key})
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the versions as JSON")
	return cmd
}

// presentText is how much of a version the cache holds, in bytes and as
// a share of the object.
func presentText(vi cache.VersionInfo) string {
	if vi.Size == 0 {
		return "0 B (100%)"
	}
	return fmt.Sprintf("%s (%d%%)", humanize.IBytes(uint64(vi.PresentBytes)), vi.PresentBytes*100/vi.Size)
}

// versionState names what the cache knows of a version's integrity.
func versionState(vi cache.VersionInfo) string {
	switch {
	case vi.Verified:
		return "verified"
	case vi.Complete:
		return "unverified"
	case vi.PresentBlocks == vi.Blocks:
		return "unchecked"
	default:
		return "partial"
	}
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// cacheVerifyExitCodes is the table of exit codes in cache verify's help.
var cacheVerifyExitCodes = exitCodes("every cached block matched its checksum, or there is no cache at DIR",
	exitMeaning{exitFailure, "the cache is in use, DIR is not a cache, or verify failed"},
	exitMeaning{exitCacheDropped, "blocks failed their checksum and were dropped (they are fetched again when read)"})

func newCacheVerifyCommand(f *cacheFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check every cached block against its checksum",
		Long: `Read every block the cache holds and check it against the CRC64 recorded
when it was fetched. Blocks that fail are dropped; they will be fetched
again when read. Where there is no cache, verify says so and creates none.`,
		Example: `  ossmount cache verify
  ossmount cache verify --cache-dir /data/ossmount-cache || echo "corrupt blocks were dropped"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := openCacheExclusive(cmd, f)
			if errors.Is(err, cache.ErrNoCache) {
				fmt.Fprintf(cmd.OutOrStdout(), "no cache at %s; nothing to verify\n", viewDir(f))
				return nil
			}
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, stop := signal.NotifyContext(commandContext(cmd), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := c.Verify(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, d := range rep.Dropped {
				fmt.Fprintf(out, "dropped %s block %d (bytes %d-%d)\n",
					rangefetch.URL{Bucket: d.Bucket, Key: d.Key}, d.Block, d.Off, d.Off+d.Len-1)
			}
			fmt.Fprintf(out, "checked %d blocks (%s) of %d cached versions: %d dropped",
				rep.Blocks, humanize.IBytes(uint64(rep.Bytes)), rep.Versions, len(rep.Dropped))
			if rep.Removed > 0 {
				fmt.Fprintf(out, ", %d versions without their data file forgotten", rep.Removed)
			}
			fmt.Fprintln(out)
			for _, u := range rep.Unverified {
				fmt.Fprintf(out, "unverified %s: complete, but OSS has no CRC64 for it\n", rangefetch.URL{Bucket: u.Bucket, Key: u.Key})
			}
			if n := len(rep.Unverified); n > 0 {
				fmt.Fprintf(out, "%d complete versions are unverified: only their blocks' checks vouch for them\n", n)
			}
			if len(rep.Dropped) > 0 {
				return withExitCode(exitCacheDropped, fmt.Errorf(
					"%d cached blocks failed their checksum and were dropped; they will be fetched again", len(rep.Dropped)))
			}
			return nil
		},
	}
	documentExitCodes(cmd, cacheVerifyExitCodes)
	return cmd
}

func newCacheClearCommand(f *cacheFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "clear [oss://BUCKET[/PREFIX]]",
		Short: "Remove cached objects",
		Long: `Remove the cached versions of the objects under oss://BUCKET/PREFIX, of a
whole bucket, or (without an argument) everything in the cache. Where
there is no cache, clear says so and creates none.

Exit codes: 0 removed (or there is no cache at DIR), 1 the cache is in
use, DIR is not a cache, or clear failed, 2 usage error.`,
		Example: `  ossmount cache clear
  ossmount cache clear oss://my-bucket
  ossmount cache clear oss://my-bucket/datasets/2024/`,
		Args: atMostOnePrefix,
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := prefixArg(args)
			if err != nil {
				return err
			}
			c, err := openCacheExclusive(cmd, f)
			if errors.Is(err, cache.ErrNoCache) {
				fmt.Fprintf(cmd.OutOrStdout(), "no cache at %s; nothing to clear\n", viewDir(f))
				return nil
			}
			if err != nil {
				return err
			}
			defer c.Close()
			n, err := c.Clear(u.Bucket, u.Key)
			if err != nil {
				return err
			}
			what := "the cache"
			if u.Bucket != "" {
				what = u.String()
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d cached object versions from %s\n", n, what)
			return nil
		},
	}
}

// openCacheExclusive opens an existing cache for maintenance, explaining
// what to do if a running mount owns it. Where there is no cache it
// creates none and returns an error wrapping cache.ErrNoCache.
func openCacheExclusive(cmd *cobra.Command, f *cacheFlags) (*cache.Cache, error) {
	opts, err := f.options(newLogger(false, cmd.ErrOrStderr()))
	if err != nil {
		return nil, err
	}
	opts.Existing = true
	c, err := cache.Open(opts, nil)
	var locked *cache.LockedError
	if errors.As(err, &locked) {
		return nil, fmt.Errorf("%w; unmount it (or stop that process) first", err)
	}
	return c, err
}

func commandContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// atMostOnePrefix is the argument check of the cache commands that take an
// optional oss://BUCKET[/PREFIX].
func atMostOnePrefix(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return usagef("%s takes at most one argument, oss://BUCKET[/PREFIX]", cmd.CommandPath())
	}
	return nil
}

// prefixArg parses that argument: the zero URL (everything) when there is
// none.
func prefixArg(args []string) (rangefetch.URL, error) {
	if len(args) == 0 {
		return rangefetch.URL{}, nil
	}
	u, err := rangefetch.ParseURL(args[0])
	if err != nil {
		return u, usagef("%v", err)
	}
	return u, nil
}
