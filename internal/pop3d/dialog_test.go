package pop3d

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"facteur/internal/limiter"
)

const (
	msg1 = "From: a@example.org\r\nSubject: one\r\n\r\nline 1\r\n.dotted\r\nline 3\r\n"
	msg2 = "Subject: two\r\n\r\n..two dots\r\n.\r\nend\r\n"
	msg3 = "Subject: three\r\n\r\nbody\r\n"
)

func TestTransaction(t *testing.T) {
	d := newFakeDrops(msg1, msg2, msg3)
	ts := startServer(t, Config{}, d, false, nil)
	c := dial(t, ts)
	c.send("STAT")
	c.expect("-ERR *")
	c.login()
	c.send("STAT", "LIST", "LIST 2", "LIST 4", "UIDL")
	c.expect("+OK 3 " + itoa(len(msg1+msg2+msg3)))
	c.expect("+OK *", "1 "+itoa(len(msg1)), "2 "+itoa(len(msg2)), "3 "+itoa(len(msg3)), ".")
	c.expect("+OK 2 "+itoa(len(msg2)), "-ERR no such message")
	c.expect("+OK *", "1 7.10", "2 7.11", "3 7.12", ".")
	for i, m := range []string{msg1, msg2} {
		c.send("RETR " + itoa(i+1))
		c.expect("+OK " + itoa(len(m)) + " octets")
		if got := c.multi(); got != m {
			t.Errorf("RETR %d = %q, want %q", i+1, got, m)
		}
	}
	c.send("DELE 1", "DELE 1", "RETR 1", "LIST 1", "STAT", "LIST")
	c.expect("+OK *", "-ERR *deleted", "-ERR *deleted", "-ERR *deleted", "+OK 2 "+itoa(len(msg2)+len(msg3)))
	c.expect("+OK *", "2 *", "3 *", ".")
	c.send("RSET", "STAT", "DELE 2", "NOOP", "QUIT")
	c.expect("+OK *", "+OK 3 "+itoa(len(msg1+msg2+msg3)), "+OK *", "+OK", "+OK *1 messages deleted*")
	c.expectClosed()
	if got := d.deleted(); len(got) != 1 || !slices.Equal(got[0], []uint32{11}) {
		t.Errorf("deleted %v, want [[11]]", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestTop(t *testing.T) {
	d := newFakeDrops(msg1, "Subject: no body\r\n")
	ts := startServer(t, Config{}, d, false, nil)
	c := dial(t, ts)
	c.login()
	tests := []struct {
		cmd, want string
	}{
		{"TOP 1 0", "From: a@example.org\r\nSubject: one\r\n\r\n"},
		{"TOP 1 1", "From: a@example.org\r\nSubject: one\r\n\r\nline 1\r\n"},
		{"TOP 1 2", "From: a@example.org\r\nSubject: one\r\n\r\nline 1\r\n.dotted\r\n"},
		{"TOP 1 99", msg1},
		{"TOP 2 5", "Subject: no body\r\n"},
	}
	for _, tt := range tests {
		c.send(tt.cmd)
		c.expect("+OK *")
		if got := c.multi(); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.cmd, got, tt.want)
		}
	}
	c.send("TOP 1", "TOP 1 -1", "TOP 1 x", "TOP 3 1")
	c.expect("-ERR *", "-ERR *", "-ERR *", "-ERR no such message")
}

// TestDroppedConnection: DELE without QUIT deletes nothing, and the
// maildrop is free again.
func TestDroppedConnection(t *testing.T) {
	d := newFakeDrops(msg1, msg2)
	ts := startServer(t, Config{}, d, false, nil)
	c := dial(t, ts)
	c.login()
	c.send("DELE 1", "DELE 2")
	c.expect("+OK *", "+OK *")
	c.conn.Close()
	c = dial(t, ts)
	// The first session's end may not have been seen yet: retry while
	// the maildrop is in use, bounded.
	for i := 0; ; i++ {
		c.send("USER toto", "PASS secret")
		c.expect("+OK *")
		if l := c.line(); strings.HasPrefix(l, "+OK") {
			break
		} else if !strings.HasPrefix(l, "-ERR [IN-USE]") || i == 500 {
			t.Fatalf("login after a dropped connection: %q", l)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.send("STAT")
	c.expect("+OK 2 *")
	if got := d.deleted(); len(got) != 0 {
		t.Errorf("deleted %v after a dropped connection", got)
	}
}

func TestInUse(t *testing.T) {
	ts := startServer(t, Config{}, newFakeDrops(msg1), false, nil)
	a := dial(t, ts)
	a.login()
	b := dial(t, ts)
	b.send("USER TOTO", "PASS secret", "STAT")
	b.expect("+OK *", "-ERR [IN-USE] *", "-ERR *")
	a.send("QUIT")
	a.expect("+OK *")
	a.expectClosed()
	b.login()
	b.send("STAT")
	b.expect("+OK 1 *")
}

func TestAuth(t *testing.T) {
	ts := startServer(t, Config{}, newFakeDrops(msg1), false, nil)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"initial response", []string{"AUTH PLAIN " + b64("\x00toto\x00secret"), "STAT"}, []string{"+OK *", "+OK 1 *"}},
		{"continuation", []string{"AUTH plain", b64("\x00toto\x00secret"), "STAT"}, []string{"+ ", "+OK *", "+OK 1 *"}},
		{"authzid", []string{"AUTH PLAIN " + b64("other\x00toto\x00secret"), "STAT"}, []string{"-ERR [AUTH] *", "-ERR *"}},
		{"self authzid", []string{"AUTH PLAIN " + b64("toto\x00toto\x00secret")}, []string{"+OK *"}},
		{"wrong", []string{"AUTH PLAIN " + b64("\x00toto\x00nope")}, []string{"-ERR [AUTH] authentication failed"}},
		{"cancel", []string{"AUTH PLAIN", "*"}, []string{"+ ", "-ERR authentication cancelled"}},
		{"bad base64", []string{"AUTH PLAIN !!!"}, []string{"-ERR malformed initial response"}},
		{"malformed", []string{"AUTH PLAIN " + b64("toto")}, []string{"-ERR malformed *"}},
		{"unknown mech", []string{"AUTH CRAM-MD5"}, []string{"-ERR unsupported *"}},
		{"list", []string{"AUTH"}, []string{"+OK", "PLAIN", "LOGIN", "."}},
		{"login", []string{"AUTH LOGIN", b64("toto"), b64("secret")}, []string{"+ *", "+ *", "+OK *"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ts)
			c.send(tt.lines...)
			c.expect(tt.want...)
			c.send("QUIT")
			c.expect("+OK *")
		})
	}
}

