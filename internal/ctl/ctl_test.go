package ctl

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// wait bounds every wait of these tests; nothing should come near it.
const wait = 30 * time.Second

// shortDir returns a new directory with a short path: a socket path must
// fit in 107 bytes, and t.TempDir() can be long.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// start listens on a new socket, lets setup register handlers, serves,
// and stops the server when the test ends.
func start(t *testing.T, setup func(s *Server)) (*Server, string) {
	t.Helper()
	path := filepath.Join(shortDir(t), "control")
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(wait):
			t.Errorf("Serve did not return after its context ended")
		}
	})
	return s, path
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func echo(_ context.Context, args []string, out io.Writer) error {
	_, err := fmt.Fprintln(out, strings.Join(args, " "))
	return err
}

func TestRoundTrip(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 3*maxFrame/16+5) // several frames
	_, path := start(t, func(s *Server) {
		s.Handle("echo", echo)
		s.Handle("big", func(_ context.Context, _ []string, out io.Writer) error {
			_, err := io.WriteString(out, big)
			return err
		})
		s.Handle("silent", func(context.Context, []string, io.Writer) error { return nil })
		s.Handle("fail", func(_ context.Context, args []string, out io.Writer) error {
			fmt.Fprint(out, "partial\n")
			return fmt.Errorf("cannot %s", args[0])
		})
		s.Handle("missing", func(_ context.Context, args []string, _ io.Writer) error {
			return fmt.Errorf("queue ID %s: %w", args[0], ErrNotFound)
		})
		s.Handle("long-error", func(context.Context, []string, io.Writer) error {
			return errors.New(strings.Repeat("é", maxErrText))
		})
	})
	tests := []struct {
		op       string
		args     []string
		out      string
		err      string // substring; "" for success
		notFound bool
	}{
		{op: "echo", args: []string{"a", "b c", "ünï"}, out: "a b c ünï\n"},
		{op: "echo", out: "\n"},
		{op: "big", out: big},
		{op: "silent"},
		{op: "fail", args: []string{"fly"}, out: "partial\n", err: "cannot fly"},
		{op: "missing", args: []string{"ABC"}, err: "queue ID ABC: not found", notFound: true},
		{op: "long-error", err: "éé…"},
		{op: "nope", err: `unknown operation "nope"`},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := Call(callCtx(t), path, tt.op, tt.args, &out)
		if out.String() != tt.out {
			t.Errorf("%s %q: output %.80q, want %.80q", tt.op, tt.args, out.String(), tt.out)
		}
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s %q: %v", tt.op, tt.args, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s %q: error %v, want one containing %q", tt.op, tt.args, err, tt.err)
		case errors.Is(err, ErrNotFound) != tt.notFound:
			t.Errorf("%s %q: errors.Is(%v, ErrNotFound) = %v", tt.op, tt.args, err, !tt.notFound)
		case errors.Is(err, ErrNotRunning):
			t.Errorf("%s %q: a handler's error wraps ErrNotRunning", tt.op, tt.args)
		}
	}
	if err := Call(callCtx(t), path, "long-error", nil, nil); len(err.Error()) > maxErrText+8 {
		t.Errorf("error text of %d bytes, want at most about %d", len(err.Error()), maxErrText)
	}
}

// signalWriter closes first at its first write.
type signalWriter struct {
	once  sync.Once
	first chan struct{}
	buf   bytes.Buffer
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.first) })
	return w.buf.Write(p)
}

func TestOutputIsStreamed(t *testing.T) {
	sw := &signalWriter{first: make(chan struct{})}
	_, path := start(t, func(s *Server) {
		s.Handle("slow", func(ctx context.Context, _ []string, out io.Writer) error {
			fmt.Fprint(out, "working\n")
			// The client has the first line before the handler ends.
			select {
			case <-sw.first:
			case <-ctx.Done():
				return ctx.Err()
			}
			fmt.Fprint(out, "done\n")
			return nil
		})
	})
	if err := Call(callCtx(t), path, "slow", nil, sw); err != nil {
		t.Fatal(err)
	}
	if got := sw.buf.String(); got != "working\ndone\n" {
		t.Errorf("output %q", got)
	}
}

