package systest

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// dialFrom connects from a chosen loopback address and reads the greeting.
func dialFrom(t *testing.T, local, addr string) *conn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot dial from %s: %v", local, err)
	}
	t.Cleanup(func() { c.Close() })
	cn := &conn{t: t, c: c, br: bufio.NewReader(c)}
	cn.expect("220 ")
	return cn
}

// TestAuthBruteForce: 1,000 wrong passwords from one address are answered
// with 535 (after longer and longer pauses, smtpd_auth_failure_delay times
// the failures so far: 1s, 2s, then 3s before the 421) until the limit,
// then with 421 and a disconnection, and from then on at once without a
// password check; another address logs in meanwhile. The small limit keeps
// the wall time short; smtpd's unit test checks the pauses themselves.
func TestAuthBruteForce(t *testing.T) {
	s := Start(t, bin, "smtpd_sasl_auth_enable = yes", "smtpd_tls_auth_only = no",
		"smtpd_peername_lookup = no", "smtpd_auth_failure_limit = 3",
		"smtpd_auth_failure_delay = 1s", "smtpd_client_connection_count_limit = 0")
	s.AddUser("toto", "pw")
	wrong := "AUTH PLAIN AHRvdG8Ad3Jvbmc=" // \0toto\0wrong
	var failed, cut, sessions int
	for attempts := 0; attempts < 1000; {
		cn := dialFrom(t, "127.0.0.1", s.SMTP)
		sessions++
		cn.cmd("EHLO attacker.example", "250 ")
		for attempts < 1000 {
			attempts++
			fmt.Fprintf(cn.c, "%s\r\n", wrong)
			got := cn.reply()
			if strings.HasPrefix(got, "535 5.7.8 ") {
				failed++
				continue
			}
			if !strings.HasPrefix(got, "421 4.7.0 ") {
				t.Fatalf("attempt %d: %q", attempts, got)
			}
			cut++
			break
		}
		cn.c.Close()
	}
	if failed != 2 || cut != 1000-2 {
		t.Errorf("%d refused with 535, %d cut off with 421; want 2 and 998", failed, cut)
	}
	other := dialFrom(t, "127.0.0.2", s.SMTP)
	other.cmd("EHLO friend.example", "250 ")
	other.cmd("AUTH PLAIN AHRvdG8AcHc=", "235 2.7.0 ")
	s.WaitLog("sasl_method=PLAIN, sasl_username=toto", 10*time.Second)
	// Only the attempts within the limit reached the password check.
	if n := strings.Count(s.Log(), "SASL PLAIN authentication failed"); n != 3 {
		t.Errorf("%d failed checks logged, want 3", n)
	}
	if strings.Contains(s.Log(), "wrong") {
		t.Errorf("a password reached the log:\n%s", s.Log())
	}
}

// TestAuthBadInput: bad base64, "*", an over-long response, unknown user
// and wrong password each get their reply, and the session goes on.
func TestAuthBadInput(t *testing.T) {
	s, submission, _ := startSecure(t, "smtpd_peername_lookup = no")
	s.AddUser("toto", "pw")
	plain := dial(t, submission)
	plain.cmd("EHLO client.example", "250 ")
	// Credentials in plain text where TLS is required: refused before
	// they are checked (no failure is logged, none is counted).
	plain.cmd("AUTH PLAIN AHRvdG8AcHc=", "538 5.7.11 ")
	plain.cmd("AUTH LOGIN", "538 5.7.11 ")
	plain.cmd("MAIL FROM:<toto@localhost>", "530 5.7.0 Authentication required")

	cn := dial(t, submission)
	cn.cmd("EHLO client.example", "250 ")
	cn.startTLS()
	cn.cmd("EHLO client.example", "250 ")
	cn.cmd("AUTH PLAIN @@@not-base64", "501 5.5.2 ")
	cn.cmd("AUTH PLAIN", "334 ")
	cn.cmd("*", "501 ")
	cn.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
	cn.cmd(strings.Repeat("QUFB", 3100), "500 5.5.6 ")
	cn.cmd("AUTH XOAUTH2", "504 5.5.4 ")
	unknown := cn.cmd("AUTH PLAIN AG5vYm9keQBwdw==", "535 5.7.8 ") // \0nobody\0pw
	wrongPw := cn.cmd("AUTH PLAIN AHRvdG8Ad3Jvbmc=", "535 5.7.8 ")
	if unknown != wrongPw {
		t.Errorf("unknown user %q and wrong password %q differ", unknown, wrongPw)
	}
	cn.cmd("AUTH PLAIN AHRvdG8AcHc=", "235 2.7.0 ")
	cn.cmd("AUTH PLAIN AHRvdG8AcHc=", "503 5.5.1 ")
	cn.cmd("QUIT", "221 ")
	s.WaitLog("sasl_username=toto", 10*time.Second)
	if n := strings.Count(s.Log(), "authentication failed"); n != 2 {
		t.Errorf("%d failed checks logged, want 2 (the plain-text ones are not checked)\n%s", n, s.Log())
	}
}
