package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ossmount/ossmount/internal/fs"
	"github.com/ossmount/ossmount/internal/mountinfo"
	"github.com/ossmount/ossmount/materialize"
)

func init() { subcommands = append(subcommands, newStatusCommand) }

// ossmountMountType is the filesystem type the kernel lists for every
// ossmount mount.
const ossmountMountType = "fuse.ossmount"

// statusTimeout bounds how long status waits for one mount's process:
// one that is stopped or stuck is reported as not responding instead.
const statusTimeout = 3 * time.Second

// States of a mount in "ossmount status".
const (
	stateServing       = "serving"
	stateNotResponding = "not responding"
)

// mountReport is one line of "ossmount status"; with --json, one element
// of "mounts". Figures are zero when the mount's process did not answer.
type mountReport struct {
	Mountpoint    string    `json:"mountpoint"`
	State         string    `json:"state"`            // stateServing or stateNotResponding
	Reason        string    `json:"reason,omitempty"` // why it is not responding
	Source        string    `json:"source,omitempty"` // oss://BUCKET/PREFIX
	PID           int       `json:"pid,omitempty"`
	CacheDir      string    `json:"cache_dir,omitempty"`
	Mounted       time.Time `json:"mounted,omitzero"`
	UptimeSeconds int64     `json:"uptime_seconds,omitempty"`
	ReadBytes     int64     `json:"read_bytes"`
	HitBytes      int64     `json:"hit_bytes"`
	MissBytes     int64     `json:"miss_bytes"`
	FetchedBytes  int64     `json:"fetched_bytes"`
}

func newStatusCommand() *cobra.Command {
	var asJSON bool
	var rootAttrsOf string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List the running ossmount mounts and what they have read and fetched",
		Long: `status lists the ossmount mounts in the kernel's mount table and asks each
mount's process, over its cache directory's control socket, for its figures:
the source, the mountpoint, the cache directory, the pid, how long it has
been mounted, the bytes read from the cache (hit) and fetched for reads
(miss), and all bytes fetched from OSS (prefetch included). Counts start
when the process opened its cache.

A mount whose process does not answer within a few seconds (it crashed, was
killed or is stopped) is listed as "not responding"; "ossmount unmount
MOUNTPOINT" removes a dead one. With no mounts, status says so.

Exit status: 0 when the mounts were listed (also when some do not respond
or there are none), 1 when the mount table cannot be read, 2 for a usage
error.`,
		Example: `  ossmount status
  ossmount status --json | jq '.mounts[] | {mountpoint, fetched_bytes}'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rootAttrsOf != "" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(readRootAttrs(rootAttrsOf))
			}
			mounts, err := mountinfo.Read()
			if err != nil {
				return fmt.Errorf("read the mount table: %w", err)
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			reports := mountReports(ctx, mounts, time.Now())
			if asJSON {
				return writeStatusJSON(cmd.OutOrStdout(), reports)
			}
			writeStatusTable(cmd.OutOrStdout(), reports)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"mounts": [...]} as JSON, byte counts in bytes`)
	// The child of mountAttrs: print one mount's root attributes as JSON.
	cmd.Flags().StringVar(&rootAttrsOf, "root-attrs", "", "")
	_ = cmd.Flags().MarkHidden("root-attrs")
	return cmd
}

// mountReports asks every ossmount mount in mounts for its status, all at
// once, each within statusTimeout. They come back sorted by mountpoint.
func mountReports(ctx context.Context, mounts []mountinfo.Mount, now time.Time) []mountReport {
	var points []string
	seen := map[string]bool{}
	for _, m := range mounts {
		if m.FSType == ossmountMountType && !seen[m.Point] {
			seen[m.Point] = true
			points = append(points, m.Point)
		}
	}
	sort.Strings(points)
	reports := make([]mountReport, len(points))
	var wg sync.WaitGroup
	for i, mp := range points {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, statusTimeout)
			defer cancel()
			reports[i] = mountReportOf(ctx, mp, now)
		})
	}
	wg.Wait()
	return reports
}

// mountReportOf asks the mount at mp which process and cache serve it (its
// root's extended attributes, answered by that process), then asks that
// process for its figures over the cache's socket.
func mountReportOf(ctx context.Context, mp string, now time.Time) mountReport {
	r := mountReport{Mountpoint: mp, State: stateNotResponding}
	attrs, err := mountAttrs(ctx, mp)
	if err != nil {
		r.Reason = err.Error()
		if errors.Is(err, errMountGone) {
			r.Reason += "; run 'ossmount unmount " + mp + "'"
		}
		return r
	}
	r.Source, r.CacheDir = attrs.Source, attrs.CacheDir
	r.PID, _ = strconv.Atoi(attrs.PID)
	st, err := materialize.QueryStatus(ctx, attrs.CacheDir)
	switch {
	case err != nil && ctx.Err() != nil:
		r.Reason = fmt.Sprintf("no answer on the control socket of %s within %v", attrs.CacheDir, statusTimeout)
		return r
	case err != nil:
		r.Reason = err.Error()
		return r
	case r.PID != 0 && st.PID != r.PID:
		r.Reason = fmt.Sprintf("the cache %s is owned by process %d, not by the mount's process %d", attrs.CacheDir, st.PID, r.PID)
		return r
	}
	r.State = stateServing
	r.PID = st.PID
	r.HitBytes, r.MissBytes, r.FetchedBytes = st.HitBytes, st.MissBytes, st.FetchedBytes
	r.Mounted = st.Started
	if m := st.Mount; m != nil {
		r.Source = m.Source
		r.Mounted = m.Mounted
		r.ReadBytes = m.ReadBytes
	}
	if !r.Mounted.IsZero() {
		r.UptimeSeconds = int64(now.Sub(r.Mounted).Seconds())
	}
	return r
}