func TestPayload(t *testing.T) {
	handlerErr := make(chan error, 1)
	_, path := start(t, func(s *Server) {
		s.HandleStream("copy", func(_ context.Context, _ []string, in io.Reader, out io.Writer) error {
			_, err := io.Copy(out, in)
			return err
		})
		s.HandleStream("count", func(_ context.Context, args []string, in io.Reader, out io.Writer) error {
			n, err := io.Copy(io.Discard, in)
			fmt.Fprintf(out, "%s %d\n", strings.Join(args, ","), n)
			return err
		})
		s.HandleStream("refuse", func(context.Context, []string, io.Reader, io.Writer) error {
			return errors.New("message too big")
		})
		s.HandleStream("record", func(_ context.Context, _ []string, in io.Reader, _ io.Writer) error {
			_, err := io.Copy(io.Discard, in)
			handlerErr <- err
			return err
		})
		s.Handle("plain", echo)
	})
	ctx := callCtx(t)

	data := make([]byte, 1<<20+17)
	rand.Read(data)
	var out bytes.Buffer
	if err := CallStream(ctx, path, "copy", nil, bytes.NewReader(data), &out); err != nil {
		t.Fatalf("copy: %v", err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Errorf("copy: got %d bytes back, want the %d sent", out.Len(), len(data))
	}

	tests := []struct {
		op   string
		in   io.Reader // nil: Call, without a payload
		want string
	}{
		{"count", strings.NewReader(""), "x 0\n"},
		{"count", iotestOneByte(strings.NewReader("abc")), "x 3\n"},
		{"count", nil, "x 0\n"}, // a stream op called without a payload reads it empty
	}
	for _, tt := range tests {
		out.Reset()
		var err error
		if tt.in == nil {
			err = Call(ctx, path, tt.op, []string{"x"}, &out)
		} else {
			err = CallStream(ctx, path, tt.op, []string{"x"}, tt.in, &out)
		}
		if err != nil || out.String() != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.op, out.String(), err, tt.want)
		}
	}

	// A handler that stops before the end of a big payload is heard.
	err := CallStream(ctx, path, "refuse", nil, io.LimitReader(zeros{}, 8<<20), nil)
	if err == nil || err.Error() != "message too big" {
		t.Errorf("refuse: %v, want the handler's error", err)
	}
	err = CallStream(ctx, path, "plain", nil, strings.NewReader("x"), nil)
	if err == nil || !strings.Contains(err.Error(), "takes no input") {
		t.Errorf("payload to a plain op: %v", err)
	}

	// A client whose input fails aborts: the handler never sees a
	// complete (shorter) payload.
	boom := errors.New("disk on fire")
	in := io.MultiReader(strings.NewReader(strings.Repeat("x", 100000)), errReader{boom})
	if err := CallStream(ctx, path, "record", nil, in, nil); !errors.Is(err, boom) {
		t.Errorf("failing input: CallStream = %v, want it to wrap %v", err, boom)
	}
	select {
	case err := <-handlerErr:
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("aborted payload: the handler read %v, want io.ErrUnexpectedEOF", err)
		}
	case <-time.After(wait):
		t.Fatal("the handler of an aborted request did not end")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// iotestOneByte reads one byte at a time, as testing/iotest.OneByteReader.
func iotestOneByte(r io.Reader) io.Reader { return oneByte{r} }

type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

func TestNotRunning(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, "control")
	if err := Call(callCtx(t), path, "echo", nil, nil); !errors.Is(err, ErrNotRunning) {
		t.Errorf("no socket: %v, want ErrNotRunning", err)
	}
	makeStale(t, path)
	if err := Call(callCtx(t), path, "echo", nil, nil); !errors.Is(err, ErrNotRunning) {
		t.Errorf("stale socket: %v, want ErrNotRunning", err)
	}
}

// makeStale leaves a socket file at path that nobody listens on, as a
// server killed with -9 does.
func makeStale(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("no stale socket: %v", err)
	}
}

