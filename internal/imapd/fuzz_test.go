package imapd

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fastAuth skips the password hash: the fuzz target logs in per input.
type fastAuth struct{ storeAdapter }

func (fastAuth) Authenticate(_ context.Context, user, password string) (string, bool, error) {
	return "toto", user == "toto" && password == "secret", nil
}

// pipeListener hands out in-memory connections.
type pipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.UnixAddr{Name: "pipe", Net: "pipe"} }

// FuzzSession feeds arbitrary command lines to a logged-in session with
// a mailbox selected; the server must neither panic nor hang.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"a FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE BODY.PEEK[1.MIME] BINARY[1]<0.5>)",
		"a UID SEARCH OR (SUBJECT x BODY y) NOT HEADER X-A \"\" 1:*",
		"a STORE 1 +FLAGS.SILENT (\\Seen $x)\r\nb EXPUNGE",
		"a APPEND INBOX {5+}\r\nhello",
		"a APPEND INBOX {50000}",
		"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (% *) RETURN (CHILDREN STATUS (SIZE))",
		"a CREATE x/y\r\nb RENAME x z\r\nc MOVE 1 z/y\r\nd DELETE z",
		"a IDLE\r\nDONE",
		"a SEARCH NOT NOT NOT (((ALL)))",
		"a UID FETCH 4294967295:* BODY[]<4294967295.1>",
		"a STARTTLS\r\nb CAPABILITY",
	} {
		f.Add(s)
	}
	e := newEnv(f, Config{AppendLimit: 1 << 20})
	e.add(f, "toto", "INBOX", msg("one", "body"),
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n")
	srv := NewServer(Config{AppendLimit: 1 << 20}, fastAuth{storeAdapter{e.st}})
	ln := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	go srv.Serve(ln, false)
	f.Cleanup(func() { srv.Close() })

	f.Fuzz(func(t *testing.T, input string) {
		if len(input) > 4096 {
			return
		}
		client, server := net.Pipe()
		defer client.Close()
		select {
		case ln.conns <- server:
		case <-time.After(10 * time.Second):
			t.Fatal("server not accepting")
		}
		go func() {
			io.WriteString(client, "a LOGIN toto secret\r\nb SELECT INBOX\r\n"+input+"\r\nDONE\r\nz LOGOUT\r\n")
		}()
		client.SetReadDeadline(time.Now().Add(time.Second))
		var out strings.Builder
		_, err := io.Copy(&out, client)
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) && !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("reading: %v", err)
		}
		if srv.Panics() != 0 {
			t.Fatalf("session panicked on %q", input)
		}
	})
}
