package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/internal/fs"
	"github.com/ossmount/ossmount/rangefetch"
)

// readyFDEnv names the file descriptor on which a mount started in the
// background reports "ready" or why it failed. The parent waits for that
// line, so "ossmount mount" exits 0 only once the mount works.
const readyFDEnv = "OSSMOUNT_READY_FD"

// logFileName is the daemon's log, in the cache directory, unless
// --log-file says otherwise.
const logFileName = "ossmount.log"

// startDaemon runs this mount again in the background (--foreground, in a
// new session, logging to logPath) and waits until it reports that the
// mount is ready or that it failed, with the exit code it failed with.
// Credentials reach the child through the environment it inherits, never
// through its arguments.
func startDaemon(cmd *cobra.Command, cacheDir, logPath string, url rangefetch.URL, mountpoint string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find the ossmount executable to start the mount: %w", err)
	}
	// The log goes into the cache directory only once it is the cache's.
	if err := cache.Claim(cacheDir); err != nil {
		return err
	}
	// The child's standard output and error: what it prints before its
	// log is set up, and a crash's stack trace.
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

	args, err := daemonArgs(cmd, mountpoint, logPath)
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

	ready, err := awaitReadiness(r, cmd.ErrOrStderr())
	if ready {
		fmt.Fprintf(cmd.OutOrStdout(), "mounted %s at %s (pid %d, log %s)\n", url, mountpoint, child.Process.Pid, logPath)
		return nil
	}
	werr := <-exited
	if err != nil {
		return err
	}
	return fmt.Errorf("the mount process exited before the mount was ready (%v); see %s", werr, logPath)
}

// awaitReadiness reads what a mount in the background reports on r:
// warnings, copied to warnings as they come, then "ready" (ready is true)
// or the error it failed with, carrying its exit code. Neither (nil, false)
// means the process ended without a word.
func awaitReadiness(r io.Reader, warnings io.Writer) (ready bool, err error) {
	lines := bufio.NewScanner(r)
	for lines.Scan() {
		line := lines.Text()
		if msg, ok := strings.CutPrefix(line, "warning: "); ok {
			fmt.Fprintln(warnings, "ossmount: warning:", msg)
			continue
		}
		if line == "ready" {
			return true, nil
		}
		// "error CODE: message"
		if rest, ok := strings.CutPrefix(line, "error "); ok {
			codeText, msg, ok := strings.Cut(rest, ": ")
			code, cerr := strconv.Atoi(codeText)
			if ok && cerr == nil && code > 0 {
				return false, withExitCode(code, errors.New(msg))
			}
		}
		return false, fmt.Errorf("the mount process reported %q", line)
	}
	return false, nil
}

// daemonArgs rebuilds the command line for the background process from the
// flags actually given, so it does not depend on how this one was started.
// The child runs in "/" (so that it keeps no directory busy): paths are
// made absolute here, and the mountpoint is the one already resolved.
func daemonArgs(cmd *cobra.Command, mountpoint, logPath string) ([]string, error) {
	args := []string{cmd.Name(), "--foreground", "--log-file=" + logPath}
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		v := f.Value.String()
		switch f.Name {
		case "foreground", "log-file":
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
	// warnings, if not nil, is where warnings go when there is no parent
	// (a --foreground run whose log does not reach the terminal).
	warnings io.Writer
}

// daemon reports whether this process is a mount in the background, whose
// parent waits for its readiness.
func (r *readiness) daemon() bool { return r != nil && r.f != nil }

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

// fail reports err and the exit code it means, which the parent exits with.
func (r *readiness) fail(err error) {
	r.send(fmt.Sprintf("error %d: %s", exitCode(err), strings.ReplaceAll(err.Error(), "\n", " ")))
}

// warn tells the user about something that does not stop the mount.
func (r *readiness) warn(msg string) {
	msg = strings.ReplaceAll(msg, "\n", " ")
	switch {
	case r == nil:
	case r.f != nil:
		fmt.Fprintln(r.f, "warning: "+msg)
	case r.warnings != nil:
		fmt.Fprintln(r.warnings, "ossmount: warning:", msg)
	}
}

// openMountLog returns where the mount logs: stderr for "-", else
// the file, rotated at p.logSize. A mount in the background points its
// standard output and error at the current file after each rotation.
func openMountLog(p mountPlan, ready *readiness, stderr io.Writer) (io.Writer, func(), error) {
	if p.logFile == "-" {
		return stderr, func() {}, nil
	}
	var onRotate func() error
	if ready.daemon() {
		onRotate = func() error { return redirectStdio(p.logFile) }
	}
	l, err := openRotatingLog(p.logFile, p.logSize, onRotate)
	if err != nil {
		return nil, nil, fmt.Errorf("--log-file %s: %w", p.logFile, err)
	}
	return l, func() { l.Close() }, nil
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
func serveUntilSignal(srv *fs.Server, sigs chan os.Signal, log *slog.Logger) {
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

// catchStopSignals starts catching SIGINT and SIGTERM for
// serveUntilSignal. A mount calls it before it mounts: a signal that comes
// while the mount starts (the mountpoint is visible before the process is
// ready) then waits in the channel instead of killing the process with the
// mount half made.
func catchStopSignals() chan os.Signal {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	return sigs
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
