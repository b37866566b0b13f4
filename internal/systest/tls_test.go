package systest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startSecure starts facteur with the submission listeners on ephemeral
// ports and returns it with their addresses.
func startSecure(t *testing.T, extra ...string) (s *System, submission, submissions string) {
	t.Helper()
	conf := append([]string{
		"submission_listen = 127.0.0.1:0",
		"submissions_listen = 127.0.0.1:0",
	}, extra...)
	s = Start(t, bin, conf...)
	return s, listenAddr(t, s, "submission"), listenAddr(t, s, "submissions")
}

// listenAddr finds "NAME on ADDR" in the start-up line.
func listenAddr(t *testing.T, s *System, name string) string {
	t.Helper()
	m := regexp.MustCompile(`\b` + name + ` on ([0-9.:]+)`).FindStringSubmatch(s.Log())
	if m == nil {
		t.Fatalf("no %q listener announced:\n%s", name, s.Log())
	}
	return m[1]
}

// startTLS sends STARTTLS on cn and replaces its connection by TLS.
func (cn *conn) startTLS() *tls.ConnectionState {
	cn.t.Helper()
	cn.cmd("STARTTLS", "220 ")
	tc := tls.Client(cn.c, &tls.Config{InsecureSkipVerify: true})
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		cn.t.Fatalf("TLS handshake: %v", err)
	}
	tc.SetDeadline(time.Time{})
	cn.c, cn.br = tc, bufio.NewReader(tc)
	st := tc.ConnectionState()
	return &st
}

// dialTLS connects with implicit TLS (submissions) and reads the greeting.
func dialTLS(t *testing.T, addr string) *conn {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cn := &conn{t: t, c: c, br: bufio.NewReader(c)}
	cn.expect("220 ")
	return cn
}

