package materialize

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/rangefetch"
)

// Server serves materialize requests from other ossmount processes on the
// cache directory this process owns. Requests run in this process, so they
// share its cache, its connection pool and any run of the same object
// already in progress (each block is fetched once).
type Server struct {
	c      *cache.Cache
	client *rangefetch.Client
	log    *slog.Logger
	path   string
	ln     *net.UnixListener

	ctx    context.Context // parent of every request; cancelled by Close
	cancel context.CancelFunc
	stop   func() bool // detaches the StartServer context watcher

	accepting sync.WaitGroup // the accept loop
	serving   sync.WaitGroup // one per connection
	inFlight  atomic.Int32   // requests being worked on
	closeOnce sync.Once

	started        time.Time                      // when StartServer returned
	statusProvider atomic.Pointer[StatusProvider] // nil until SetStatusProvider
}

// StartServer listens on SocketPath of c's directory (mode 0600, replacing
// a stale socket: whoever owns the cache lock owns the socket) and serves
// materialize requests until ctx is done or Close is called. Close stops
// it, cancels requests in flight and waits for its goroutines; Shutdown
// lets requests in flight finish first.
func StartServer(ctx context.Context, c *cache.Cache, client *rangefetch.Client, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	path := SocketPath(c.Dir())
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	var ln *net.UnixListener
	err := withSocketAddr(path, func(addr string) error {
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
		ln = l
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// The address may be a /proc/self/fd alias that is gone by Close.
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fmt.Errorf("restrict %s: %w", path, err)
	}
	s := &Server{c: c, client: client, log: log, path: path, ln: ln, started: time.Now()}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.stop = context.AfterFunc(ctx, func() { s.Close() })
	s.accepting.Add(1)
	go s.acceptLoop()
	return s, nil
}

// removeStaleSocket removes a socket a previous owner left (it crashed, so
// it could not remove it). Anything else at the path is an error rather
// than something to delete.
func removeStaleSocket(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket; remove it", path)
	}
	return os.Remove(path)
}

// Shutdown stops accepting requests and waits for those in flight to
// finish, or for ctx; then it closes the server.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ln.Close()
	s.accepting.Wait()
	done := make(chan struct{})
	go func() {
		s.serving.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	case <-time.After(time.Second):
		// Requests that shared this process's download end with it; one
		// that takes longer is someone else's, and the wait needs saying.
		s.log.Warn("waiting for the materialize requests of other ossmount processes to finish", "requests", s.inFlight.Load())
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
	err := s.Close()
	<-done
	return err
}

// Close stops accepting, cancels requests in flight, waits for every
// goroutine of the server and removes the socket.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		s.cancel()
		s.ln.Close()
		s.accepting.Wait()
		s.serving.Wait()
		if st, err := os.Lstat(s.path); err == nil && st.Mode()&fs.ModeSocket != 0 {
			os.Remove(s.path)
		}
	})
	return nil
}

func (s *Server) acceptLoop() {
	defer s.accepting.Done()
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
				return
			}
			// Out of descriptors and the like: back off instead of spinning.
			s.log.Warn("materialize socket: accept failed", "err", err)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		s.serving.Add(1)
		go s.serve(conn)
	}
}

// peerUID returns the uid of the process at the other end of conn.
func peerUID(conn *net.UnixConn) (uint32, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, credErr
	}
	return cred.Uid, nil
}

