package materialize

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// maxSunPath is the room for a socket path in sockaddr_un, less the NUL.
const maxSunPath = 107

// withSocketAddr calls fn with an address that reaches the socket path even
// when path is longer than sockaddr_un allows (deep cache directories): the
// directory is opened and named through /proc/self/fd.
func withSocketAddr(path string, fn func(addr string) error) error {
	if len(path) <= maxSunPath {
		return fn(path)
	}
	dir, err := os.OpenFile(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer dir.Close()
	addr := fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path))
	if len(addr) > maxSunPath {
		return fmt.Errorf("socket name %s is too long", filepath.Base(path))
	}
	return fn(addr)
}
