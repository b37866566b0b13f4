package imapd

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"facteur/internal/limiter"
	"facteur/internal/store"
)

// sent is raw client input and the start of the reply it must get.
type sent struct{ name, send, want string }

// sendEach sends each input on c, checks the reply's first line, and that
// the session still answers a NOOP after it.
func sendEach(t *testing.T, c *client, tests []sent) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.send(tt.send)
			if l := c.line(); !strings.HasPrefix(l, tt.want) {
				t.Errorf("S: %q, want %q", l, tt.want)
			}
			runSteps(t, c, []step{{"NOOP", []string{"a OK"}}})
		})
	}
}

func TestLiterals(t *testing.T) {
	e := newEnv(t, Config{AppendLimit: 1000})
	c := e.dial(t)
	c.login()
	tests := []sent{
		// RFC 9051 §4.3: NO before any "+", and the client sends nothing.
		{"synchronizing over the buffer limit", "a LOGIN {5000}\r\n", "a NO [TOOBIG]"},
		{"APPEND over the limit", "a APPEND INBOX {1001}\r\n", "a NO [TOOBIG]"},
		{"4 GB", "a APPEND INBOX {4294967296}\r\n", "a NO [TOOBIG]"},
		{"beyond any number", "a APPEND INBOX {99999999999999999999999}\r\n", "a NO [TOOBIG]"},
		{"mailbox name literal over the buffer limit", "a APPEND {5000}\r\n", "a NO [TOOBIG]"},
		{"malformed", "a APPEND INBOX {12x}\r\n", "a BAD"},
	}
	sendEach(t, c, tests)
	t.Run("APPEND within the limit", func(t *testing.T) {
		c.t = t
		c.send("a APPEND INBOX {5}\r\n")
		if l := c.line(); !strings.HasPrefix(l, "+ ") {
			t.Fatalf("S: %q", l)
		}
		c.send("hello\r\n")
		if l := c.line(); !strings.HasPrefix(l, "a OK [APPENDUID") {
			t.Errorf("S: %q", l)
		}
	})

	// RFC 7888 §4: a non-synchronizing literal over the limit is on its
	// way; its octets must not run as commands.
	for _, send := range []string{
		"a APPEND INBOX {1001+}\r\nb DELETE Sent\r\n",
		"a LOGIN {5000+}\r\nb DELETE Sent\r\n",
		"a APPEND INBOX {4294967296+}\r\nb DELETE Sent\r\n",
	} {
		c := e.dial(t)
		c.login()
		c.send(send)
		if l := c.line(); !strings.HasPrefix(l, "* BYE [TOOBIG]") {
			t.Errorf("%q: S: %q", send, l)
		}
		c.expectClosed()
	}
	c = e.dial(t)
	c.login()
	runSteps(t, c, []step{{"STATUS Sent (MESSAGES)", []string{"* STATUS", "a OK"}}})

	// Before login too.
	c = e.dial(t)
	c.send("a LOGIN {5000+}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "* BYE [TOOBIG]") {
		t.Errorf("S: %q", l)
	}
	c.expectClosed()
}

func TestLoginFailures(t *testing.T) {
	e := newEnv(t, Config{Failures: limiter.New(3, time.Hour, time.Now)})
	addr := e.serve(t, false, &net.TCPAddr{IP: net.ParseIP("192.0.2.9"), Port: 1})
	c := dialAddr(t, addr)
	runSteps(t, c, []step{
		{"LOGIN toto wrong", []string{"a NO [AUTHENTICATIONFAILED]"}},
		{"LOGIN nobody secret", []string{"a NO [AUTHENTICATIONFAILED]"}},
		{"AUTHENTICATE PLAIN AHRvdG8Ad3Jvbmc=", []string{"* BYE", "a NO"}},
	})
	// The third failure reached the limit: BYE, and the address is blocked.
	c.expectClosed()
	c = dialAddr(t, addr)
	c.send("a LOGIN toto secret\r\n")
	if l := c.line(); !strings.HasPrefix(l, "* BYE") {
		t.Errorf("S: %q", l)
	}
	// Loopback is another address.
	c = e.dial(t)
	c.login()
}