func TestCapa(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		remote   net.Addr
		has, not []string
	}{
		{"plain", Config{}, nil, []string{"USER", "SASL PLAIN LOGIN", "UIDL", "TOP", "RESP-CODES", "PIPELINING"}, []string{"STLS"}},
		{"tls", Config{TLS: testTLS(t)}, nil, []string{"STLS", "USER"}, nil},
		{"loopback only, remote", Config{TLS: testTLS(t), PlaintextLoopbackOnly: true},
			&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 1234}, []string{"STLS"}, []string{"USER", "SASL PLAIN LOGIN"}},
		{"loopback only, local", Config{PlaintextLoopbackOnly: true}, nil, []string{"USER"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.cfg, newFakeDrops(), false, tt.remote)
			c := dial(t, ts)
			c.send("CAPA")
			c.expect("+OK *")
			caps := strings.Split(strings.TrimSuffix(c.multi(), "\r\n"), "\r\n")
			for _, h := range tt.has {
				if !slices.Contains(caps, h) {
					t.Errorf("CAPA %q lacks %q", caps, h)
				}
			}
			for _, n := range tt.not {
				if slices.Contains(caps, n) {
					t.Errorf("CAPA %q has %q", caps, n)
				}
			}
		})
	}
}

// TestPlaintextRefused: with PlaintextLoopbackOnly, a remote client gets
// [AUTH] before TLS and logs in after STLS.
func TestPlaintextRefused(t *testing.T) {
	cfg := Config{TLS: testTLS(t), PlaintextLoopbackOnly: true}
	ts := startServer(t, cfg, newFakeDrops(msg1), false, &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 1234})
	c := dial(t, ts)
	c.send("USER toto", "PASS secret", "AUTH PLAIN AHRvdG8Ac2VjcmV0")
	c.expect("-ERR [AUTH] Plaintext *", "-ERR send USER first", "-ERR [AUTH] Plaintext *")
	c.startTLS()
	c.login()
	c.send("STAT", "STLS")
	c.expect("+OK 1 *", "-ERR *")
}