func TestListen(t *testing.T) {
	t.Run("stale socket replaced", func(t *testing.T) {
		path := filepath.Join(shortDir(t), "control")
		makeStale(t, path)
		_, path = startAt(t, path)
		var out bytes.Buffer
		if err := Call(callCtx(t), path, "echo", []string{"hi"}, &out); err != nil || out.String() != "hi\n" {
			t.Errorf("after replacing a stale socket: %q, %v", out.String(), err)
		}
	})
	t.Run("live server kept", func(t *testing.T) {
		_, path := start(t, func(s *Server) { s.Handle("echo", echo) })
		if s2, err := Listen(path); !errors.Is(err, ErrRunning) {
			if s2 != nil {
				s2.Close()
			}
			t.Fatalf("second Listen: %v, want ErrRunning", err)
		}
		var out bytes.Buffer
		if err := Call(callCtx(t), path, "echo", []string{"still", "here"}, &out); err != nil || out.String() != "still here\n" {
			t.Errorf("first server after a second Listen: %q, %v", out.String(), err)
		}
	})
	t.Run("not a socket", func(t *testing.T) {
		path := filepath.Join(shortDir(t), "control")
		os.WriteFile(path, []byte("precious"), 0o600)
		if s, err := Listen(path); err == nil {
			s.Close()
			t.Fatal("Listen over a regular file succeeded")
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "precious" {
			t.Errorf("the regular file was touched: %q, %v", b, err)
		}
	})
	t.Run("modes", func(t *testing.T) {
		dir := filepath.Join(shortDir(t), "new")
		_, path := startAt(t, filepath.Join(dir, "control"))
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
			t.Errorf("socket: %v, %v; want a socket with mode 0600", fi.Mode(), err)
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("directory made by Listen: %v, %v; want mode 0700", fi.Mode(), err)
		}
	})
	t.Run("path too long", func(t *testing.T) {
		path := filepath.Join(shortDir(t), strings.Repeat("d", 120), "control")
		if s, err := Listen(path); err == nil || !strings.Contains(err.Error(), "too long") {
			if s != nil {
				s.Close()
			}
			t.Errorf("Listen(%d bytes): %v", len(path), err)
		}
	})
}

// startAt is start at a given path, with the echo handler.
func startAt(t *testing.T, path string) (*Server, string) {
	t.Helper()
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Handle("echo", echo)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			t.Error("Serve did not return")
		}
	})
	return s, path
}

// raw sends data on a new connection, half-closes when asked, and returns
// the reply's error.
func raw(t *testing.T, path string, data []byte, halfClose bool) error {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(wait))
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		conn.Write(data)
		if halfClose {
			conn.(*net.UnixConn).CloseWrite()
		}
	}()
	err = readReply(conn, io.Discard)
	conn.Close()
	<-wrote
	return err
}

