package imapd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"facteur/internal/fakeaddr"
	"facteur/internal/store"
	"facteur/internal/tlsconf"
)

// storeAdapter is the store as imapd sees it, as cmd/facteur adapts it.
type storeAdapter struct{ st *store.Store }

func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("%w: %w", ErrExists, err)
	case errors.Is(err, store.ErrInvalid):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return err
}

func (a storeAdapter) Authenticate(ctx context.Context, user, password string) (string, bool, error) {
	ok, err := a.st.Authenticate(ctx, user, password)
	return strings.ToLower(user), ok, err
}

func (a storeAdapter) Mailboxes(ctx context.Context, account string) ([]Mailbox, error) {
	bs, err := a.st.Mailboxes(ctx, account)
	out := make([]Mailbox, len(bs))
	for i, b := range bs {
		out[i] = Mailbox(b)
	}
	return out, mapErr(err)
}

func (a storeAdapter) Mailbox(ctx context.Context, account, name string) (Mailbox, error) {
	b, err := a.st.Mailbox(ctx, account, name)
	return Mailbox(b), mapErr(err)
}

func (a storeAdapter) CreateMailbox(ctx context.Context, account, name string) error {
	return mapErr(a.st.CreateMailbox(ctx, account, name))
}

func (a storeAdapter) DeleteMailbox(ctx context.Context, account, name string) error {
	return mapErr(a.st.DeleteMailbox(ctx, account, name))
}

func (a storeAdapter) RenameMailbox(ctx context.Context, account, from, to string) error {
	return mapErr(a.st.RenameMailbox(ctx, account, from, to))
}

func (a storeAdapter) Subscribe(ctx context.Context, account, name string, on bool) error {
	return mapErr(a.st.Subscribe(ctx, account, name, on))
}

func messages(ms []store.MessageInfo) []Message {
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = Message(m)
	}
	return out
}

func (a storeAdapter) Messages(ctx context.Context, account, mailbox string) ([]Message, error) {
	ms, err := a.st.Messages(ctx, account, mailbox)
	return messages(ms), mapErr(err)
}

func (a storeAdapter) Matching(ctx context.Context, account, mailbox, field, needle string) ([]Message, error) {
	ms, err := a.st.Matching(ctx, account, mailbox, field, needle)
	return messages(ms), mapErr(err)
}

func (a storeAdapter) Index(ctx context.Context, account, mailbox string) ([]Message, uint64, error) {
	ms, highest, err := a.st.Index(ctx, account, mailbox)
	return messages(ms), highest, mapErr(err)
}

func (a storeAdapter) OpenMessage(ctx context.Context, account, mailbox string, uid uint32) (io.ReadCloser, error) {
	rc, err := a.st.OpenMessage(ctx, account, mailbox, uid)
	return rc, mapErr(err)
}

func (a storeAdapter) Headers(ctx context.Context, account, mailbox string, uids []uint32, fn func(uint32, []byte) error) error {
	return mapErr(a.st.Headers(ctx, account, mailbox, uids, fn))
}

func (a storeAdapter) SetFlags(ctx context.Context, account, mailbox string, uids []uint32, op FlagOp, flags []string) (uint64, error) {
	sop := map[FlagOp]store.FlagOp{FlagsReplace: store.FlagsReplace, FlagsAdd: store.FlagsAdd, FlagsRemove: store.FlagsRemove}[op]
	n, err := a.st.SetFlags(ctx, account, mailbox, uids, sop, flags)
	return n, mapErr(err)
}

func (a storeAdapter) Expunge(ctx context.Context, account, mailbox string, uids []uint32) ([]uint32, error) {
	r, err := a.st.Expunge(ctx, account, mailbox, uids)
	return r, mapErr(err)
}

func (a storeAdapter) Append(ctx context.Context, account, mailbox string, r io.Reader, flags []string, date time.Time) (uint32, uint32, error) {
	v, u, err := a.st.Append(ctx, account, mailbox, r, flags, date)
	return v, u, mapErr(err)
}

func (a storeAdapter) Copy(ctx context.Context, account, from string, uids []uint32, to string) (CopyResult, error) {
	r, err := a.st.Copy(ctx, account, from, uids, to)
	return CopyResult(r), mapErr(err)
}

func (a storeAdapter) Move(ctx context.Context, account, from string, uids []uint32, to string) (CopyResult, error) {
	r, err := a.st.Move(ctx, account, from, uids, to)
	return CopyResult(r), mapErr(err)
}

