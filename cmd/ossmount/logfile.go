package main

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
	"gopkg.in/natefinch/lumberjack.v2"
)

// logBackups is how many rotated logs are kept beside the current one.
const logBackups = 3

// defaultLogSize is the size at which a log file is rotated by default.
const defaultLogSize = 10 << 20

// minLogSize keeps --log-size above one line of the log.
const minLogSize = 4 << 10

// rotatingLog is a log file that never grows past max bytes: before a
// write would take it past max, the file is renamed aside (lumberjack's
// PATH-without-ext-TIMESTAMP.ext) and a new one started; only logBackups
// renamed files are kept. The size is counted here, to the byte, rather
// than by lumberjack, which counts whole megabytes; what the process
// writes to the file directly (a crash's stack trace on standard error)
// is not counted. It is safe for concurrent use.
type rotatingLog struct {
	mu       sync.Mutex
	max      int64
	size     int64 // bytes in the current file, as far as is known
	file     *lumberjack.Logger
	onRotate func() error // after a new file was started; may be nil
}

// openRotatingLog appends to the log at path (creating it with mode 0600;
// its directory must exist). onRotate, if not nil, runs after each
// rotation.
func openRotatingLog(path string, max int64, onRotate func() error) (*rotatingLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the log: %w", err)
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("open the log: %w", err)
	}
	return &rotatingLog{
		max:  max,
		size: fi.Size(),
		file: &lumberjack.Logger{
			Filename:   path,
			MaxSize:    1 << 20, // MiB: never reached, rotation is decided here
			MaxBackups: logBackups,
		},
		onRotate: onRotate,
	}, nil
}

func (l *rotatingLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.size > 0 && l.size+int64(len(p)) > l.max {
		if err := l.file.Rotate(); err != nil {
			return 0, err
		}
		l.size = 0
		if l.onRotate != nil {
			if err := l.onRotate(); err != nil {
				return 0, err
			}
		}
	}
	n, err := l.file.Write(p)
	l.size += int64(n)
	return n, err
}

// Close closes the current file.
func (l *rotatingLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.file.Close()
}

// redirectStdio points this process's standard output and error at the
// log file at path, so that what is written there directly (a crash's
// stack trace) goes to the current log, not a rotated one.
func redirectStdio(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, fd := range []int{1, 2} {
		if err := unix.Dup2(int(f.Fd()), fd); err != nil {
			return fmt.Errorf("redirect fd %d to the log: %w", fd, err)
		}
	}
	return nil
}
