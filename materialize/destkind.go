package materialize

import (
	"errors"
	"io/fs"
	"os"
)

// refuseSpecial fails if dest exists and is neither a regular file nor a
// symlink. Installing renames a new file over DEST, which would replace a
// device, FIFO or socket with a regular file (as root, /dev/null too), and
// cannot replace a directory at all; a symlink is replaced itself, as mv
// does, leaving what it pointed to alone.
func refuseSpecial(dest string) error {
	st, err := os.Lstat(dest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return localIOf("check %s: %w", dest, err)
	}
	mode := st.Mode()
	if mode.IsRegular() || mode&fs.ModeSymlink != 0 {
		return nil
	}
	return localIOf("destination %s is %s, not a regular file; name a file to create or replace", dest, fileKind(mode))
}

// fileKind names the type of a file mode the way a message should.
func fileKind(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a block device"
	case mode&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}
