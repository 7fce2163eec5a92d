package fs

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Server is a mounted ossmount filesystem.
type Server struct {
	fsys       *filesystem
	fuse       *fuse.Server
	mountpoint string
	dev        uint64 // the mount's device number, 0 if unknown
	// unregisterMetrics takes the mount's counters off Config.Metrics.
	unregisterMetrics func()

	served       chan struct{} // closed when the FUSE loop has exited
	shutdownOnce sync.Once
}

// Mount mounts the tree described by cfg at mountpoint and serves it until
// it is unmounted. It returns once the kernel has the mount ready.
func Mount(mountpoint string, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	mp, err := filepath.Abs(mountpoint)
	if err != nil {
		return nil, err
	}
	if err := CheckMountpoint(mp); err != nil {
		return nil, err
	}
	fsys := newFilesystem(cfg)
	unregisterMetrics, err := registerMetrics(cfg.Metrics, &fsys.stats, mp)
	if err != nil {
		fsys.shutdown()
		return nil, err
	}
	root := newDirNode(fsys, cfg.Prefix)
	root.isRoot = true

	opts := &gofs.Options{
		MountOptions: fuse.MountOptions{
			FsName:     "ossmount",
			Name:       "ossmount",
			AllowOther: cfg.AllowOther,
			// The kernel refuses writes itself on a read-only mount, and
			// checks permissions against the modes shown.
			Options:          []string{"ro", "default_permissions"},
			DirectMountFlags: syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_RDONLY,
			MaxWrite:         maxRead(),
			MaxBackground:    64,
			Debug:            cfg.Debug,
			Logger:           log.New(slogWriter{cfg.Logger}, "", 0),
		},
		// Entry and attribute timeouts are set per answer (see
		// dirNode.child); these cover answers that set none.
		AttrTimeout:     &cfg.MetadataTTL,
		UID:             cfg.UID,
		GID:             cfg.GID,
		NullPermissions: true,
		RootStableAttr:  &gofs.StableAttr{Ino: 1},
		Logger:          log.New(slogWriter{cfg.Logger}, "", 0),
	}
	if os.Geteuid() == 0 {
		opts.DirectMountStrict = true
	}
	server, err := gofs.Mount(mp, root, opts)
	if err != nil && opts.DirectMountStrict && errors.Is(err, syscall.EPERM) && fusermountPath() != "" {
		// Root without CAP_SYS_ADMIN (a container): the helper may still
		// be allowed to mount.
		opts.DirectMountStrict = false
		server, err = gofs.Mount(mp, root, opts)
	}
	if err != nil {
		unregisterMetrics()
		fsys.shutdown()
		return nil, explainMountError(mp, err)
	}
	s := &Server{fsys: fsys, fuse: server, mountpoint: mp, unregisterMetrics: unregisterMetrics, served: make(chan struct{})}
	var st syscall.Stat_t
	if err := syscall.Stat(mp, &st); err == nil {
		s.dev = st.Dev
		setKernelReadahead(s.dev, cfg.KernelReadAhead, cfg.Logger)
	}
	go func() {
		server.Wait()
		close(s.served)
	}()
	fsys.log.Info("mounted", "mountpoint", mp, "source", fsys.sourceURL(cfg.Prefix),
		"passthrough", s.Passthrough(), "metadata_ttl", cfg.MetadataTTL)
	return s, nil
}

// Mountpoint is the absolute path of the mount.
func (s *Server) Mountpoint() string { return s.mountpoint }

// Stats returns the mount's counters.
func (s *Server) Stats() Stats { return s.fsys.stats.snapshot() }

// Passthrough reports whether the kernel agreed to FUSE passthrough, so
// that complete cached versions are read without this process. (Using it
// also needs CAP_SYS_ADMIN; without, go-fuse quietly serves reads itself.)
func (s *Server) Passthrough() bool {
	return s.fuse.KernelSettings().Flags64()&fuse.CAP_PASSTHROUGH != 0 && !s.fsys.cfg.DisablePassthrough
}

// Done is closed once the mount is gone (unmounted by anyone) and the
// server has stopped.
func (s *Server) Done() <-chan struct{} { return s.served }

// Wait blocks until the mount is gone, for instance after "ossmount
// unmount" or fusermount -u, then stops all background work.
func (s *Server) Wait() {
	<-s.served
	s.shutdown()
}

// Unmount unmounts and waits for the server to stop. It fails with EBUSY,
// leaving the mount in place, while files in it are open or it is some
// process's working directory; see UnmountForce.
func (s *Server) Unmount() error {
	select {
	case <-s.served:
	default:
		if err := UnmountPath(s.mountpoint, false); err != nil {
			return err
		}
	}
	s.Wait()
	return nil
}

// UnmountForce unmounts even while files are in use: it detaches the
// mount (so no new file can be opened), ends every request in progress
// (reads fail with EINTR or EIO), and if the kernel still holds the
// connection when ctx ends (a process keeps a file open), aborts it, so
// that all further access fails with ENOTCONN. It returns when the server
// has stopped.
func (s *Server) UnmountForce(ctx context.Context) error {
	s.fsys.cancel() // in-flight reads and prefetch end now
	select {
	case <-s.served:
	default:
		if err := UnmountPath(s.mountpoint, true); err != nil {
			s.fsys.log.Warn("lazy unmount failed", "mountpoint", s.mountpoint, "err", err)
		}
	}
	select {
	case <-s.served:
	case <-ctx.Done():
		if s.dev != 0 {
			abortConnection(s.dev)
		}
		<-s.served
	}
	s.shutdown()
	return nil
}

