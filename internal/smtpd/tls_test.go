package smtpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"facteur/internal/tlsconf"
)

// testTLS is a server TLS configuration with a self-signed certificate.
func testTLS(t *testing.T) *tls.Config {
	t.Helper()
	certs, err := tlsconf.Load(tlsconf.Options{Dir: t.TempDir(), Hostname: "mx.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	return certs.Config()
}

func tlsAuthConfig(t *testing.T) (Config, *fakeAuth) {
	cfg := baseConfig()
	a := &fakeAuth{}
	cfg.TLS, cfg.TLSAuthOnly, cfg.Auth, cfg.AuthOnSMTP, cfg.Senders = testTLS(t), true, a, true, fakeSenders{}
	return cfg, a
}

// startTLS sends STARTTLS, reads its 220 and runs the client handshake.
func (c *client) startTLS() {
	c.t.Helper()
	c.send("STARTTLS")
	c.expect("220 2.0.0 Ready to start TLS")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, ServerName: "mx.example.org"})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("handshake: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}

// ehloLines sends EHLO and returns the keywords.
func (c *client) ehloLines() []string {
	c.t.Helper()
	c.send("EHLO client.example")
	var kw []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("EHLO: %v", err)
		}
		kw = append(kw, strings.TrimSpace(line[4:]))
		if strings.HasPrefix(line, "250 ") {
			return kw[1:]
		}
	}
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestSTARTTLS(t *testing.T) {
	cfg, auth := tlsAuthConfig(t)
	ts := startServer(t, cfg, &fakePolicy{}, &fakeSink{})
	c := newClient(t, ts)
	kw := c.ehloLines()
	if !has(kw, "STARTTLS") || has(kw, "AUTH PLAIN LOGIN") {
		t.Fatalf("EHLO before TLS = %q: want STARTTLS and no AUTH", kw)
	}
	c.startTLS()
	// RFC 3207 §4.2: the EHLO before TLS is forgotten.
	c.send("MAIL FROM:<toto@example.org>")
	c.expect("503 Error: send HELO/EHLO first")
	kw = c.ehloLines()
	if has(kw, "STARTTLS") || !has(kw, "AUTH PLAIN LOGIN") {
		t.Fatalf("EHLO under TLS = %q: want AUTH and no STARTTLS", kw)
	}
	c.send("STARTTLS")
	c.expect("554 5.5.1 Error: TLS already active")
	c.send("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00toto\x00secret")))
	c.expect("235 2.7.0 Authentication successful")
	c.send("MAIL FROM:<toto@example.org>", "RCPT TO:<a@example.org>", "DATA")
	c.expect("250 2.1.0 Ok", "250 2.1.5 Ok", "354 *")
	c.send("Subject: t", "", "x", ".")
	c.expect("250 2.0.0 Ok: queued as *")
	c.send("QUIT")
	c.expect("221 *")
	env := ts.sink.last().env
	if env.Client.Protocol != "ESMTPSA" || env.Client.AuthUser != "toto" || !env.Client.Local ||
		!strings.HasPrefix(env.Client.TLS, "TLS1.3 ") {
		t.Errorf("client = %+v: want ESMTPSA, toto, Local, TLS1.3", env.Client)
	}
	if auth.count() != 1 {
		t.Errorf("%d Authenticate calls, want 1", auth.count())
	}
	ts.stop(t)
	if !anyMatch(ts.log.all(), "*Anonymous TLS connection established from unknown[127.0.0.1]: TLSv1.3 with cipher *") {
		t.Errorf("no TLS log line:\n%s", strings.Join(ts.log.all(), "\n"))
	}
}