// rootAttrs are the extended attributes of a mount's root directory, as
// the probe child prints them.
type rootAttrs struct {
	CacheDir string `json:"cache_dir,omitempty"`
	PID      string `json:"pid,omitempty"`
	Source   string `json:"source,omitempty"`
	Error    string `json:"error,omitempty"`
	Gone     bool   `json:"gone,omitempty"` // the mount's process is gone (ENOTCONN)
}

// errMountGone means a mount's process has exited and left the mount.
var errMountGone = errors.New("its process is gone (transport endpoint is not connected)")

// readRootAttrs reads the attributes of the mount at mp; the mount's
// process answers them.
func readRootAttrs(mp string) rootAttrs {
	var a rootAttrs
	var err error
	if a.CacheDir, err = getxattr(mp, "user.ossmount.cache_dir"); err != nil {
		return rootAttrs{Error: err.Error(), Gone: errors.Is(err, syscall.ENOTCONN)}
	}
	a.PID, _ = getxattr(mp, "user.ossmount.pid")
	a.Source, _ = getxattr(mp, "user.ossmount.source")
	return a
}

// mountAttrs reads the root's attributes in a child process (status with
// the hidden --root-attrs flag). A FUSE request that the mount's process
// has taken and never answers (it is stuck, or was stopped just then)
// cannot be interrupted, not even by SIGKILL, and a process with a thread
// waiting for one cannot exit. Asked from a child, such a wait holds up
// only the child, which status leaves behind when ctx ends: status itself
// always finishes.
func mountAttrs(ctx context.Context, mp string) (rootAttrs, error) {
	exe, err := os.Executable()
	if err != nil {
		return rootAttrs{}, fmt.Errorf("cannot find the ossmount executable: %w", err)
	}
	var out bytes.Buffer
	child := exec.Command(exe, "status", "--root-attrs", mp)
	child.Stdout = &out
	child.Dir = "/"
	if err := child.Start(); err != nil {
		return rootAttrs{}, fmt.Errorf("start the attribute reader: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	select {
	case <-exited:
	case <-ctx.Done():
		child.Process.Kill()
		return rootAttrs{}, fmt.Errorf("its process did not answer within %v (stopped or stuck?)", statusTimeout)
	}
	var a rootAttrs
	if err := json.Unmarshal(out.Bytes(), &a); err != nil {
		return rootAttrs{}, fmt.Errorf("the attribute reader printed %q: %v", out.String(), err)
	}
	switch {
	case a.Gone:
		return a, errMountGone
	case a.Error != "":
		return a, errors.New(a.Error)
	}
	return a, nil
}

func writeStatusJSON(w io.Writer, reports []mountReport) error {
	if reports == nil {
		reports = []mountReport{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Mounts []mountReport `json:"mounts"`
	}{reports})
}

func writeStatusTable(w io.Writer, reports []mountReport) {
	if len(reports) == 0 {
		fmt.Fprintln(w, "no ossmount mounts")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MOUNTPOINT\tSOURCE\tPID\tUPTIME\tHIT\tMISS\tFETCHED\tCACHE DIR")
	var dead []mountReport
	for _, r := range reports {
		if r.State != stateServing {
			dead = append(dead, r)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t-\t-\t%s\n", r.Mountpoint, orDash(r.Source), orDash(pidText(r.PID)), stateNotResponding, orDash(r.CacheDir))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Mountpoint, r.Source, r.PID,
			(time.Duration(r.UptimeSeconds) * time.Second).String(),
			iecBytes(r.HitBytes), iecBytes(r.MissBytes), iecBytes(r.FetchedBytes), r.CacheDir)
	}
	tw.Flush()
	for _, r := range dead {
		fmt.Fprintf(w, "%s: not responding: %s\n", r.Mountpoint, r.Reason)
	}
}

func pidText(pid int) string {
	if pid == 0 {
		return ""
	}
	return strconv.Itoa(pid)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// mountStatus is what a mount's process reports about its mount to
// "ossmount status".
func mountStatus(source string, srv *fs.Server) materialize.StatusProvider {
	mounted := time.Now()
	return func() materialize.MountStatus {
		return materialize.MountStatus{
			Source:     source,
			Mountpoint: srv.Mountpoint(),
			Mounted:    mounted,
			ReadBytes:  srv.Stats().ReadBytes,
		}
	}
}

// iecBytes writes a byte count in binary units: "0 B", "512 B", "4.0 MiB".
func iecBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