// serve answers one connection: one request, progress, one outcome.
func (s *Server) serve(conn *net.UnixConn) {
	defer s.serving.Done()
	defer conn.Close()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	// Closing the connection is what unblocks its reads and writes when
	// the server stops.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	enc := json.NewEncoder(conn)
	send := func(ev wireEvent) error {
		conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		return enc.Encode(ev)
	}
	fail := func(err error) {
		_ = send(wireEvent{Error: &wireError{Kind: kindName(err), Message: err.Error()}})
	}

	// The socket is 0600 in a 0700 directory; checking the peer also keeps
	// a root-owned mount from writing files wherever a user names. Root
	// may ask any owner for its status, and nothing else.
	uid, err := peerUID(conn)
	sameUser := err == nil && uid == uint32(os.Getuid())
	if !sameUser && (err != nil || uid != 0) {
		fail(fmt.Errorf("refused: the cache owner serves only processes of its own user"))
		return
	}
	br := bufio.NewReaderSize(conn, 4096)
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := readLine(br)
	if err != nil {
		return
	}
	conn.SetReadDeadline(time.Time{})
	var wr wireRequest
	if err := json.Unmarshal(line, &wr); err != nil {
		fail(invalidf("malformed request: %v", err))
		return
	}
	if wr.V != protocolVersion || (wr.Op != opMaterialize && wr.Op != opStatus && wr.Op != opVersions) {
		fail(invalidf("unsupported request %q version %d (this ossmount speaks version %d); use the same ossmount binary for the mount and materialize",
			wr.Op, wr.V, protocolVersion))
		return
	}
	if wr.Op == opStatus {
		st := s.status()
		_ = send(wireEvent{Status: &st})
		return
	}
	if !sameUser {
		fail(fmt.Errorf("refused: the cache owner serves only processes of its own user"))
		return
	}
	if wr.Op == opVersions {
		vs, err := s.c.Versions()
		if err != nil {
			fail(err)
			return
		}
		_ = send(wireEvent{Versions: &vs})
		return
	}
	// A relative path would resolve against this process's directory,
	// not the client's.
	if !filepath.IsAbs(wr.Request.Dest) {
		fail(invalidf("destination %q is not an absolute path", wr.Request.Dest))
		return
	}

	// The client holds its side open until the answer; EOF means it gave
	// up, and the request stops.
	hangup := make(chan struct{})
	go func() {
		defer close(hangup)
		_, _ = io.Copy(io.Discard, br)
		cancel()
	}()
	defer func() { conn.Close(); <-hangup }()

	s.log.Info("materialize request from another process", "source", wr.Request.source(), "dest", wr.Request.Dest)
	s.inFlight.Add(1)
	res, err := s.run(ctx, wr.Request, send)
	s.inFlight.Add(-1)
	if err != nil {
		s.log.Info("materialize request failed", "source", wr.Request.source(), "err", err)
		fail(err)
		return
	}
	_ = send(wireEvent{Result: &res})
}

// run executes a request in a goroutine of its own and sends its progress
// from this one, so that a slow client never slows the fetching: updates
// that arrive while a line is being sent are merged into the next.
func (s *Server) run(ctx context.Context, req Request, send func(wireEvent) error) (Result, error) {
	var mu sync.Mutex
	var latest wireProgress
	changed := make(chan struct{}, 1)
	progress := func(done, total int64) {
		mu.Lock()
		latest = wireProgress{Done: done, Total: total}
		mu.Unlock()
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	finished := make(chan struct{})
	var res Result
	var err error
	go func() {
		defer close(finished)
		res, err = Materialize(ctx, s.c, s.client, req, progress)
	}()
	flush := func() {
		mu.Lock()
		p := latest
		mu.Unlock()
		// A failed send means nobody listens; the hangup watcher cancels
		// the request.
		_ = send(wireEvent{Progress: &p})
	}
	for {
		select {
		case <-changed:
			flush()
		case <-finished:
			select {
			case <-changed:
				flush()
			default:
			}
			return res, err
		}
	}
}

// readLine reads one newline-terminated message of at most maxLine bytes.
func readLine(br *bufio.Reader) ([]byte, error) { return readLineUpTo(br, maxLine) }

// readLineUpTo is readLine with a bound of limit bytes.
func readLineUpTo(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > limit {
			return nil, fmt.Errorf("message longer than %d bytes", limit)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return line, err
	}
}
