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
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/internal/mountinfo"
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
			FsName:     fsName,
			Name:       fsName,
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
// mount (so no new file can be opened) and ends every request in progress
// (reads fail with EINTR or EIO). If the kernel still holds the connection
// when ctx ends (a process keeps a file open), it aborts the connection
// through fusectl, so that all further access fails with ENOTCONN.
//
// UnmountForce returns within about ctx's deadline, whatever the readers
// do. Where the connection cannot be aborted (fusectl is not mounted), it
// stops the mount's work all the same and returns ErrStillConnected: the
// kernel then ends the connection when the last file is closed, or when
// this process exits and so closes the FUSE device.
func (s *Server) UnmountForce(ctx context.Context) error {
	s.fsys.cancel() // in-flight reads and prefetch end now
	select {
	case <-s.served:
	default:
		if err := UnmountPath(s.mountpoint, true); err != nil {
			s.fsys.log.Warn("lazy unmount failed", "mountpoint", s.mountpoint, "err", err)
		}
	}
	var err error
	select {
	case <-s.served:
	case <-ctx.Done():
		err = s.abort()
	}
	s.shutdown()
	return err
}

// ErrStillConnected is returned by UnmountForce when files in the mount
// were still open at its deadline and the FUSE connection could not be
// aborted.
var ErrStillConnected = errors.New("the FUSE connection is still held by open files")

// abortWait bounds how long the FUSE loop may take to see an aborted
// connection end: the kernel fails its reads of the device at once.
const abortWait = 2 * time.Second

// abort ends the FUSE connection through fusectl and waits for the FUSE
// loop to stop.
func (s *Server) abort() error {
	if s.dev == 0 {
		return fmt.Errorf("%s: %w (the mount's device is unknown)", s.mountpoint, ErrStillConnected)
	}
	if err := abortConnection(s.dev); err != nil {
		return fmt.Errorf("%s: %w; it ends when they are closed or when this process exits (%v)", s.mountpoint, ErrStillConnected, err)
	}
	select {
	case <-s.served:
		return nil
	case <-time.After(abortWait):
		return fmt.Errorf("%s: %w: the aborted connection did not end within %v", s.mountpoint, ErrStillConnected, abortWait)
	}
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

// fusectlDir is where the kernel's fusectl filesystem, when mounted,
// lists the FUSE connections.
const fusectlDir = "/sys/fs/fuse/connections"

// abortConnection ends a FUSE connection through fusectl: every request
// waiting on it fails and the server's device reads return ENODEV. It does
// not mount fusectl where it is missing: that filesystem is the system's,
// and ending this process ends the connection just as well.
func abortConnection(dev uint64) error {
	path := filepath.Join(fusectlDir, strconv.FormatUint(uint64(unix.Minor(dev)), 10), "abort")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("fusectl is not mounted at %s", fusectlDir)
	}
	return os.WriteFile(path, []byte("1"), 0)
}

// UnmountPath unmounts the ossmount mount at mountpoint: with umount(2) as
// root, otherwise with fusermount3 -u. lazy detaches the mount even while
// it is in use. It refuses, naming what is there, a path that is not a
// mount point or where another filesystem is mounted on top (see
// FindMount); a dead ossmount mount (its process has exited) is unmounted
// like a live one.
func UnmountPath(mountpoint string, lazy bool) error {
	mp, err := FindMount(mountpoint)
	if err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		// UMOUNT_NOFOLLOW: what was checked is what is unmounted, even if
		// the last component became a symbolic link since.
		flags := unix.UMOUNT_NOFOLLOW
		if lazy {
			flags |= syscall.MNT_DETACH
		}
		err := syscall.Unmount(mp, flags)
		if err == nil || !errors.Is(err, syscall.EPERM) || fusermountPath() == "" {
			return explainUnmountError(mp, err)
		}
	}
	bin := fusermountPath()
	if bin == "" {
		return fmt.Errorf("unmount %s: fusermount3 not found (install the fuse3 package) and not running as root", mp)
	}
	args := []string{"-u"}
	if lazy {
		args = append(args, "-z")
	}
	out, err := exec.Command(bin, append(args, mp)...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if strings.Contains(msg, "busy") {
			return fmt.Errorf("unmount %s: %s: %w", mp, msg, syscall.EBUSY)
		}
		return fmt.Errorf("unmount %s: %s (%v)", mp, msg, err)
	}
	return nil
}

// FSType is the filesystem type of ossmount mounts in the kernel's mount
// table: "fuse." and the name the mount is made with.
const FSType = "fuse." + fsName

// fsName names the mount to the kernel (its subtype and its source).
const fsName = "ossmount"

// FindMount returns the mount point of the ossmount mount at path (an
// absolute path; symbolic links are resolved), or an error saying what is
// there instead: nothing (not a mount point) or another filesystem, named
// by type and source. Only the mount on top counts: one mounted over an
// ossmount mount hides it. A dead ossmount mount is still an ossmount
// mount.
func FindMount(path string) (string, error) {
	mp := resolvePath(path)
	mounts, err := mountinfo.Read()
	if err != nil {
		return "", fmt.Errorf("unmount %s: cannot read the mount table: %w", mp, err)
	}
	m, ok := mountinfo.At(mounts, mp)
	if !ok {
		if _, err := os.Lstat(mp); errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("unmount %s: no such directory", mp)
		}
		return "", fmt.Errorf("unmount %s: not a mount point", mp)
	}
	if m.FSType != FSType {
		return "", fmt.Errorf("unmount %s: not an ossmount mount (%s from %q is mounted there); refusing to unmount it", mp, m.FSType, m.Source)
	}
	return mp, nil
}

