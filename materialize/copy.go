package materialize

import (
	"context"
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// reflink makes dst share src's blocks copy-on-write (FICLONE). It fails
// on filesystems without reflinks and across filesystems; the caller then
// falls back to a move or a copy.
func reflink(dst, src *os.File) error {
	return unix.IoctlFileClone(int(dst.Fd()), int(src.Fd()))
}

// copyFile copies the first n bytes of src into dst, in the kernel with
// copy_file_range when it can (which some filesystems turn into a reflink
// or a server-side copy), through user space otherwise. It stops between
// chunks when ctx is cancelled.
func copyFile(ctx context.Context, dst, src *os.File, n int64) error {
	const chunk = 64 << 20
	var off int64
	for off < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		srcOff, dstOff := off, off
		w, err := unix.CopyFileRange(int(src.Fd()), &srcOff, int(dst.Fd()), &dstOff, int(min(n-off, chunk)), 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			if kernelCopyUnsupported(err) {
				return copyUserSpace(ctx, dst, src, off, n)
			}
			return err
		}
		if w == 0 {
			return io.ErrUnexpectedEOF
		}
		off += int64(w)
	}
	return nil
}

// kernelCopyUnsupported reports the errors with which old kernels and some
// filesystem pairs refuse copy_file_range.
func kernelCopyUnsupported(err error) bool {
	return errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) ||
		errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM)
}

func copyUserSpace(ctx context.Context, dst, src *os.File, off, n int64) error {
	buf := make([]byte, 1<<20)
	for off < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		m := int(min(int64(len(buf)), n-off))
		r, err := src.ReadAt(buf[:m], off)
		if r < m && err == nil {
			err = io.ErrUnexpectedEOF
		}
		if r > 0 {
			if _, werr := dst.WriteAt(buf[:r], off); werr != nil {
				return werr
			}
			off += int64(r)
		}
		if err != nil && off < n {
			return err
		}
	}
	return nil
}
