package ossserver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Running is a Server listening on a TCP address.
type Running struct {
	*Server
	Addr     string // the listening address, "127.0.0.1:PORT"
	Endpoint string // "http://127.0.0.1:PORT"; loopback when listening on every interface

	http *http.Server
	done chan struct{}
}

// Listen starts a server for cfg on addr ("127.0.0.1:0" picks a free port).
// Close stops it.
func Listen(addr string, cfg Config) (*Running, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &Running{
		Server:   s,
		Addr:     ln.Addr().String(),
		Endpoint: "http://" + dialAddr(ln.Addr()),
		http: &http.Server{
			Handler:           s,
			ReadHeaderTimeout: 30 * time.Second,
			ErrorLog:          nil,
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(r.done)
		if err := r.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve failed", "addr", r.Addr, "err", err)
		}
	}()
	return r, nil
}

// dialAddr is an address a local client can connect to: a wildcard
// listener ("0.0.0.0", "::") is reached through loopback.
func dialAddr(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok && t.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(t.Port))
	}
	return a.String()
}

// Close stops listening and closes every connection, cutting responses in
// flight.
func (r *Running) Close() error {
	err := r.http.Close()
	<-r.done
	return err
}

// Shutdown stops listening and waits for responses in flight to finish,
// until ctx is done; then it closes what is left.
func (r *Running) Shutdown(ctx context.Context) error {
	err := r.http.Shutdown(ctx)
	if err != nil {
		r.http.Close()
	}
	<-r.done
	return err
}