// TestSTARTTLSInjection is CVE-2011-0411: a command pipelined after
// STARTTLS in plain text must not be answered under TLS.
func TestSTARTTLSInjection(t *testing.T) {
	cfg, _ := tlsAuthConfig(t)
	ts := startServer(t, cfg, &fakePolicy{}, &fakeSink{})
	c := newClient(t, ts)
	c.ehlo()
	c.send("STARTTLS\r\nRSET")
	c.expect("220 2.0.0 Ready to start TLS")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	c.send("NOOP")
	// The RSET's 250 2.0.0 Ok would come first; NOOP's reply has no
	// enhanced code now that the EHLO is forgotten.
	c.expect("250 Ok")
	c.send("QUIT")
	c.expect("221 *")
	ts.stop(t)
	if !anyMatch(ts.log.all(), "*discarding 6 bytes of plaintext pipelined after STARTTLS*") {
		t.Errorf("no log line about the discarded bytes:\n%s", strings.Join(ts.log.all(), "\n"))
	}
}

// TestHandshakeFaults: a stalled handshake times out and a malformed
// ClientHello ends its session, while another client is served.
func TestHandshakeFaults(t *testing.T) {
	cfg, _ := tlsAuthConfig(t)
	cfg.Timeout = 500 * time.Millisecond
	ts := startServer(t, cfg, &fakePolicy{}, &fakeSink{})

	stalled := newClient(t, ts)
	stalled.send("STARTTLS")
	stalled.expect("220 *")
	bad := newClient(t, ts)
	bad.send("STARTTLS")
	bad.expect("220 *")
	// A TLS record header that announces a handshake, then garbage.
	bad.conn.Write([]byte("\x16\x03\x01\x00\x05garbagegarbage"))

	other := newClient(t, ts)
	other.ehlo()
	other.startTLS()
	other.ehlo()
	other.send("QUIT")
	other.expect("221 *")

	for _, c := range []*client{stalled, bad} {
		c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		// The server closes; a TLS alert may come before the close.
		buf := make([]byte, 64)
		for {
			if _, err := c.conn.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("server did not close the session")
				}
				break
			}
		}
	}
	ts.stop(t)
	logs := ts.log.all()
	if !anyMatch(logs, "*lost connection after STARTTLS from unknown[127.0.0.1]*") {
		t.Errorf("no lost-connection line:\n%s", strings.Join(logs, "\n"))
	}
}

func TestSubmissions(t *testing.T) {
	cfg, _ := tlsAuthConfig(t)
	ts := startServerPort(t, cfg, &fakePolicy{}, &fakeSink{}, PortSubmissions)
	raw, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	c := &client{t: t, conn: tc, r: bufio.NewReader(tc)}
	c.expect("220 *")
	kw := c.ehloLines()
	if has(kw, "STARTTLS") || !has(kw, "AUTH PLAIN LOGIN") {
		t.Fatalf("EHLO on submissions = %q", kw)
	}
	c.send("MAIL FROM:<toto@example.org>")
	c.expect("530 5.7.0 Authentication required")
	c.send("AUTH LOGIN dG90bw==")
	c.expect("334 UGFzc3dvcmQ6")
	c.send("c2VjcmV0")
	c.expect("235 2.7.0 Authentication successful")
	c.send("MAIL FROM:<bob@example.org>")
	c.expect("553 5.7.1 <bob@example.org>: Sender address rejected: not owned by user toto")
	c.send("QUIT")
	c.expect("221 *")
}

// TestAuthLongResponse: RFC 4954 §4, a line over 12288 octets is 500 5.5.6
// and the session goes on.
func TestAuthLongResponse(t *testing.T) {
	cfg, auth := tlsAuthConfig(t)
	ts := startServer(t, cfg, &fakePolicy{}, &fakeSink{})
	c := newClient(t, ts)
	c.ehlo()
	c.startTLS()
	c.ehlo()
	c.send("AUTH PLAIN")
	c.expect("334 ")
	c.send(strings.Repeat("A", 12289))
	c.expect("500 5.5.6 *")
	c.send("AUTH LOGIN")
	c.expect("334 VXNlcm5hbWU6")
	c.send("not base64!")
	c.expect("501 5.5.2 Error: cannot decode response")
	c.send("NOOP")
	c.expect("250 2.0.0 Ok")
	if auth.count() != 0 {
		t.Errorf("%d Authenticate calls, want 0", auth.count())
	}
}

