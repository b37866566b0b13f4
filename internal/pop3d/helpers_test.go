package pop3d

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"facteur/internal/fakeaddr"
	"facteur/internal/tlsconf"
)

// fakeDrops is an in-memory store: account "toto" (password "secret")
// with a few messages; any other account is unknown.
type fakeDrops struct {
	mu      sync.Mutex
	msgs    map[string][]fakeMsg
	deletes [][]uint32
	failing bool // List fails
}

type fakeMsg struct {
	uid  uint32
	body string
}

func newFakeDrops(bodies ...string) *fakeDrops {
	d := &fakeDrops{msgs: map[string][]fakeMsg{}}
	for i, b := range bodies {
		d.msgs["toto"] = append(d.msgs["toto"], fakeMsg{uint32(10 + i), b})
	}
	return d
}

func (d *fakeDrops) Authenticate(_ context.Context, user, password string) (string, bool, error) {
	if strings.EqualFold(user, "toto") && password == "secret" {
		return "toto", true, nil
	}
	return "", false, nil
}

func (d *fakeDrops) List(_ context.Context, account string) (uint32, []Message, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failing {
		return 0, nil, errors.New("disk on fire")
	}
	var out []Message
	for _, m := range d.msgs[account] {
		out = append(out, Message{UID: m.uid, Size: int64(len(m.body))})
	}
	return 7, out, nil
}

func (d *fakeDrops) Open(_ context.Context, account string, msg Message) (io.ReadCloser, error) {
	uid := msg.UID
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.msgs[account] {
		if m.uid == uid {
			return io.NopCloser(strings.NewReader(m.body)), nil
		}
	}
	return nil, errors.New("not found")
}

func (d *fakeDrops) Delete(_ context.Context, account string, uids []uint32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deletes = append(d.deletes, uids)
	d.msgs[account] = slices.DeleteFunc(d.msgs[account], func(m fakeMsg) bool { return slices.Contains(uids, m.uid) })
	return nil
}

func (d *fakeDrops) deleted() [][]uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.deletes)
}

type testServer struct {
	srv  *Server
	addr string
}

// startServer serves cfg on a loopback port; remote, when set, is the
// client address the server sees.
func startServer(t *testing.T, cfg Config, d Maildrops, implicitTLS bool, remote net.Addr) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(cfg, d)
	srv.sleep = func(context.Context, time.Duration) {}
	var serveLn net.Listener = ln
	if remote != nil {
		serveLn = fakeaddr.Listener(ln, remote)
	}
	done := make(chan struct{})
	go func() { srv.Serve(serveLn, implicitTLS); close(done) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if srv.panics != 0 {
			t.Errorf("%d session panics", srv.panics)
		}
	})
	return &testServer{srv: srv, addr: ln.Addr().String()}
}

func testTLS(t *testing.T) *tls.Config {
	t.Helper()
	certs, err := tlsconf.Load(tlsconf.Options{Dir: t.TempDir(), Hostname: "pop.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	return certs.Config()
}

// client speaks to the server line by line.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, ts *testServer) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", ts.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("+OK *")
	return c
}

func (c *client) send(lines ...string) {
	c.t.Helper()
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c.conn, strings.Join(lines, "\r\n")+"\r\n"); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *client) line() string {
	c.t.Helper()
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading reply: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("reply %q without CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// match reports whether s matches pattern, where "*" matches any text.
func match(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(s, p)
		}
		k := strings.Index(s, p)
		if k < 0 {
			return false
		}
		s = s[k+len(p):]
	}
	return s == ""
}

// expect reads one line per pattern, where "*" matches any text.
func (c *client) expect(patterns ...string) {
	c.t.Helper()
	for _, p := range patterns {
		l := c.line()
		if !match(p, l) {
			c.t.Fatalf("got %q, want %q", l, p)
		}
	}
}

// multi reads a multi-line reply's body, undoing the dot-stuffing, with
// its CRLFs.
func (c *client) multi() string {
	c.t.Helper()
	var b bytes.Buffer
	for range 100000 {
		l := c.line()
		if l == "." {
			return b.String()
		}
		b.WriteString(strings.TrimPrefix(l, ".") + "\r\n")
	}
	c.t.Fatal("multi-line reply never ended")
	return ""
}

func (c *client) expectClosed() {
	c.t.Helper()
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if l, err := c.r.ReadString('\n'); err == nil {
		c.t.Fatalf("got %q, want the connection closed", l)
	}
}

func (c *client) login() {
	c.t.Helper()
	c.send("USER toto", "PASS secret")
	c.expect("+OK *", "+OK *")
}