// ehloKeywords sends EHLO and returns its keyword lines.
func (cn *conn) ehloKeywords() []string {
	cn.t.Helper()
	fmt.Fprintf(cn.c, "EHLO client.example\r\n")
	cn.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var kw []string
	for {
		line, err := cn.br.ReadString('\n')
		if err != nil {
			cn.t.Fatalf("EHLO: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if !strings.HasPrefix(line, "250") {
			cn.t.Fatalf("EHLO: %q", line)
		}
		kw = append(kw, line[4:])
		if line[3] == ' ' {
			return kw[1:]
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestSTARTTLSPort25 receives mail over STARTTLS on port 25 and checks the
// Received field (RFC 3848 ESMTPS, the TLS comment) and the self-signed
// certificate made on first start.
func TestSTARTTLSPort25(t *testing.T) {
	s := Start(t, bin)
	s.AddUser("toto", "pw")
	cn := dial(t, s.SMTP)
	if kw := cn.ehloKeywords(); !contains(kw, "STARTTLS") || contains(kw, "AUTH PLAIN LOGIN") {
		t.Fatalf("EHLO = %q: want STARTTLS, no AUTH on port 25", kw)
	}
	st := cn.startTLS()
	if cert := st.PeerCertificates[0]; cert.Subject.CommonName != "mail.example.test" {
		t.Errorf("certificate for %q, want the self-signed one for myhostname", cert.Subject.CommonName)
	}
	if kw := cn.ehloKeywords(); contains(kw, "STARTTLS") {
		t.Errorf("EHLO under TLS offers STARTTLS again: %q", kw)
	}
	cn.send("someone@example.org", []string{"toto@localhost"}, "Subject: tls\r\n\r\nhi\r\n")
	s.WaitCount("toto", 1, 20*time.Second)
	msg := s.MustRun("", "mailbox", "cat", "toto", "1")
	if !regexp.MustCompile(`\(using TLSv1\.3 with cipher \S+ \(\d+/\d+ bits\)\)\r?\n\s+by mail\.example\.test \(facteur\) with ESMTPS id`).MatchString(msg) {
		t.Errorf("Received lacks ESMTPS and the TLS comment:\n%s", msg)
	}
	if !strings.Contains(s.Log(), "self-signed") {
		t.Errorf("no log line about the self-signed certificate:\n%s", s.Log())
	}
}

// TestSTARTTLSInjectionSystem: "STARTTLS\r\nRSET\r\n" in one write; the
// RSET, sent in plain text, is never answered (CVE-2011-0411).
func TestSTARTTLSInjectionSystem(t *testing.T) {
	s := Start(t, bin)
	cn := dial(t, s.SMTP)
	cn.cmd("EHLO client.example", "250 ")
	fmt.Fprintf(cn.c, "STARTTLS\r\nRSET\r\n")
	cn.expect("220 2.0.0 ")
	tc := tls.Client(cn.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	cn.c, cn.br = tc, bufio.NewReader(tc)
	// Without ENHANCEDSTATUSCODES (the EHLO is forgotten), NOOP is "250
	// Ok"; the RSET's reply would be there first.
	cn.cmd("NOOP", "250 Ok")
	cn.cmd("QUIT", "221 ")
}

// TestTLSHandshakeFaults: a client that stalls in the handshake is cut at
// smtpd_timeout, one that sends a malformed ClientHello at once, and
// others are served meanwhile.
func TestTLSHandshakeFaults(t *testing.T) {
	s, _, submissions := startSecure(t, "smtpd_timeout = 2s")
	s.AddUser("toto", "pw")
	stalled := dial(t, s.SMTP)
	stalled.cmd("STARTTLS", "220 ")
	raw, err := net.DialTimeout("tcp", submissions, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.Write([]byte("\x16\x03\x01\x00\x05hello, not TLS\r\n"))

	ok := dial(t, s.SMTP)
	ok.startTLS()
	ok.cmd("EHLO client.example", "250 ")
	ok.send("a@example.org", []string{"toto@localhost"}, "Subject: meanwhile\r\n\r\nx\r\n")

	for _, c := range []net.Conn{stalled.c, raw} {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		buf := make([]byte, 256)
		for {
			_, err := c.Read(buf)
			if err == nil {
				continue
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept a broken handshake open")
			}
			break
		}
	}
	s.WaitLog("lost connection after STARTTLS", 10*time.Second)
	s.WaitLog("lost connection after CONNECT", 10*time.Second)
}

// TestSubmissionsImplicitTLS speaks TLS from the first octet on the
// submissions port (RFC 8314), where AUTH comes before MAIL.
func TestSubmissionsImplicitTLS(t *testing.T) {
	s, _, submissions := startSecure(t)
	s.AddUser("toto", "pw")
	cn := dialTLS(t, submissions)
	kw := cn.ehloKeywords()
	if contains(kw, "STARTTLS") || !contains(kw, "AUTH PLAIN LOGIN") {
		t.Fatalf("EHLO on submissions = %q", kw)
	}
	cn.cmd("MAIL FROM:<toto@localhost>", "530 5.7.0 Authentication required")
	cn.cmd("AUTH PLAIN AHRvdG8AcHc=", "235 2.7.0 ")
	cn.send("toto@localhost", []string{"toto@localhost"}, "Subject: 465\r\n\r\nx\r\n")
	s.WaitCount("toto", 1, 20*time.Second)
	msg := s.MustRun("", "mailbox", "cat", "toto", "1")
	if !strings.Contains(msg, "with ESMTPSA id") || !strings.Contains(msg, "Message-ID: <") || !strings.Contains(msg, "\nDate: ") {
		t.Errorf("want ESMTPSA and the added Message-ID and Date:\n%s", msg)
	}
}

// TestSIGHUPReload replaces the self-signed certificate and sends SIGHUP:
// a session open across the reload goes on, new handshakes get the new
// certificate.
func TestSIGHUPReload(t *testing.T) {
	s := Start(t, bin)
	before := dial(t, s.SMTP)
	before.cmd("EHLO client.example", "250 ")
	old := before.startTLS().PeerCertificates[0].SerialNumber

	// A missing self-signed pair is made again at the reload.
	for _, f := range []string{"cert.pem", "key.pem"} {
		if err := os.Remove(filepath.Join(s.Dir, "tls", f)); err != nil {
			t.Fatal(err)
		}
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.WaitLog("reload: TLS certificate", 10*time.Second)

	after := dial(t, s.SMTP)
	after.cmd("EHLO client.example", "250 ")
	if now := after.startTLS().PeerCertificates[0].SerialNumber; now.Cmp(old) == 0 {
		t.Errorf("certificate not reloaded: serial %v", now)
	}
	before.cmd("EHLO client.example", "250 ")
	before.cmd("QUIT", "221 ")
}

// TestPythonSTARTTLS runs STARTTLS and AUTH with Python's smtplib.
func TestPythonSTARTTLS(t *testing.T) {
	py := need(t, "python3")
	s, submission, _ := startSecure(t)
	s.AddUser("py", "pw")
	host, port, _ := strings.Cut(submission, ":")
	script := `
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=30) as s:
    s.ehlo("python.example")
    assert s.has_extn("starttls") and not s.has_extn("auth"), s.esmtp_features
    s.starttls(context=ctx)
    s.ehlo("python.example")
    assert not s.has_extn("starttls") and "PLAIN" in s.esmtp_features["auth"], s.esmtp_features
    try:
        s.login("py", "wrong")
        sys.exit("wrong password accepted")
    except smtplib.SMTPAuthenticationError as e:
        assert e.smtp_code == 535, e
    s.login("py", "pw")
    s.sendmail("py@localhost", ["py@localhost"], "From: py@localhost\r\nSubject: smtplib tls\r\n\r\nx\r\n")
print("ok")
`
	out, err := exec.Command(py, "-c", script, host, port).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	s.WaitCount("py", 1, 20*time.Second)
}
