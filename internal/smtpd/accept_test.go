package smtpd

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"facteur/internal/maillog"
)

// flakyListener is a loopback listener whose first Accepts fail with the
// errors in fails, none of them a timeout.
type flakyListener struct {
	net.Listener
	mu    sync.Mutex
	fails []error
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.fails) > 0 {
		err := l.fails[0]
		l.fails = l.fails[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

func (l *flakyListener) left() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.fails)
}

// serveOn runs a server on ln, its mail log in the returned buffer.
func serveOn(t *testing.T, ln net.Listener) (*Server, *logBuffer, chan error) {
	t.Helper()
	log := &logBuffer{}
	log.h = maillog.NewHandler(log, "mx", slog.LevelInfo)
	cfg := baseConfig()
	cfg.Log = maillog.New(slog.New(log.h))
	srv := NewServer(cfg, &fakePolicy{}, &fakeSink{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	return srv, log, done
}

// TestAcceptErrorsRetried checks that accept errors other than a closed
// listener (a full descriptor table, a connection aborted before it was
// accepted) neither stop the server nor go unlogged.
func TestAcceptErrorsRetried(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &flakyListener{Listener: inner, fails: []error{
		&net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)},
		&net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.ECONNABORTED)},
		errors.New("no buffer space available"),
	}}
	srv, log, done := serveOn(t, ln)
	conn, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("220 mx.example.org ESMTP facteur")
	c.send("QUIT")
	c.expect("221 *")
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
	lines := log.all()
	for _, want := range []string{"too many open files", "software caused connection abort", "no buffer space available"} {
		if !anyMatch(lines, "*warning: accept: *"+want+"*") {
			t.Errorf("no warning for %q; log:\n%s", want, strings.Join(lines, "\n"))
		}
	}
}

// TestAcceptClosedListener checks that Serve returns once its listener
// is closed under it, and that Shutdown ends a Serve that is retrying.
func TestAcceptClosedListener(t *testing.T) {
	t.Run("closed", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, _, done := serveOn(t, ln)
		ln.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve returned %v, want net.ErrClosed", err)
		}
	})
	t.Run("shutdown", func(t *testing.T) {
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		fails := make([]error, 100) // 90 s of pauses at most
		for i := range fails {
			fails[i] = errors.New("transient")
		}
		ln := &flakyListener{Listener: inner, fails: fails}
		srv, _, done := serveOn(t, ln)
		for ln.left() > 97 { // wait until Serve is retrying
			select {
			case err := <-done:
				t.Fatalf("Serve returned %v on a transient error", err)
			case <-time.After(time.Millisecond):
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
}