func (s *Server) shutdown() {
	s.shutdownOnce.Do(func() {
		s.fsys.shutdown()
		s.unregisterMetrics()
		s.fsys.log.Info("unmounted", "mountpoint", s.mountpoint)
	})
}

// setKernelReadahead sets the kernel's read-ahead of the mount (its
// backing device's read_ahead_kb, 128 KiB by default). A sequential reader
// is then served with READs of up to 1 MiB, several in flight, rather than
// 128 KiB ones: far fewer round trips through this process. Random reads
// are not affected: the kernel reads just what a lone small read asks for.
// Only root may change it; otherwise the default stays.
func setKernelReadahead(dev uint64, n int64, log *slog.Logger) {
	path := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(dev), unix.Minor(dev))
	if err := os.WriteFile(path, []byte(strconv.FormatInt(n>>10, 10)), 0); err != nil {
		log.Debug("cannot set the kernel read-ahead", "path", path, "err", err)
	}
}

// abortConnection ends a FUSE connection through fusectl: every request
// waiting on it fails and the server's device reads return ENODEV.
func abortConnection(dev uint64) {
	id := fmt.Sprint(unix.Minor(dev))
	_ = os.WriteFile(filepath.Join("/sys/fs/fuse/connections", id, "abort"), []byte("1"), 0)
}

// UnmountPath unmounts a FUSE mount: with umount(2) as root, otherwise with
// fusermount3 -u. lazy detaches the mount even while it is in use.
func UnmountPath(mountpoint string, lazy bool) error {
	if os.Geteuid() == 0 {
		flags := 0
		if lazy {
			flags = syscall.MNT_DETACH
		}
		err := syscall.Unmount(mountpoint, flags)
		if err == nil || !errors.Is(err, syscall.EPERM) || fusermountPath() == "" {
			return explainUnmountError(mountpoint, err)
		}
	}
	bin := fusermountPath()
	if bin == "" {
		return fmt.Errorf("unmount %s: fusermount3 not found (install the fuse3 package) and not running as root", mountpoint)
	}
	args := []string{"-u"}
	if lazy {
		args = append(args, "-z")
	}
	out, err := exec.Command(bin, append(args, mountpoint)...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if strings.Contains(msg, "busy") {
			return fmt.Errorf("unmount %s: %s: %w", mountpoint, msg, syscall.EBUSY)
		}
		return fmt.Errorf("unmount %s: %s (%v)", mountpoint, msg, err)
	}
	return nil
}

func explainUnmountError(mp string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EBUSY):
		return fmt.Errorf("unmount %s: files in it are open or it is a working directory (close them, or unmount lazily): %w", mp, err)
	case errors.Is(err, syscall.EINVAL):
		return fmt.Errorf("unmount %s: not a mount point: %w", mp, err)
	}
	return fmt.Errorf("unmount %s: %w", mp, err)
}

func fusermountPath() string {
	for _, name := range []string{"fusermount3", "fusermount"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		for _, dir := range []string{"/bin", "/usr/bin", "/sbin", "/usr/sbin"} {
			if p := filepath.Join(dir, name); isExecutable(p) {
				return p
			}
		}
	}
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// CheckMountpoint reports, in words a user can act on, why mp cannot be
// mounted on: missing, not a directory, a dead FUSE mount, or already a
// mount point.
func CheckMountpoint(mp string) error {
	fi, err := os.Stat(mp)
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		return fmt.Errorf("mountpoint %s holds a dead FUSE mount (transport endpoint is not connected): run 'ossmount unmount %s' first", mp, mp)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("mountpoint %s does not exist: create it with mkdir -p", mp)
	case err != nil:
		return fmt.Errorf("mountpoint %s: %w", mp, err)
	case !fi.IsDir():
		return fmt.Errorf("mountpoint %s is not a directory", mp)
	}
	if isMountpoint(mp) {
		return fmt.Errorf("mountpoint %s is busy: something is already mounted there", mp)
	}
	return nil
}

// isMountpoint reports whether mp is listed in /proc/self/mountinfo.
func isMountpoint(mp string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 && unescapeMountinfo(fields[4]) == mp {
			return true
		}
	}
	return false
}

// unescapeMountinfo undoes the octal escapes (\040 for space) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// explainMountError turns what go-fuse reports into the likely cause.
func explainMountError(mp string, err error) error {
	if _, serr := os.Stat("/dev/fuse"); serr != nil {
		return fmt.Errorf("mount %s: /dev/fuse is not available (load the fuse module, or run the container with --device /dev/fuse): %w", mp, err)
	}
	if os.Geteuid() != 0 && fusermountPath() == "" {
		return fmt.Errorf("mount %s: fusermount3 not found: install the fuse3 package, or mount as root: %w", mp, err)
	}
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("mount %s: permission denied (mount as root, or allow FUSE for this user): %w", mp, err)
	}
	return fmt.Errorf("mount %s: %w", mp, err)
}

// slogWriter feeds go-fuse's log.Logger output into the mount's slog logger.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug("fuse: " + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
