package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/ossmount/ossmount/cache"
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
at a time; verify and clear need it to be free (unmount first).`,
		Example: `  ossmount cache stats
  ossmount cache verify --cache-dir /data/ossmount-cache
  ossmount cache clear oss://my-bucket/logs/`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	f.register(cmd.PersistentFlags())
	cmd.AddCommand(newCacheStatsCommand(&f), newCacheVerifyCommand(&f), newCacheClearCommand(&f))
	return cmd
}

func newCacheStatsCommand(f *cacheFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Show what the cache holds",
		Long: `Show the number of cached object versions, the disk space they use
(allocated bytes, not apparent sizes), the index size and the limit. If a
running mount owns the cache, stats names its pid and counts the data files
without opening the index.`,
		Example: `  ossmount cache stats
  ossmount cache stats --cache-dir /var/cache/ossmount --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(false, cmd.ErrOrStderr())
			opts, err := f.options(log)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if _, err := os.Stat(opts.Dir); errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(out, "no cache at %s yet\n", opts.Dir)
				return nil
			}
			c, err := cache.Open(opts, nil)
			var locked *cache.LockedError
			if errors.As(err, &locked) {
				return printOwnedStats(out, opts.Dir, locked.PID, asJSON)
			}
			if err != nil {
				return err
			}
			defer c.Close()
			c.WaitCounted()
			s := c.Stats()
			if asJSON {
				return writeJSON(out, s)
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "cache directory\t%s\n", s.Dir)
			fmt.Fprintf(w, "owner\tnone (no ossmount process is using it)\n")
			fmt.Fprintf(w, "block size\t%s\n", humanize.IBytes(uint64(s.BlockSize)))
			fmt.Fprintf(w, "entries\t%d\n", s.Entries)
			fmt.Fprintf(w, "bytes on disk\t%s (%d)\n", humanize.IBytes(uint64(s.BytesOnDisk)), s.BytesOnDisk)
			fmt.Fprintf(w, "index size\t%s\n", humanize.IBytes(uint64(s.IndexBytes)))
			fmt.Fprintf(w, "limit\t%s\n", humanize.IBytes(uint64(s.LimitBytes)))
			fmt.Fprintf(w, "hit bytes\t%s (since start)\n", humanize.IBytes(uint64(s.HitBytes)))
			fmt.Fprintf(w, "miss bytes\t%s (since start)\n", humanize.IBytes(uint64(s.MissBytes)))
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the figures as JSON")
	return cmd
}

// printOwnedStats reports a cache another process owns: who, and what its
// data files take on disk (the index stays the owner's).
func printOwnedStats(out io.Writer, dir string, pid int, asJSON bool) error {
	files, bytes, err := cache.DiskUsage(dir)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(out, struct {
			Dir         string
			OwnerPID    int
			Entries     int
			BytesOnDisk int64
		}{dir, pid, files, bytes})
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "cache directory\t%s\n", dir)
	fmt.Fprintf(w, "owner\tossmount process %d holds it; hit and miss counters are that process's\n", pid)
	fmt.Fprintf(w, "entries\t%d (data files)\n", files)
	fmt.Fprintf(w, "bytes on disk\t%s (%d)\n", humanize.IBytes(uint64(bytes)), bytes)
	return w.Flush()
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// cacheVerifyExitCodes is the table of exit codes in cache verify's help.
var cacheVerifyExitCodes = exitCodes("every cached block matched its checksum",
	exitMeaning{exitCacheDropped, "blocks failed their checksum and were dropped (they are fetched again when read)"})

func newCacheVerifyCommand(f *cacheFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check every cached block against its checksum",
		Long: `Read every block the cache holds and check it against the CRC64 recorded
when it was fetched. Blocks that fail are dropped; they will be fetched
again when read.`,
		Example: `  ossmount cache verify
  ossmount cache verify --cache-dir /data/ossmount-cache || echo "corrupt blocks were dropped"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := openCacheExclusive(cmd, f)
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
whole bucket, or (without an argument) everything in the cache.`,
		Example: `  ossmount cache clear
  ossmount cache clear oss://my-bucket
  ossmount cache clear oss://my-bucket/datasets/2024/`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("%s takes at most one argument, oss://BUCKET[/PREFIX]", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var u rangefetch.URL
			if len(args) == 1 {
				var err error
				if u, err = rangefetch.ParseURL(args[0]); err != nil {
					return usagef("%v", err)
				}
			}
			c, err := openCacheExclusive(cmd, f)
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

// openCacheExclusive opens the cache for maintenance, explaining what to do
// if a running mount owns it.
func openCacheExclusive(cmd *cobra.Command, f *cacheFlags) (*cache.Cache, error) {
	opts, err := f.options(newLogger(false, cmd.ErrOrStderr()))
	if err != nil {
		return nil, err
	}
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