func TestIdleSeesOthers(t *testing.T) {
	e := newEnv(t, Config{})
	e.add(t, "toto", "INBOX", msg("one", "x"), msg("two", "y"))
	idler := e.dial(t)
	idler.login()
	idler.cmd("SELECT INBOX")
	other := e.dial(t)
	other.login()
	other.cmd("SELECT INBOX")

	idler.send("i IDLE\r\n")
	if l := idler.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	e.add(t, "toto", "INBOX", msg("three", "z"))
	if l := idler.line(); l != "* 3 EXISTS" {
		t.Errorf("after a delivery: %q", l)
	}
	other.cmd(`STORE 1 +FLAGS (\Flagged)`)
	if l := idler.line(); l != `* 1 FETCH (UID 1 FLAGS (\Flagged))` {
		t.Errorf("after STORE: %q", l)
	}
	other.cmd(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	if l := idler.line(); l != `* 2 FETCH (UID 2 FLAGS (\Deleted))` {
		t.Errorf("after STORE: %q", l)
	}
	other.cmd("EXPUNGE")
	if l := idler.line(); l != "* 2 EXPUNGE" {
		t.Errorf("after EXPUNGE: %q", l)
	}
	idler.send("DONE\r\n")
	if l := idler.line(); !strings.HasPrefix(l, "i OK") {
		t.Errorf("DONE: %q", l)
	}

	// Outside IDLE, no EXPUNGE during FETCH (RFC 9051 §7.5.1), but at
	// NOOP.
	other.cmd(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	other.cmd("EXPUNGE")
	r := idler.cmd("FETCH 1:* (UID)")
	if strings.Contains(strings.Join(r, "\n"), "EXPUNGE") || !strings.HasPrefix(r[len(r)-1], "a OK") {
		t.Errorf("FETCH: %q", r)
	}
	r = idler.cmd("NOOP")
	if r[0] != "* 1 EXPUNGE" {
		t.Errorf("NOOP: %q", r)
	}
	if r := idler.cmd("FETCH 1:* (UID)"); r[0] != "* 1 FETCH (UID 3)" {
		t.Errorf("FETCH: %q", r)
	}
}

func TestSlowReader(t *testing.T) {
	e := newEnv(t, Config{WriteTimeout: 200 * time.Millisecond})
	big := msg("big", strings.Repeat("0123456789abcdef\r\n", 60000))
	for range 10 {
		e.add(t, "toto", "INBOX", big)
	}
	slow := e.dial(t)
	slow.login()
	slow.cmd("SELECT INBOX")
	slow.conn.(*net.TCPConn).SetReadBuffer(4096)
	// Asks for megabytes and never reads them.
	slow.send("a FETCH 1:* BODY.PEEK[]\r\na FETCH 1:* BODY.PEEK[]\r\n")

	c := e.dial(t)
	c.login()
	runSteps(t, c, []step{{"SELECT INBOX", []string{"* 10 EXISTS", "a OK"}}, {"FETCH 10 RFC822.SIZE", []string{"* 10 FETCH", "a OK"}}})

	// The server gives up on the slow one: its connection ends, while
	// the client has not read a byte.
	waitFor(t, "the slow connection to close", func() bool { return e.srv.openConns() == 1 })
	c.cmd("LOGOUT")
	waitFor(t, "all connections to close", func() bool { return e.srv.openConns() == 0 })
}

// waitFor polls cond until it holds, for at most a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLargeMailboxFetch(t *testing.T) {
	const n = 3000
	e := newEnv(t, Config{})
	for i := range n {
		e.add(t, "toto", "INBOX", msg(fmt.Sprint("m", i), "body"))
	}
	c := e.dial(t)
	c.login()
	c.cmd("SELECT INBOX")
	r := c.cmd("FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)")
	if len(r) != n+1 || !strings.HasPrefix(r[n-1], fmt.Sprintf("* %d FETCH (FLAGS () RFC822.SIZE ", n)) {
		t.Errorf("%d lines, last %q", len(r), r[len(r)-2:])
	}
	r = c.cmd(fmt.Sprintf("UID SEARCH SUBJECT m%d", n-1))
	if r[0] != fmt.Sprintf("* SEARCH %d", n) {
		t.Errorf("SEARCH: %q", r[0])
	}
}

// TestAppendCutShort: a client that hangs up in the middle of an APPEND
// literal gets nothing stored, synchronizing literal or not.
func TestAppendCutShort(t *testing.T) {
	for _, marker := range []string{"{50000}", "{50000+}"} {
		t.Run(marker, func(t *testing.T) {
			e := newEnv(t, Config{})
			c := e.dial(t)
			c.login()
			c.send("a APPEND INBOX " + marker + "\r\n")
			if !strings.HasSuffix(marker, "+}") {
				if l := c.line(); !strings.HasPrefix(l, "+ ") {
					t.Fatalf("APPEND: %q", l)
				}
			}
			c.send(msg("cut", strings.Repeat("x", 20000)))
			c.conn.Close()
			waitFor(t, "the session to end", func() bool { return e.srv.openSessions() == 0 })
			ms, err := e.st.Messages(t.Context(), "toto", "INBOX")
			if err != nil || len(ms) != 0 {
				t.Errorf("INBOX holds %d messages (%v), want none", len(ms), err)
			}
			// The same literal sent whole is stored.
			c = e.dial(t)
			c.login()
			body := msg("whole", strings.Repeat("x", 100))
			c.send(fmt.Sprintf("a APPEND INBOX {%d+}\r\n%s\r\n", len(body), body))
			if r := c.until("a "); !strings.HasPrefix(r[len(r)-1], "a OK [APPENDUID") {
				t.Errorf("APPEND: %q", r)
			}
		})
	}
}

// TestBadLines: a line the library cannot read as a command, or a
// mailbox name it cannot decode, gets BAD or NO and the session goes on;
// the rest of such a command, literals included, never runs.
func TestBadLines(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dial(t)
	c.login()
	tests := []sent{
		{"control bytes for a name", "t1 \x00\x01 garbage\r\n", "t1 BAD"},
		{"parentheses for a name", "t1 )))\r\n", "t1 BAD"},
		{"quote for a name", "t1 \"unbalanced\r\n", "t1 BAD"},
		{"no tag", ")))\r\n", "* BAD"},
		{"empty line", "\r\n", "* BAD"},
		{"tag alone", "t1\r\n", "t1 BAD"},
		{"tag and space", "t1 \r\n", "t1 BAD"},
		{"UID alone", "t1 UID\r\n", "t1 BAD"},
		{"non-synchronizing literal dropped", "t1 ))) {13+}\r\nt9 CREATE bad\r\n", "t1 BAD"},
		{"synchronizing literal not asked for", "t1 ))) {13}\r\n", "t1 BAD"},
		{"control byte in a literal name", "t1 CREATE {3+}\r\nx\x01y\r\n", "t1 NO [CANNOT] Invalid mailbox name: control character"},
		{"control byte in a quoted name", "t1 CREATE \"x\x7fy\"\r\n", "t1 NO [CANNOT] Invalid mailbox name: control character"},
		{"not UTF-8", "t1 CREATE {4+}\r\n\xff\xfeab\r\n", "t1 NO [CANNOT] Invalid mailbox name: not UTF-8"},
		{"bad modified UTF-7", "t1 RENAME INBOX {2+}\r\n&A\r\n", "t1 NO [CANNOT] Invalid mailbox name: malformed"},
		{"bad name before a message", "t1 APPEND \"x\x01\" {13+}\r\nt9 CREATE bad\r\n", "t1 NO [CANNOT]"},
		{"bad date before a message", "t1 APPEND INBOX \"bogus\" {13+}\r\nt9 CREATE bad\r\n", "t1 NO"},
	}
	sendEach(t, c, tests)
	c.t = t
	t.Run("synchronizing literal name", func(t *testing.T) {
		c.t = t
		c.send("t1 CREATE {3}\r\n")
		if l := c.line(); !strings.HasPrefix(l, "+ ") {
			t.Fatalf("S: %q", l)
		}
		c.send("x\x01y\r\n")
		if l := c.line(); !strings.HasPrefix(l, "t1 NO [CANNOT] Invalid mailbox name") {
			t.Errorf("S: %q", l)
		}
		runSteps(t, c, []step{{"NOOP", []string{"a OK"}}})
	})
	c.t = t
	if r := c.cmd(`LIST "" *`); strings.Contains(strings.Join(r, "\n"), "bad") {
		t.Errorf("a dropped literal ran as a command: %q", r)
	}

	// Before login, a line that is no command ends the session, as an
	// unknown command does; an AUTHENTICATE response is no command.
	c = e.dial(t)
	c.send("\x16\x03\x01\r\n")
	if r := c.until("* BYE"); !strings.HasPrefix(r[0], "* BAD") {
		t.Errorf("S: %q", r)
	}
	c.expectClosed()
	c = e.dial(t)
	c.send("a AUTHENTICATE PLAIN\r\n")
	if l := c.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("S: %q", l)
	}
	c.send("AHRvdG8Ac2VjcmV0\r\n")
	if l := c.line(); !strings.HasPrefix(l, "a OK") {
		t.Errorf("AUTHENTICATE: %q", l)
	}
}