// TestAuthLongInitialResponse: RFC 4954 §4 lets the AUTH command line
// carry up to 12288 octets of initial response; no other command gets
// past the 2048-octet limit.
func TestAuthLongInitialResponse(t *testing.T) {
	cfg, auth := tlsAuthConfig(t)
	ts := startServer(t, cfg, &fakePolicy{}, &fakeSink{})
	c := newClient(t, ts)
	c.ehlo()
	c.startTLS()
	c.ehlo()
	// A 4,000-octet initial response is read and handed to the mechanism
	// (which refuses it: PLAIN's fields are at most 255 octets, RFC 4616
	// §2), not refused as a line too long.
	resp := base64.StdEncoding.EncodeToString([]byte("\x00toto\x00" + strings.Repeat("z", 2990)))
	c.send("AUTH PLAIN " + resp)
	c.expect("501 5.5.2 Error: malformed authentication response")
	if auth.count() != 0 {
		t.Errorf("%d Authenticate calls, want 0", auth.count())
	}
	c.send("NOOP " + strings.Repeat("x", 3000))
	c.expect("500 5.5.2 Error: line too long")
	c.send("NOOP")
	c.expect("250 2.0.0 Ok")
}

// TestAuthPlaintextRefused: on a port that requires TLS for AUTH the
// credentials are never checked.
func TestAuthPlaintextRefused(t *testing.T) {
	cfg, auth := tlsAuthConfig(t)
	ts := startServerPort(t, cfg, &fakePolicy{}, &fakeSink{}, PortSubmission)
	c := newClient(t, ts)
	c.ehlo()
	c.send("AUTH PLAIN AHRvdG8Ac2VjcmV0", "AUTH LOGIN", "MAIL FROM:<toto@example.org>")
	c.expect("538 5.7.11 *", "538 5.7.11 *", "530 5.7.0 Authentication required")
	if auth.count() != 0 {
		t.Errorf("%d Authenticate calls, want 0", auth.count())
	}
}

// TestAuthThrottle: failures from one address are answered after longer
// and longer pauses, then cut off; another address is not affected.
func TestAuthThrottle(t *testing.T) {
	cfg := baseConfig()
	cfg.Auth, cfg.AuthOnSMTP = &fakeAuth{}, true
	cfg.AuthFailureLimit, cfg.AuthFailureDelay = 5, time.Second
	ts := startServer(t, cfg, &fakePolicy{}, &fakeSink{})
	var mu sync.Mutex
	var pauses []time.Duration
	ts.srv.sleep = func(_ context.Context, d time.Duration) {
		mu.Lock()
		pauses = append(pauses, d)
		mu.Unlock()
	}
	wrong := "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00toto\x00wrong"))
	c := newClient(t, ts)
	c.ehlo()
	for range 4 {
		c.send(wrong)
		c.expect("535 5.7.8 Error: authentication failed")
	}
	c.send(wrong)
	c.expect("421 4.7.0 mx.example.org Error: too many failed authentication attempts")
	c.expectClosed()
	// A new session from the same address is cut off at AUTH, at once.
	c = newClient(t, ts)
	c.ehlo()
	c.send("AUTH PLAIN AHRvdG8Ac2VjcmV0")
	c.expect("421 4.7.0 *")
	mu.Lock()
	got := append([]time.Duration(nil), pauses...)
	mu.Unlock()
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second}
	if len(got) != len(want) {
		t.Fatalf("pauses %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pauses %v, want %v", got, want)
		}
	}
	// Another address logs in at once.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	conn, err := d.Dial("tcp", ts.addr)
	if err != nil {
		t.Skipf("no 127.0.0.2: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	o := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	o.expect("220 *")
	o.ehlo()
	o.send("AUTH PLAIN AHRvdG8Ac2VjcmV0")
	o.expect("235 2.7.0 Authentication successful")
}