func (c *client) startTLS() {
	c.t.Helper()
	c.send("STLS")
	c.expect("+OK *")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

// TestSTLSInjection: commands pipelined after STLS in plain text end the
// session instead of running under TLS.
func TestSTLSInjection(t *testing.T) {
	ts := startServer(t, Config{TLS: testTLS(t)}, newFakeDrops(msg1), false, nil)
	c := dial(t, ts)
	c.send("STLS", "USER toto")
	c.expect("+OK *")
	c.expectClosed()
}

func TestImplicitTLS(t *testing.T) {
	ts := startServer(t, Config{TLS: testTLS(t)}, newFakeDrops(msg1), true, nil)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ts.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("+OK *")
	c.send("CAPA")
	c.expect("+OK *")
	if caps := c.multi(); strings.Contains(caps, "STLS") {
		t.Errorf("STLS offered under TLS: %q", caps)
	}
	c.login()
	c.send("RETR 1")
	c.expect("+OK *")
	if got := c.multi(); got != msg1 {
		t.Errorf("RETR = %q", got)
	}
}

// TestThrottle: failures from one address are cut off at the limit; the
// next session from there is refused before its password is checked.
func TestThrottle(t *testing.T) {
	cfg := Config{Failures: limiter.New(3, time.Hour, time.Now), FailureDelay: time.Second}
	remote := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}
	ts := startServer(t, cfg, newFakeDrops(msg1), false, remote)
	var mu sync.Mutex
	var pauses []time.Duration
	ts.srv.sleep = func(_ context.Context, d time.Duration) {
		mu.Lock()
		pauses = append(pauses, d)
		mu.Unlock()
	}
	c := dial(t, ts)
	for range 2 {
		c.send("USER toto", "PASS wrong")
		c.expect("+OK *", "-ERR [AUTH] authentication failed")
	}
	c.send("USER toto", "PASS wrong")
	c.expect("+OK *", "-ERR [AUTH] too many failed logins*")
	c.expectClosed()
	c = dial(t, ts)
	c.send("USER toto")
	c.expect("-ERR [AUTH] too many failed logins*")
	c.expectClosed()
	mu.Lock()
	defer mu.Unlock()
	if want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}; !slices.Equal(pauses, want) {
		t.Errorf("pauses %v, want %v", pauses, want)
	}
}

func TestBadInput(t *testing.T) {
	d := newFakeDrops(msg1)
	ts := startServer(t, Config{}, d, false, nil)
	c := dial(t, ts)
	c.send("", "FROB", "RETR 1", "X", "LISTING", "USER", "PASS x", "user toto\x01", "NOOP")
	c.expect("-ERR empty command", "-ERR unknown command FROB", "-ERR RETR not allowed *", "-ERR malformed *",
		"-ERR malformed *", "-ERR USER takes one argument", "-ERR send USER first", "-ERR control character *",
		"-ERR NOOP not allowed *")
	c.send(strings.Repeat("A", maxLine+10), "CAPA")
	c.expect("-ERR line too long", "+OK *")
	c.multi()
	c.login()
	c.send("RETR 0", "RETR -1", "RETR abc", "RETR 99999999999", "RETR 2", "DELE", "LIST 1 2", "STAT 1", "USER toto", "STLS")
	c.expect("-ERR invalid *", "-ERR invalid *", "-ERR invalid *", "-ERR invalid *", "-ERR no such message",
		"-ERR DELE takes one argument", "-ERR LIST takes *", "-ERR STAT takes *", "-ERR USER not allowed *", "-ERR STLS not allowed *")
	for range maxErrors - 19 {
		c.send("FROB")
	}
	c.expect("-ERR too many bad commands, closing")
	c.expectClosed()
	if len(d.deleted()) != 0 {
		t.Error("a closed session deleted mail")
	}
}

func TestStoreFailure(t *testing.T) {
	d := newFakeDrops(msg1)
	d.failing = true
	ts := startServer(t, Config{}, d, false, nil)
	c := dial(t, ts)
	c.send("USER toto", "PASS secret", "STAT")
	c.expect("+OK *", "-ERR [SYS/TEMP] *", "-ERR *")
	d.mu.Lock()
	d.failing = false
	d.mu.Unlock()
	c.login() // the failed login released the maildrop
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, Config{Timeout: 50 * time.Millisecond}, newFakeDrops(msg1), false, nil)
	c := dial(t, ts)
	c.expectClosed()
}
