package systest

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// authed opens a submission session under TLS, authenticated as toto.
func authed(t *testing.T, addr string) *conn {
	t.Helper()
	cn := dial(t, addr)
	cn.cmd("EHLO client.example", "250 ")
	cn.startTLS()
	cn.cmd("EHLO client.example", "250 ")
	cn.cmd("AUTH PLAIN AHRvdG8AcHc=", "235 2.7.0 ")
	return cn
}

// TestSubmissionSenders: MAIL FROM and From must be the account's own
// addresses (its name in each local domain, an alias that leads only to
// it, smtpd_sender_login_maps), else 553 5.7.1, the From refusal at the end
// of DATA.
func TestSubmissionSenders(t *testing.T) {
	s, submission, _ := startSecure(t,
		"smtpd_sender_login_maps = inline:{ boss@example.org=toto }",
		"smtpd_received_hide_client = yes")
	s.AddUser("toto", "pw")
	s.AddUser("bob", "pw2")
	cn := authed(t, submission)
	cn.cmd("MAIL FROM:<bob@localhost>", "553 5.7.1 <bob@localhost>: Sender address rejected: not owned by user toto")
	for _, from := range []string{"toto@localhost", "toto@example.test", "boss@example.org"} {
		cn.send(from, []string{"bob@localhost"}, "From: <"+from+">\r\nSubject: as "+from+"\r\n\r\nx\r\n")
	}
	cn.cmd("MAIL FROM:<toto@localhost>", "250 ")
	cn.cmd("RCPT TO:<bob@localhost>", "250 ")
	cn.cmd("DATA", "354 ")
	fmt.Fprintf(cn.c, "From: Bob <bob@localhost>\r\nSubject: forged\r\n\r\nx\r\n.\r\n")
	cn.expect("553 5.7.1 <bob@localhost>: Sender address rejected: not owned by user toto")
	cn.cmd("QUIT", "221 ")
	s.WaitCount("bob", 3, 20*time.Second)
	for i := 1; i <= 3; i++ {
		msg := s.MustRun("", "mailbox", "cat", "bob", fmt.Sprint(i))
		if strings.Contains(msg, "forged") {
			t.Errorf("the forged message was delivered:\n%s", msg)
		}
		// smtpd_received_hide_client: no client address in Received.
		if strings.Contains(msg, "127.0.0.1") || !strings.Contains(msg, "with ESMTPSA id") {
			t.Errorf("Received shows the client or lacks ESMTPSA:\n%s", msg)
		}
	}
}

// TestSwaksSubmission: swaks --tls --auth PLAIN against submission.
func TestSwaksSubmission(t *testing.T) {
	swaks := need(t, "swaks")
	s, submission, _ := startSecure(t)
	s.AddUser("toto", "pw")
	out, err := exec.Command(swaks, "--server", submission, "--tls", "--auth", "PLAIN",
		"--auth-user", "toto", "--auth-password", "pw",
		"--from", "toto@localhost", "--to", "toto@localhost",
		"--header", "Subject: via swaks tls").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "235 2.7.0") || !strings.Contains(string(out), "Ok: queued as") {
		t.Errorf("swaks transcript lacks AUTH or the queued reply:\n%s", out)
	}
	s.WaitCount("toto", 1, 20*time.Second)
	msg := s.MustRun("", "mailbox", "cat", "toto", "1")
	if !strings.Contains(msg, "Subject: via swaks tls") || !strings.Contains(msg, "with ESMTPSA id") {
		t.Errorf("delivered message:\n%s", msg)
	}
}
