package systest

import (
	"strings"
	"testing"
	"time"
)

func TestDeliverToLocalMailbox(t *testing.T) {
	s := Start(t, bin)
	s.AddUser("toto", "secret")
	c := dial(t, s.SMTP)
	c.cmd("EHLO client.example", "250 ")
	id := c.send("pascal@example.org", []string{"toto@localhost"}, "Subject: hello\r\n\r\nHello, toto.\r\n")
	c.cmd("QUIT", "221 ")
	s.WaitCount("toto", 1, 20*time.Second)

	msg := s.MustRun("", "mailbox", "cat", "toto", "1")
	for _, want := range []string{
		"Return-Path: <pascal@example.org>\r\n",
		"Delivered-To: ",
		"Received: from client.example (",
		"id " + id,
		"Subject: hello\r\n",
		"\r\n\r\nHello, toto.\r\n",
		"Message-ID: <" + id + ".", // added for a client in mynetworks
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, msg)
		}
	}
	if !strings.HasPrefix(msg, "Return-Path: ") {
		t.Errorf("Return-Path is not the first field:\n%s", msg)
	}
	list := s.MustRun("", "mailbox", "list", "toto")
	if !strings.Contains(list, "hello") {
		t.Errorf("mailbox list does not show the subject:\n%s", list)
	}
	for _, want := range []string{id + ": from=<pascal@example.org>", id + ": to=<toto@localhost>, relay=local", "dsn=2.0.0, status=sent (delivered to mailbox)", id + ": removed"} {
		s.WaitLog(want, 10*time.Second)
	}
}

func TestSubaddressAndSharedLocalDomains(t *testing.T) {
	s := Start(t, bin)
	s.AddUser("petit", "pw")
	c := dial(t, s.SMTP)
	c.cmd("EHLO client.example", "250 ")
	// petit+adieve reaches petit; both local domains reach the same account.
	c.send("a@example.org", []string{"petit+adieve@example.test", "petit@localhost"}, "Subject: x\r\n\r\nbody\r\n")
	s.WaitCount("petit", 2, 20*time.Second)
	c.cmd("MAIL FROM:<a@example.org>", "250 ")
	got := c.cmd("RCPT TO:<nobody@localhost>", "550 5.1.1 ")
	want := "550 5.1.1 <nobody@localhost>: Recipient address rejected: User unknown in local recipient table"
	if got != want {
		t.Errorf("unknown user: got %q, want %q", got, want)
	}
}

func TestRelayDenied(t *testing.T) {
	// Only ::1 is trusted: the test's 127.0.0.1 client is not.
	s := Start(t, bin, "mynetworks = [::1]/128")
	c := dial(t, s.SMTP)
	c.cmd("EHLO client.example", "250 ")
	c.cmd("MAIL FROM:<a@example.org>", "250 ")
	got := c.cmd("RCPT TO:<someone@elsewhere.example>", "554 ")
	if want := "554 5.7.1 <someone@elsewhere.example>: Relay access denied"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRemoteRecipientWaitsInQueue(t *testing.T) {
	s := Start(t, bin)
	c := dial(t, s.SMTP)
	c.cmd("EHLO client.example", "250 ")
	id := c.send("a@example.org", []string{"far@elsewhere.example"}, "Subject: far\r\n\r\nbody\r\n")
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := s.MustRun("", "queue", "list")
		if strings.Contains(out, id) && strings.Contains(out, "far@elsewhere.example") && strings.Contains(out, "deferred") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue list does not show %s deferred:\n%s", id, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	show := s.MustRun("", "queue", "show", id)
	if !strings.Contains(show, "Subject: far") {
		t.Errorf("queue show lacks the message:\n%s", show)
	}
}

func TestSIGTERMExitsCleanly(t *testing.T) {
	s := Start(t, bin)
	c := dial(t, s.SMTP)
	c.cmd("EHLO client.example", "250 ")
	if err := s.Stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, s.Log())
	}
	// The idle session was told the service is closing.
	if got := c.reply(); !strings.HasPrefix(got, "421 ") {
		t.Errorf("idle session got %q at shutdown, want 421", got)
	}
}

func TestSecondServerOnSameDataRefused(t *testing.T) {
	s := Start(t, bin)
	_, err := s.Run("", "serve")
	if err == nil || !strings.Contains(err.Error(), "another facteur is running") {
		t.Fatalf("second serve on the same data_directory: %v", err)
	}
	c := dial(t, s.SMTP) // the first one still serves
	c.cmd("NOOP", "250 ")
}
