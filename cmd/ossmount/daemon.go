package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ossmount/ossmount/internal/fs"
	"github.com/ossmount/ossmount/rangefetch"
)

// readyFDEnv names the file descriptor on which a mount started in the
// background reports "ready" or why it failed. The parent waits for that
// line, so "ossmount mount" exits 0 only once the mount works.
const readyFDEnv = "OSSMOUNT_READY_FD"

// logFileName is the daemon's log, in the cache directory.
const logFileName = "ossmount.log"

// startDaemon runs this mount again in the background (--foreground, in a
// new session, logging to the cache directory) and waits until it reports
// that the mount is ready or that it failed. Credentials reach the child
// through the environment it inherits, never through its arguments.
func startDaemon(cmd *cobra.Command, cacheDir string, url rangefetch.URL, mountpoint string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find the ossmount executable to start the mount: %w", err)
	}
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return fmt.Errorf("cache directory: %w", err)
	}
	logPath := filepath.Join(cacheDir, logFileName)
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open the mount's log: %w", err)
	}
	defer logFile.Close()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devNull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()

	args, err := daemonArgs(cmd, mountpoint)
	if err != nil {
		return err
	}
	child := exec.Command(exe, args...)
	child.Env = append(os.Environ(), readyFDEnv+"=3")
	child.Stdin = devNull
	child.Stdout = logFile
	child.Stderr = logFile
	child.ExtraFiles = []*os.File{w} // fd 3
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	child.Dir = "/"
	if err := child.Start(); err != nil {
		w.Close()
		return fmt.Errorf("start the mount process: %w", err)
	}
	w.Close() // the child holds the only write end: EOF means it is gone
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()

	line, _ := bufio.NewReader(r).ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case line == "ready":
		fmt.Fprintf(cmd.OutOrStdout(), "mounted %s at %s (pid %d, log %s)\n", url, mountpoint, child.Process.Pid, logPath)
		return nil
	case strings.HasPrefix(line, "error: "):
		<-exited
		return errors.New(strings.TrimPrefix(line, "error: "))
	}
	werr := <-exited
	return fmt.Errorf("the mount process exited before the mount was ready (%v); see %s", werr, logPath)
}

// daemonArgs rebuilds the command line for the background process from the
// flags actually given, so it does not depend on how this one was started.
// The child runs in "/" (so that it keeps no directory busy): paths are
// made absolute here, and the mountpoint is the one already resolved.
func daemonArgs(cmd *cobra.Command, mountpoint string) ([]string, error) {
	args := []string{cmd.Name(), "--foreground"}
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		v := f.Value.String()
		switch f.Name {
		case "foreground":
			return
		case "cache-dir", "credentials-file":
			if v != "" {
				abs, aerr := filepath.Abs(v)
				if aerr != nil && err == nil {
					err = fmt.Errorf("--%s: %w", f.Name, aerr)
				}
				v = abs
			}
		}
		args = append(args, "--"+f.Name+"="+v)
	})
	if err != nil {
		return nil, err
	}
	// The arguments were checked already: SOURCE, then MOUNTPOINT.
	return append(args, "--", cmd.Flags().Arg(0), mountpoint), nil
}

// readiness reports to a waiting parent; it does nothing when there is
// none (a plain --foreground run). onReady, if set, runs once the mount is
// ready (demo prints its instructions then).
type readiness struct {
	f       *os.File
	onReady func()
}

func readinessFromEnv() *readiness {
	v := os.Getenv(readyFDEnv)
	if v == "" {
		return &readiness{}
	}
	os.Unsetenv(readyFDEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return &readiness{}
	}
	// Programs this process starts (fusermount3) must not hold the pipe
	// open: the parent waits for it to close.
	syscall.CloseOnExec(fd)
	return &readiness{f: os.NewFile(uintptr(fd), "ready")}
}

func (r *readiness) ok() {
	if r != nil && r.onReady != nil {
		r.onReady()
	}
	r.send("ready")
}

func (r *readiness) fail(err error) {
	r.send("error: " + strings.ReplaceAll(err.Error(), "\n", " "))
}

func (r *readiness) send(line string) {
	if r == nil || r.f == nil {
		return
	}
	fmt.Fprintln(r.f, line)
	r.f.Close()
	r.f = nil
}

// How a signalled mount ends. After SIGINT or SIGTERM the process ends
// within stopBound whatever readers do: files still open get readerGrace
// to be closed after the mount is detached, and the rest of the bound is
// for closing the cache (recording its index). A second signal, or the
// bound running out, ends the process at once; the cache survives that as
// it survives a crash, and what it could not record is only blocks to
// fetch again. Ending the process also ends the kernel's FUSE connection
// (its device is closed), where fusectl is not there to abort it.
const (
	readerGrace = 5 * time.Second
	stopBound   = 10 * time.Second
)

// serveUntilSignal serves until the mount is unmounted from outside, or
// until SIGINT/SIGTERM, which unmount it: normally, or, if files in it are
// in use, by detaching it and failing the requests in progress.
func serveUntilSignal(srv *fs.Server, log *slog.Logger) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	var sig os.Signal
	select {
	case <-srv.Done():
		signal.Stop(sigs)
		srv.Wait()
		return
	case sig = <-sigs:
	}
	log.Info("unmounting", "signal", sig.String())
	// Signals stay caught until the process ends: the cache is closed
	// after this returns, still within the bound.
	go endWithin(stopBound, sigs, log)
	err := srv.Unmount()
	if err == nil {
		return
	}
	log.Warn("mount in use; detaching it and ending requests in progress", "err", err)
	ctx, cancel := context.WithTimeout(context.Background(), readerGrace)
	defer cancel()
	if err := srv.UnmountForce(ctx); err != nil {
		log.Warn("ending the mount with files still open", "err", err)
	}
}

// endWithin ends the process once bound has passed or at the next signal,
// whichever comes first.
func endWithin(bound time.Duration, sigs <-chan os.Signal, log *slog.Logger) {
	timer := time.NewTimer(bound)
	select {
	case sig := <-sigs:
		log.Warn("exiting at once", "signal", sig.String())
	case <-timer.C:
		log.Warn("exiting: the mount did not stop in time", "bound", bound)
	}
	os.Exit(exitFailure)
}
