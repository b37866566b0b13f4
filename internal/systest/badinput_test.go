package systest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestBadClientsDoNotStopOthers runs misbehaving clients side by side
// with a good one: each bad one gets its RFC reply, and the good one's
// mail is delivered meanwhile.
func TestBadClientsDoNotStopOthers(t *testing.T) {
	s := Start(t, bin, "smtpd_timeout = 3s", "message_size_limit = 100000", "smtpd_recipient_limit = 100")
	s.AddUser("toto", "pw")

	// A DATA that never ends: 421 after smtpd_timeout.
	stall := dial(t, s.SMTP)
	stall.cmd("EHLO stall.example", "250 ")
	stall.cmd("MAIL FROM:<a@example.org>", "250 ")
	stall.cmd("RCPT TO:<toto@localhost>", "250 ")
	stall.cmd("DATA", "354 ")
	fmt.Fprintf(stall.c, "Subject: never ends\r\n\r\nstill writing")

	// Garbage and NUL bytes, and an over-long line.
	junk := dial(t, s.SMTP)
	junk.cmd("EHLO junk.example", "250 ")
	junk.cmd("\x00\x01\x02 garbage\x00", "500 5.5.2 ")
	junk.cmd(strings.Repeat("A", 5000), "500 5.5.2 ")
	junk.cmd("NOOP", "250 ")

	// Ten thousand recipients: the first 100 accepted, then 452 4.5.3;
	// past Postfix's overshoot of 1,000 each excess one counts as an
	// error, and the hard error limit ends the session with 421.
	many := dial(t, s.SMTP)
	many.cmd("EHLO many.example", "250 ")
	many.cmd("MAIL FROM:<a@example.org>", "250 ")
	var b strings.Builder
	for i := 0; i < 10000; i++ {
		b.WriteString("RCPT TO:<toto@localhost>\r\n")
	}
	go fmt.Fprint(many.c, b.String())
	for i := 0; ; i++ {
		got := many.reply()
		switch {
		case i < 100 && strings.HasPrefix(got, "250 "):
		case i >= 100 && strings.HasPrefix(got, "452 4.5.3 "):
		case i >= 1100 && strings.HasPrefix(got, "421 4.7.0 "):
		default:
			t.Fatalf("RCPT %d got %q", i+1, got)
		}
		if strings.HasPrefix(got, "421") {
			break
		}
	}

	// A message over message_size_limit: 552 5.3.4, nothing queued.
	big := dial(t, s.SMTP)
	big.cmd("EHLO big.example", "250 ")
	big.cmd("MAIL FROM:<a@example.org>", "250 ")
	big.cmd("RCPT TO:<toto@localhost>", "250 ")
	big.cmd("DATA", "354 ")
	fmt.Fprintf(big.c, "Subject: big\r\n\r\n%s\r\n.\r\n", strings.Repeat(strings.Repeat("x", 998)+"\r\n", 150))
	big.expect("552 5.3.4 ")

	// Meanwhile a good client is served.
	good := dial(t, s.SMTP)
	good.cmd("EHLO good.example", "250 ")
	good.send("a@example.org", []string{"toto@localhost"}, "Subject: good\r\n\r\nfine\r\n")
	s.WaitCount("toto", 1, 20*time.Second)

	got := stall.reply()
	if !strings.HasPrefix(got, "421 4.4.2 ") {
		t.Errorf("stalled DATA got %q, want 421 4.4.2", got)
	}
	if n := s.Count("toto"); n != 1 {
		t.Errorf("toto has %d messages, want only the good one", n)
	}
}

// TestNoDiskSpace: with less free disk than 1.5 × message_size_limit,
// MAIL gets 452 4.3.1 (the limit here is larger than any disk).
func TestNoDiskSpace(t *testing.T) {
	s := Start(t, bin, "message_size_limit = 1000000000000000")
	c := dial(t, s.SMTP)
	c.cmd("EHLO client.example", "250 ")
	c.cmd("MAIL FROM:<a@example.org>", "452 4.3.1 ")
}
