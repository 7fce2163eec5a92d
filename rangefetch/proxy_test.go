package rangefetch_test

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// startStallingProxy forwards TCP connections to target. On the first
// connection it passes only the first `after` bytes of the response, then
// sends nothing more until the client hangs up: a server that stalls
// mid-body, whatever the server's own pacing. Later connections pass
// through. Every goroutine ends when the test's cleanup closes the
// listener and the connections.
func startStallingProxy(t *testing.T, target string, after int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
		first atomic.Bool
	)
	first.Store(true)
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			track(client)
			wg.Add(1)
			go func() {
				defer wg.Done()
				pipe(client, target, first.Swap(false), after, track)
			}()
		}
	}()
	return ln.Addr().String()
}

func pipe(client net.Conn, target string, stall bool, after int64, track func(net.Conn)) {
	defer client.Close()
	server, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	track(server)
	defer server.Close()
	upDone := make(chan struct{})
	go func() {
		io.Copy(server, client) // ends when the client hangs up
		server.Close()
		close(upDone)
	}()
	if stall {
		io.CopyN(client, server, after)
	} else {
		io.Copy(client, server)
	}
	<-upDone
}
