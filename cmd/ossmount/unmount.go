package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/internal/fs"
)

func init() { subcommands = append(subcommands, newUnmountCommand) }

func newUnmountCommand() *cobra.Command {
	var lazy bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "unmount MOUNTPOINT",
		Short: "Unmount an ossmount mount and wait until its process has let go of the cache",
		Long: `unmount unmounts MOUNTPOINT (with umount(2) as root, fusermount3 -u
otherwise) and waits until the mount's process has closed the cache
directory, so that the cache can be used right away by another mount or by
"ossmount materialize".

It fails while files in the mount are open; --lazy detaches the mount at
once and lets the process finish when the last file is closed.

It unmounts only ossmount mounts (type fuse.ossmount in the kernel's mount
table): any other filesystem at MOUNTPOINT, or one mounted on top of an
ossmount mount there, is refused and named. A dead mount, whose process
has exited ("transport endpoint is not connected"), is unmounted like a
live one.`,
		Example: `  ossmount unmount /mnt/data
  ossmount unmount --lazy /mnt/data`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			abs, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			// Refuse what is not an ossmount mount before anything
			// touches it.
			mp, err := fs.FindMount(abs)
			if err != nil {
				return err
			}
			pid, cacheDir := mountOwner(mp)
			if err := fs.UnmountPath(mp, lazy); err != nil {
				return err
			}
			if lazy {
				fmt.Fprintf(cmd.OutOrStdout(), "detached %s; its process exits when the last file in it is closed\n", mp)
				return nil
			}
			if err := waitReleased(pid, cacheDir, timeout); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "unmounted %s\n", mp)
			return nil
		},
	}
	cmd.Flags().BoolVar(&lazy, "lazy", false, "detach the mount even while files in it are open")
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "how long to wait for the mount's process to close the cache")
	return cmd
}

// ownerWait bounds how long the mount's process may take to say who it
// is: one that does not answer is unmounted all the same.
const ownerWait = 5 * time.Second

// mountOwner asks the mount which process serves it and which cache it
// uses, before it goes away. A dead mount cannot answer (0 and "").
func mountOwner(mp string) (pid int, cacheDir string) {
	type owner struct {
		pid      int
		cacheDir string
	}
	res := make(chan owner, 1)
	go func() {
		pidText, _ := getxattr(mp, "user.ossmount.pid")
		pid, _ := strconv.Atoi(pidText)
		cacheDir, _ := getxattr(mp, "user.ossmount.cache_dir")
		res <- owner{pid, cacheDir}
	}()
	select {
	case o := <-res:
		return o.pid, o.cacheDir
	case <-time.After(ownerWait):
		return 0, ""
	}
}

// waitReleased waits until the cache directory has no owner (the mount's
// process closed its index), or, when the cache is unknown, until the
// mount's process has exited.
func waitReleased(pid int, cacheDir string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var busy bool
		switch {
		case cacheDir != "":
			owner, locked, err := cache.LockHolder(cacheDir)
			_, statErr := os.Stat(filepath.Join(cacheDir, cache.MarkerName))
			switch {
			case pid > 0 && (err != nil || statErr != nil):
				// The cache's lock cannot be read (its directory was
				// removed, its disk failed): wait for the process.
				busy = syscall.Kill(pid, 0) == nil
			case err == nil:
				busy = locked && (pid == 0 || owner == pid)
			}
		case pid > 0:
			busy = syscall.Kill(pid, 0) == nil
		}
		if !busy {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("unmounted, but process %d still holds the cache %s after %v", pid, cacheDir, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