// TestCommandsSeeOthers: FETCH, STORE and SEARCH answer with the flags
// another session set before them, once, and new messages are announced
// after the command; EXPUNGE waits (RFC 9051 §7.5.1).
func TestCommandsSeeOthers(t *testing.T) {
	e := newEnv(t, Config{})
	e.add(t, "toto", "INBOX", msg("one", "x"), msg("two", "y"))
	a := e.dial(t)
	a.login()
	a.cmd("SELECT INBOX")
	b := e.dial(t)
	b.login()
	b.cmd("SELECT INBOX")

	b.cmd(`STORE 1 +FLAGS.SILENT (\Flagged)`)
	if r := a.cmd("FETCH 1 (FLAGS)"); len(r) != 2 || r[0] != `* 1 FETCH (FLAGS (\Flagged))` {
		t.Errorf("FETCH after another session's STORE: %q", r)
	}
	b.cmd(`STORE 2 +FLAGS.SILENT (\Answered)`)
	if r := a.cmd("SEARCH ANSWERED"); r[0] != "* SEARCH 2" || r[1] != `* 2 FETCH (UID 2 FLAGS (\Answered))` {
		t.Errorf("SEARCH after another session's STORE: %q", r)
	}
	b.cmd(`STORE 1 +FLAGS.SILENT (\Seen)`)
	if r := a.cmd(`STORE 1 +FLAGS (\Draft)`); len(r) != 2 || r[0] != `* 1 FETCH (UID 1 FLAGS (\Draft \Flagged \Seen))` {
		t.Errorf("STORE after another session's STORE: %q", r)
	}
	b.cmd(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	b.cmd("EXPUNGE")
	e.add(t, "toto", "INBOX", msg("three", "z"))
	r := a.cmd("FETCH 1:* (UID)")
	if want := []string{"* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)", "* 3 EXISTS"}; len(r) != 4 || !slices.Equal(r[:3], want) {
		t.Errorf("FETCH after an expunge and a delivery: %q, want %q", r, want)
	}
	if r := a.cmd("NOOP"); r[0] != "* 2 EXPUNGE" {
		t.Errorf("NOOP: %q", r)
	}
	if r := a.cmd("FETCH 1:* (UID)"); len(r) != 3 || r[1] != "* 2 FETCH (UID 3)" {
		t.Errorf("FETCH: %q", r)
	}
}

// TestIdleHangUp has clients hang up in IDLE while mail arrives: the
// library ends IDLE on the read error without waiting for the session's
// Idle, then closes the session; no panic and no race (run with -race).
func TestIdleHangUp(t *testing.T) {
	e := newEnv(t, Config{})
	e.add(t, "toto", "INBOX", msg("one", "x"))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			e.st.Append(context.Background(), "toto", "INBOX", strings.NewReader(msg("m", "b")), nil, time.Time{})
		}
	})
	for i := range 100 {
		c := e.dial(t)
		c.login()
		c.cmd("SELECT INBOX")
		c.send("i IDLE\r\n")
		c.until("+ ")
		if i%2 == 0 {
			c.conn.(*net.TCPConn).CloseWrite()
		}
		c.conn.Close()
	}
	close(stop)
	wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for e.srv.openConns() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := e.srv.Panics(); n != 0 {
		t.Errorf("%d sessions panicked", n)
	}
}

