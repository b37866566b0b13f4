package systest

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// conn is a raw SMTP client for tests that check exact replies.
type conn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, addr string) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cn := &conn{t: t, c: c, br: bufio.NewReader(c)}
	cn.expect("220 ")
	return cn
}

// reply reads one (possibly multi-line) reply and returns its last line.
func (cn *conn) reply() string {
	cn.t.Helper()
	cn.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		line, err := cn.br.ReadString('\n')
		if err != nil {
			cn.t.Fatalf("reading reply: %v (got %q)", err, line)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 || line[3] != '-' {
			return line
		}
	}
}

func (cn *conn) expect(prefix string) string {
	cn.t.Helper()
	got := cn.reply()
	if !strings.HasPrefix(got, prefix) {
		cn.t.Fatalf("got reply %q, want %q...", got, prefix)
	}
	return got
}

// cmd sends one command line and checks the reply's beginning.
func (cn *conn) cmd(line, want string) string {
	cn.t.Helper()
	fmt.Fprintf(cn.c, "%s\r\n", line)
	return cn.expect(want)
}

// send runs a whole transaction and returns the queue ID from the 250.
func (cn *conn) send(from string, to []string, body string) string {
	cn.t.Helper()
	cn.cmd("MAIL FROM:<"+from+">", "250 ")
	for _, r := range to {
		cn.cmd("RCPT TO:<"+r+">", "250 ")
	}
	cn.cmd("DATA", "354 ")
	fmt.Fprintf(cn.c, "%s.\r\n", body)
	got := cn.expect("250 2.0.0 Ok: queued as ")
	return strings.TrimPrefix(got, "250 2.0.0 Ok: queued as ")
}