func (a storeAdapter) Changes(ctx context.Context, account, mailbox string, since uint64) (Changes, error) {
	c, err := a.st.Changes(ctx, account, mailbox, since)
	return Changes{Messages: messages(c.Messages), Expunged: c.Expunged, HighestModSeq: c.HighestModSeq,
		UIDNext: c.UIDNext, UIDValidity: c.UIDValidity}, mapErr(err)
}

func (a storeAdapter) Watch(account, mailbox string) (<-chan struct{}, func(), error) {
	ch, stop, err := a.st.Watch(account, mailbox)
	return ch, stop, mapErr(err)
}

// env is a server on a loopback port over a real store in a temp dir,
// with accounts "toto" (password "secret") and "titi" ("secret2").
type env struct {
	t    *testing.T
	dir  string // the store's directory
	st   *store.Store
	srv  *Server
	addr string
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	return newEnvWrapped(t, cfg, nil)
}

// newEnvWrapped is newEnv with the server's Store passed through wrap
// (nil: as it is), for tests that step in between.
func newEnvWrapped(t testing.TB, cfg Config, wrap func(Store) Store) *env {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	st, err := store.OpenWith(dir,
		store.Options{Argon2Time: 1, Argon2MemoryKiB: 64, Argon2Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, u := range [][2]string{{"toto", "secret"}, {"titi", "secret2"}} {
		if err := st.AddUser(ctx, u[0], u[1]); err != nil {
			t.Fatal(err)
		}
	}
	var srvStore Store = storeAdapter{st}
	if wrap != nil {
		srvStore = wrap(srvStore)
	}
	srv := NewServer(cfg, srvStore)
	srv.sleep = func(context.Context, time.Duration) {}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln, false) }()
	e := &env{dir: dir, st: st, srv: srv, addr: ln.Addr().String()}
	if tt, ok := t.(*testing.T); ok {
		e.t = tt
	}
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v", err)
		}
		st.Close()
		if n := srv.Panics(); n != 0 {
			t.Errorf("%d sessions panicked", n)
		}
	})
	return e
}

// serve starts another listener of the server, with a chosen remote
// address for the connections when remote is set.
func (e *env) serve(t *testing.T, implicitTLS bool, remote net.Addr) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var l net.Listener = ln
	if remote != nil {
		l = fakeaddr.Listener(ln, remote)
	}
	go e.srv.Serve(l, implicitTLS)
	return ln.Addr().String()
}

// add appends messages to a mailbox of an account.
func (e *env) add(t testing.TB, account, mailbox string, msgs ...string) []uint32 {
	t.Helper()
	var uids []uint32
	for _, m := range msgs {
		_, uid, err := e.st.Append(context.Background(), account, mailbox, strings.NewReader(m), nil, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, uid)
	}
	return uids
}

func testTLS(t *testing.T) *tls.Config {
	t.Helper()
	certs, err := tlsconf.Load(tlsconf.Options{Dir: t.TempDir(), Hostname: "imap.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	return certs.Config()
}

func msg(subject, body string) string {
	return "From: Alice <alice@example.org>\r\nTo: toto@localhost\r\nSubject: " + subject +
		"\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <" + subject + "@example.org>\r\n\r\n" + body
}

// client speaks raw IMAP.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func (e *env) dial(t *testing.T) *client {
	return dialAddr(t, e.addr)
}

func dialAddr(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	if g := c.line(); !strings.HasPrefix(g, "* OK [CAPABILITY ") {
		t.Fatalf("greeting %q", g)
	}
	return c
}

func (c *client) send(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("writing %q: %v", s, err)
	}
}

func (c *client) line() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading: %v (after %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// cmd sends a command with tag "a" and returns the lines up to the
// tagged reply, that one last.
func (c *client) cmd(line string) []string {
	c.t.Helper()
	c.send("a " + line + "\r\n")
	return c.until("a ")
}

// until reads lines until one starts with prefix.
func (c *client) until(prefix string) []string {
	c.t.Helper()
	var out []string
	for range 100000 {
		l := c.line()
		out = append(out, l)
		if strings.HasPrefix(l, prefix) {
			return out
		}
	}
	c.t.Fatalf("no %q line", prefix)
	return nil
}

// expectClosed reads until the server closes the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := io.Copy(io.Discard, c.r)
	if err != nil {
		c.t.Fatalf("connection not closed: %v", err)
	}
}

func (c *client) login() {
	c.t.Helper()
	if r := c.cmd("LOGIN toto secret"); !strings.HasPrefix(r[len(r)-1], "a OK") {
		c.t.Fatalf("LOGIN: %q", r)
	}
}

// openConns returns the number of open connections.
func (s *Server) openConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// openSessions returns the number of sessions not yet closed.
func (s *Server) openSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}