// resolvePath resolves the symbolic links in path, as the kernel does when
// it looks up a mount point. The mount point of a dead FUSE mount cannot be
// looked up (ENOTCONN): then only its parent is resolved.
func resolvePath(path string) string {
	path = filepath.Clean(path)
	if r, err := filepath.EvalSymlinks(path); err == nil {
		return r
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
		return filepath.Join(dir, filepath.Base(path))
	}
	return path
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
// mounted on: missing, not a directory, inside a dead FUSE mount, or
// already a mount point (of ossmount, live or dead, or of another
// filesystem, named).
func CheckMountpoint(mp string) error {
	mp = resolvePath(mp)
	mounts, err := mountinfo.Read()
	if err != nil {
		return fmt.Errorf("mountpoint %s: cannot read the mount table: %w", mp, err)
	}
	if m, ok := mountinfo.At(mounts, mp); ok {
		return alreadyMounted(mp, m)
	}
	fi, err := os.Stat(mp)
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		return insideDeadMount("mountpoint", mp, mounts)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("mountpoint %s does not exist: create it with mkdir -p", mp)
	case err != nil:
		return fmt.Errorf("mountpoint %s: %w", mp, err)
	case !fi.IsDir():
		return fmt.Errorf("mountpoint %s is not a directory", mp)
	}
	return nil
}

// alreadyMounted explains why mp, where m is mounted, cannot be mounted on.
func alreadyMounted(mp string, m mountinfo.Mount) error {
	if strings.HasPrefix(m.FSType, "fuse") && !answers(mp) {
		if m.FSType == FSType {
			return fmt.Errorf("mountpoint %s holds a dead ossmount mount (its process has exited: transport endpoint is not connected): run 'ossmount unmount %s' first", mp, mp)
		}
		return fmt.Errorf("mountpoint %s holds a dead FUSE mount (%s from %q, transport endpoint is not connected): run 'umount %s' first", mp, m.FSType, m.Source, mp)
	}
	if m.FSType == FSType {
		return fmt.Errorf("mountpoint %s is already an ossmount mount: run 'ossmount unmount %s' first, or choose another directory", mp, mp)
	}
	return fmt.Errorf("mountpoint %s is already a mount point (%s from %q is mounted there): choose another directory", mp, m.FSType, m.Source)
}

// answerWait bounds how long a FUSE mount may take to answer statfs.
const answerWait = 2 * time.Second

// answers reports whether the FUSE mount at mp still has a process that
// answers it. Attributes may come from the kernel's cache; statfs always
// asks the process, and fails with ENOTCONN once it is gone. A process
// that does not answer within answerWait counts as alive: hung, not gone.
func answers(mp string) bool {
	res := make(chan error, 1)
	go func() {
		var st unix.Statfs_t
		res <- unix.Statfs(mp, &st)
	}()
	select {
	case err := <-res:
		return !errors.Is(err, syscall.ENOTCONN)
	case <-time.After(answerWait):
		return true
	}
}

// insideDeadMount explains ENOTCONN for a path below a mount point: the
// mount it is in has lost its process.
func insideDeadMount(what, path string, mounts []mountinfo.Mount) error {
	var m mountinfo.Mount
	for _, c := range mounts {
		if (path == c.Point || strings.HasPrefix(path, strings.TrimSuffix(c.Point, "/")+"/")) && len(c.Point) >= len(m.Point) {
			m = c
		}
	}
	switch {
	case m.FSType == FSType:
		return fmt.Errorf("%s %s is inside a dead ossmount mount at %s (its process has exited: transport endpoint is not connected): run 'ossmount unmount %s' first", what, path, m.Point, m.Point)
	case m.Point != "":
		return fmt.Errorf("%s %s is inside a dead FUSE mount at %s (%s, transport endpoint is not connected): run 'umount %s' first", what, path, m.Point, m.FSType, m.Point)
	}
	return fmt.Errorf("%s %s: transport endpoint is not connected (a dead FUSE mount)", what, path)
}

// ExplainDeadMount turns err, the failure of an access to path, into one
// that names the dead mount path is inside and the command that clears it,
// when err is ENOTCONN; what names path for the user ("SOURCE", "DEST").
// Any other error is returned as it is.
func ExplainDeadMount(what, path string, err error) error {
	if !errors.Is(err, syscall.ENOTCONN) {
		return err
	}
	mounts, merr := mountinfo.Read()
	if merr != nil {
		return err
	}
	if abs, aerr := filepath.Abs(path); aerr == nil {
		path = abs
	}
	return insideDeadMount(what, resolvePath(path), mounts)
}

// isMountpoint reports whether mp is a mount point.
func isMountpoint(mp string) bool {
	mounts, err := mountinfo.Read()
	if err != nil {
		return false
	}
	_, ok := mountinfo.At(mounts, mp)
	return ok
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
