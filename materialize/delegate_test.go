package materialize

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeOwner listens on the socket of dir and answers one connection with
// answer, after checking the request it got.
func fakeOwner(t *testing.T, dir string, answer func(req wireRequest, conn net.Conn)) {
	t.Helper()
	var ln net.Listener
	err := withSocketAddr(SocketPath(dir), func(addr string) error {
		l, err := net.Listen("unix", addr)
		ln = l
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		line, err := bufio.NewReader(conn).ReadBytes('\n')
		if err != nil {
			t.Error(err)
			return
		}
		var req wireRequest
		if err := json.Unmarshal(line, &req); err != nil {
			t.Error(err)
			return
		}
		answer(req, conn)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
}

func send(conn net.Conn, ev wireEvent) {
	b, _ := json.Marshal(ev)
	conn.Write(append(b, '\n'))
}

func TestDelegateStreamsProgressAndResult(t *testing.T) {
	dir := t.TempDir()
	fakeOwner(t, dir, func(req wireRequest, conn net.Conn) {
		if req.V != protocolVersion || req.Op != "materialize" || !filepath.IsAbs(req.Request.Dest) ||
			req.Request.Threads != DefaultThreads {
			t.Errorf("request %+v: want an absolute Dest and defaults filled in", req)
		}
		send(conn, wireEvent{Progress: &wireProgress{Done: 0, Total: -1}})
		send(conn, wireEvent{Progress: &wireProgress{Done: 5, Total: 10}})
		send(conn, wireEvent{Result: &Result{Size: 10, Install: InstallCopy, Notes: []string{"n"}}})
	})
	var seen [][2]int64
	res, err := Delegate(context.Background(), dir, Request{Bucket: "b-1", Key: "k", Dest: "rel"}, func(d, t int64) {
		seen = append(seen, [2]int64{d, t})
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != 10 || res.Install != InstallCopy || len(res.Notes) != 1 {
		t.Fatalf("result %+v", res)
	}
	if len(seen) < 2 || seen[len(seen)-1] != [2]int64{5, 10} {
		t.Fatalf("progress %v", seen)
	}
}

func TestDelegateReportsOwnerErrorsWithTheirKind(t *testing.T) {
	dir := t.TempDir()
	fakeOwner(t, dir, func(_ wireRequest, conn net.Conn) {
		send(conn, wireEvent{Error: &wireError{Kind: "integrity", Message: "integrity check failed: bad"}})
	})
	_, err := Delegate(context.Background(), dir, Request{Bucket: "b-1", Key: "k", Dest: "/x"}, nil)
	if !errors.Is(err, ErrIntegrity) || err.Error() != "integrity check failed: bad" {
		t.Fatalf("err = %v", err)
	}
}

func TestDelegateNoticesAnOwnerThatWentAway(t *testing.T) {
	dir := t.TempDir()
	fakeOwner(t, dir, func(_ wireRequest, conn net.Conn) {
		send(conn, wireEvent{Progress: &wireProgress{Done: 1, Total: 10}})
		// Closes without an answer, as a killed owner would.
	})
	_, err := Delegate(context.Background(), dir, Request{Bucket: "b-1", Key: "k", Dest: "/x"}, nil)
	if !errors.Is(err, ErrOwnerGone) {
		t.Fatalf("err = %v, want ErrOwnerGone", err)
	}
}

func TestDelegateWithoutOwner(t *testing.T) {
	_, err := Delegate(context.Background(), t.TempDir(), Request{Bucket: "b-1", Key: "k", Dest: "/x"}, nil)
	if !errors.Is(err, ErrNoOwner) {
		t.Fatalf("err = %v, want ErrNoOwner", err)
	}
}

// Cache directories deeper than a sockaddr_un allows still get a socket.
func TestSocketInADeepDirectory(t *testing.T) {
	dir := t.TempDir()
	for len(dir) < 150 {
		dir = filepath.Join(dir, strings.Repeat("d", 40))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	fakeOwner(t, dir, func(_ wireRequest, conn net.Conn) {
		send(conn, wireEvent{Result: &Result{Size: 1}})
	})
	res, err := Delegate(context.Background(), dir, Request{Bucket: "b-1", Key: "k", Dest: "/x"}, nil)
	if err != nil || res.Size != 1 {
		t.Fatalf("res %+v err %v", res, err)
	}
}
