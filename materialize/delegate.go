package materialize

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

// ErrNoOwner means nothing listens on the cache's socket: the owner is
// still starting, has no socket server, or has just exited.
var ErrNoOwner = errors.New("no ossmount process serves the cache socket")

// Delegate asks the process that owns cacheDir to run req, reporting the
// progress it streams back. Dest is resolved against this process's
// working directory first. Cancelling ctx closes the connection, which
// cancels the request in the owner (the blocks it fetched stay cached).
// When the owner exits before answering, the error is ErrOwnerGone; when
// nobody listens, ErrNoOwner.
func Delegate(ctx context.Context, cacheDir string, req Request, progress func(done, total int64)) (Result, error) {
	req, err := req.withDefaults()
	if err != nil {
		return Result{}, err
	}
	if progress == nil {
		progress = func(int64, int64) {}
	}
	conn, done, err := sendRequest(ctx, cacheDir, wireRequest{V: protocolVersion, Op: opMaterialize, Request: req})
	if err != nil {
		return Result{}, err
	}
	defer done()
	progress(0, -1)
	br := bufio.NewReaderSize(conn, 4096)
	for {
		ev, err := readEvent(ctx, br, maxLine)
		if err != nil {
			return Result{}, err
		}
		switch {
		case ev.Progress != nil:
			progress(ev.Progress.Done, ev.Progress.Total)
		case ev.Result != nil:
			return *ev.Result, nil
		case ev.Error != nil:
			return Result{}, errorFromWire(ev.Error.Kind, ev.Error.Message)
		}
	}
}

// delegateBroken explains a connection that ended without an answer.
func delegateBroken(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w (%v)", ErrOwnerGone, err)
}

// sendRequest connects to the owner of cacheDir and sends wr. The
// connection is closed when ctx ends, or by done, which the caller calls
// once it has its answer.
func sendRequest(ctx context.Context, cacheDir string, wr wireRequest) (conn net.Conn, done func(), err error) {
	path := SocketPath(cacheDir)
	err = withSocketAddr(path, func(addr string) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", addr)
		conn = c
		return err
	})
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, nil, fmt.Errorf("%w (%s)", ErrNoOwner, path)
		}
		if isCancel(err) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("connect to the cache owner at %s: %w", path, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	done = func() {
		stop()
		conn.Close()
	}
	line, _ := json.Marshal(wr)
	if _, err := conn.Write(append(line, '\n')); err != nil {
		done()
		return nil, nil, delegateBroken(ctx, err)
	}
	return conn, done, nil
}

// readEvent reads the owner's next message, of at most limit bytes.
func readEvent(ctx context.Context, br *bufio.Reader, limit int) (wireEvent, error) {
	line, err := readLineUpTo(br, limit)
	if len(line) == 0 || (err != nil && !errors.Is(err, io.EOF)) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return wireEvent{}, delegateBroken(ctx, err)
	}
	var ev wireEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		return wireEvent{}, fmt.Errorf("the cache owner sent a malformed message: %w", err)
	}
	return ev, nil
}