func TestBadRequests(t *testing.T) {
	_, path := start(t, func(s *Server) {
		s.Handle("echo", echo)
		s.HandleStream("copy", func(_ context.Context, _ []string, in io.Reader, out io.Writer) error {
			_, err := io.Copy(out, in)
			return err
		})
		s.header = 200 * time.Millisecond // for the silent client
	})
	tests := []struct {
		name      string
		data      string
		halfClose bool
		want      string
	}{
		{"garbage", "hello\n", false, "malformed request"},
		{"binary", "\x00\xff\xfe{\n", false, "malformed request"},
		{"no op", `{"v":1}` + "\n", false, "no op"},
		{"version", `{"v":2,"op":"echo"}` + "\n", false, "unsupported protocol version 2"},
		{"no version", `{"op":"echo"}` + "\n", false, "unsupported protocol version 0"},
		{"trailing", `{"v":1,"op":"echo"} {}` + "\n", false, "malformed request"},
		{"args not strings", `{"v":1,"op":"echo","args":[1]}` + "\n", false, "malformed request"},
		{"too long", strings.Repeat("x", maxLine+10) + "\n", false, "longer than"},
		{"unterminated", `{"v":1,"op":"echo"}`, true, "without its end"},
		{"silent", "", false, "timeout waiting for the request"},
		{"huge chunk", `{"v":1,"op":"copy","input":true}` + "\n\xff\xff\xff\xff", false, "chunk of"},
		{"payload cut", `{"v":1,"op":"copy","input":true}` + "\n\x00\x00\x00\x05ab", true, "unexpected EOF"},
		{"no end mark", `{"v":1,"op":"copy","input":true}` + "\n\x00\x00\x00\x02ab", true, "unexpected EOF"},
	}
	for _, tt := range tests {
		err := raw(t, path, []byte(tt.data), tt.halfClose)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: reply %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	// The server still serves.
	if err := raw(t, path, []byte(`{"v":1,"op":"echo","args":["ok"]}`+"\n"), false); err != nil {
		t.Errorf("a good raw request: %v", err)
	}
	if err := Call(callCtx(t), path, "echo", nil, nil); err != nil {
		t.Errorf("Call after bad requests: %v", err)
	}
}

func TestPeerCredentials(t *testing.T) {
	var called sync.Map
	s, path := start(t, func(s *Server) {
		s.Handle("echo", func(ctx context.Context, args []string, out io.Writer) error {
			called.Store(args[0], true)
			return echo(ctx, args, out)
		})
	})
	real := s.peerUID
	tests := []struct {
		name string
		uid  func(*net.UnixConn) (uint32, error)
		ok   bool
	}{
		{"real", real, true},
		{"same uid", func(*net.UnixConn) (uint32, error) { return s.uid, nil }, true},
		{"root", func(*net.UnixConn) (uint32, error) { return 0, nil }, true},
		{"other uid", func(*net.UnixConn) (uint32, error) { return s.uid + 1, nil }, s.uid+1 == 0},
		{"unknown", func(*net.UnixConn) (uint32, error) { return 0, errors.New("no credentials") }, false},
	}
	for _, tt := range tests {
		s.mu.Lock() // serveConn reads peerUID after Accept; tests set it between calls
		s.peerUID = tt.uid
		s.mu.Unlock()
		err := Call(callCtx(t), path, "echo", []string{tt.name}, nil)
		_, ran := called.Load(tt.name)
		if tt.ok && (err != nil || !ran) {
			t.Errorf("%s: %v, handler ran %v; want it let in", tt.name, err, ran)
		}
		if !tt.ok && (err == nil || !strings.Contains(err.Error(), "permission denied") || ran) {
			t.Errorf("%s: %v, handler ran %v; want permission denied", tt.name, err, ran)
		}
	}
}

func TestHandlerPanic(t *testing.T) {
	s, path := start(t, func(s *Server) {
		s.Handle("echo", echo)
		s.Handle("boom", func(context.Context, []string, io.Writer) error { panic("exploded") })
	})
	err := Call(callCtx(t), path, "boom", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "internal error") {
		t.Errorf("panicking handler: %v, want an internal error", err)
	}
	if n := s.panics.Load(); n != 1 {
		t.Errorf("%d panics counted, want 1", n)
	}
	var out bytes.Buffer
	if err := Call(callCtx(t), path, "echo", []string{"alive"}, &out); err != nil || out.String() != "alive\n" {
		t.Errorf("after a panic: %q, %v", out.String(), err)
	}
}

func TestServeStops(t *testing.T) {
	path := filepath.Join(shortDir(t), "control")
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	handlerCtx := make(chan error, 1)
	s.Handle("block", func(ctx context.Context, _ []string, out io.Writer) error {
		close(started)
		<-ctx.Done()
		handlerCtx <- ctx.Err()
		return ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	called := make(chan error, 1)
	cctx := callCtx(t)
	go func() { called <- Call(cctx, path, "block", nil, nil) }()
	select {
	case <-started:
	case <-time.After(wait):
		t.Fatal("the handler did not start")
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Serve did not return after its context ended")
	}
	if err := <-handlerCtx; !errors.Is(err, context.Canceled) {
		t.Errorf("the handler's context: %v", err)
	}
	if err := <-called; err == nil {
		t.Error("a request cut by the shutdown succeeded")
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket after Serve: %v, want it removed", err)
	}
	if err := s.Serve(context.Background()); err == nil {
		t.Error("Serve after the end succeeded")
	}
}

func TestCallContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{}, 1)
	_, path := start(t, func(s *Server) {
		s.Handle("block", func(ctx context.Context, _ []string, _ io.Writer) error {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		})
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	if err := Call(ctx, path, "block", nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Call with its context cancelled: %v", err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	_, path := start(t, func(s *Server) { s.Handle("echo", echo) })
	const n = 3 * maxConns / 2
	errs := make(chan error, n)
	for i := range n {
		go func() {
			var out bytes.Buffer
			err := Call(callCtx(t), path, "echo", []string{fmt.Sprint(i)}, &out)
			if err == nil && out.String() != fmt.Sprintln(i) {
				err = fmt.Errorf("call %d got %q", i, out.String())
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