// TestStaleSelection checks EXPUNGE, MOVE and CLOSE in a session whose
// selected mailbox was renamed or deleted meanwhile and made again under
// its name: the session ends with BYE and the new mailbox keeps its mail.
func TestStaleSelection(t *testing.T) {
	for _, cmd := range []string{"EXPUNGE", "MOVE 1 Trash", "COPY 1 Trash", "CLOSE"} {
		t.Run(cmd, func(t *testing.T) {
			e := newEnv(t, Config{})
			ctx := context.Background()
			if err := e.st.CreateMailbox(ctx, "toto", "Work"); err != nil {
				t.Fatal(err)
			}
			e.add(t, "toto", "Work", msg("w1", "x"))
			c := e.dial(t)
			c.login()
			c.cmd("SELECT Work")
			if err := e.st.RenameMailbox(ctx, "toto", "Work", "Old"); err != nil {
				t.Fatal(err)
			}
			if err := e.st.CreateMailbox(ctx, "toto", "Work"); err != nil {
				t.Fatal(err)
			}
			uids := e.add(t, "toto", "Work", msg("new", "precious"))
			if _, err := e.st.SetFlags(ctx, "toto", "Work", uids, store.FlagsAdd, []string{`\Deleted`}); err != nil {
				t.Fatal(err)
			}
			c.send("a " + cmd + "\r\n")
			if l := c.line(); !strings.HasPrefix(l, "* BYE") {
				t.Errorf("%s after the mailbox was replaced: %q, want BYE", cmd, l)
			}
			for _, mb := range []string{"Work", "Trash"} {
				n, _ := e.st.Count(ctx, "toto", mb)
				if want := map[string]int{"Work": 1, "Trash": 0}[mb]; n != want {
					t.Errorf("%s through the stale view: %s holds %d messages, want %d", cmd, mb, n, want)
				}
			}
		})
	}
}

