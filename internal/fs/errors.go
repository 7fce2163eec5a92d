package fs

import (
	"context"
	"errors"
	"io"
	"syscall"

	"github.com/ossmount/ossmount/rangefetch"
)

// toErrno maps an error of the cache or the OSS client to the errno a
// program reading the mount sees. Everything the caller cannot act on
// becomes EIO; the log says what really happened (see logFailure).
func toErrno(err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.Canceled):
		// The FUSE request was interrupted (the reader got a signal) or
		// the mount is going away; the kernel retries or drops it.
		return syscall.EINTR
	case errors.Is(err, rangefetch.ErrAccessDenied):
		return syscall.EACCES
	case errors.Is(err, rangefetch.ErrNotFound), errors.Is(err, rangefetch.ErrNoSuchBucket):
		return syscall.ENOENT
	}
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		return errno
	}
	return syscall.EIO
}

// errno is toErrno, except that once the mount is shutting down a
// cancelled request is EIO: EINTR would make programs (and Go's os package)
// retry a read that can never succeed.
func (f *filesystem) errno(err error) syscall.Errno {
	if errors.Is(err, context.Canceled) && f.ctx.Err() != nil {
		return syscall.EIO
	}
	return toErrno(err)
}

// readErrno maps the error of a read of an open file. An open file is one
// version of an object, so "not found" means the object was deleted or
// replaced under it: that is an I/O error of the read, not ENOENT (which a
// program would take to mean the path it has open is gone).
func (f *filesystem) readErrno(err error) syscall.Errno {
	if errors.Is(err, rangefetch.ErrNotFound) {
		return syscall.EIO
	}
	return f.errno(err)
}

// logFailure writes one line about a failed request of op on key (version
// etag, if known), at a level that matches what the user can do about it.
// Interruptions are not logged: they are the reader's choice, not a
// failure.
func (f *filesystem) logFailure(op, key, etag string, err error) {
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, io.EOF):
		return
	case errors.Is(err, rangefetch.ErrObjectChanged):
		f.warnOnce("changed\x00"+key+"\x00"+etag, "object changed in OSS while open; reads of the old version fail until it is reopened after the metadata TTL",
			"key", key, "etag", etag, "op", op)
	case errors.Is(err, rangefetch.ErrArchived):
		f.warnOnce("archived\x00"+key+"\x00"+etag, "object is archived and must be restored before it can be read (e.g. ossutil restore)",
			"key", key, "op", op)
	case errors.Is(err, rangefetch.ErrNotFound):
		f.log.Debug("not found", "op", op, "key", key)
	case errors.Is(err, rangefetch.ErrAccessDenied):
		f.log.Warn("access denied", "op", op, "key", key, "err", err)
	default:
		f.log.Error("request failed", "op", op, "key", key, "err", err)
	}
}

// warnOnce logs msg the first time id is seen, so that a key that cannot be
// shown (or an object that changed) is reported once, not at every listing
// or read.
func (f *filesystem) warnOnce(id, msg string, args ...any) {
	if _, seen := f.warned.LoadOrStore(id, struct{}{}); seen {
		return
	}
	f.log.Warn(msg, args...)
}