// TestIdleRefused checks that an IDLE line the library refuses (a tab
// before CRLF) leaves the next command alone, and that IDLE ends with a
// bare LF as with CRLF.
func TestIdleRefused(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dial(t)
	c.login()
	c.send("a IDLE\t\r\n")
	if l := c.line(); !strings.HasPrefix(l, "a BAD") {
		t.Errorf("IDLE<TAB>: %q, want BAD", l)
	}
	runSteps(t, c, []step{{"NOOP", []string{"a OK"}}})
	c.send("i IDLE\r\n")
	c.until("+ ")
	c.send("DONE\n")
	c.until("i OK")
	runSteps(t, c, []step{{"NOOP", []string{"a OK"}}})
}

// beforeSetFlags runs hook once, before the first SetFlags it passes on.
type beforeSetFlags struct {
	Store
	once sync.Once
	hook func()
}

func (b *beforeSetFlags) SetFlags(ctx context.Context, account, mailbox string, uids []uint32, op FlagOp, flags []string) (uint64, error) {
	b.once.Do(b.hook)
	return b.Store.SetFlags(ctx, account, mailbox, uids, op, flags)
}

// TestSeenRace has another session clear \Flagged just before a FETCH
// BODY[] sets \Seen: the session must end up with the store's flags, not
// keep \Flagged.
func TestSeenRace(t *testing.T) {
	b := &beforeSetFlags{}
	e := newEnvWrapped(t, Config{}, func(s Store) Store { b.Store = s; return b })
	ctx := context.Background()
	uids := e.add(t, "toto", "INBOX", msg("m1", "x"))
	if _, err := e.st.SetFlags(ctx, "toto", "INBOX", uids, store.FlagsAdd, []string{`\Flagged`}); err != nil {
		t.Fatal(err)
	}
	b.hook = func() {
		if _, err := e.st.SetFlags(ctx, "toto", "INBOX", uids, store.FlagsRemove, []string{`\Flagged`}); err != nil {
			t.Error(err)
		}
	}
	c := e.dial(t)
	c.login()
	c.cmd("SELECT INBOX")
	c.cmd("FETCH 1 (BODY[])")
	c.cmd("NOOP")
	runSteps(t, c, []step{{"FETCH 1 (FLAGS)", []string{`* 1 FETCH (FLAGS (\Seen))`, "a OK"}}})
}

// TestShortContent cuts a message's content file (a disk fault) before a
// FETCH BODY[]: the literal's size is on the wire, so the connection is
// closed rather than left waiting, and the server serves the next client.
func TestShortContent(t *testing.T) {
	e := newEnv(t, Config{})
	e.add(t, "toto", "INBOX", msg("one", strings.Repeat("x", 5000)))
	err := filepath.WalkDir(filepath.Join(e.dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			return os.Truncate(p, 100)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c := e.dial(t)
	c.login()
	c.cmd("SELECT INBOX")
	c.send("a FETCH 1 BODY.PEEK[]\r\n")
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadAll(c.r); err != nil {
		t.Errorf("reading until the server closes: %v (want the connection closed)", err)
	}
	d := e.dial(t)
	d.login()
	runSteps(t, d, []step{{"NOOP", []string{"a OK"}}})
}
