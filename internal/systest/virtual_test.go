package systest

import (
	"strings"
	"testing"
	"time"
)

// TestVirtualDomains delivers to an account of a virtual mailbox domain,
// through a virtual alias domain, and refuses unknown addresses in both
// with the table named; soft_bounce is off.
func TestVirtualDomains(t *testing.T) {
	s := Start(t, bin,
		"virtual_mailbox_domains = example.org",
		"virtual_alias_domains = alias.example",
		"virtual_alias_maps = inline:{ jean@alias.example=bob@example.org }")
	s.AddUser("bob@example.org", "pw")
	c := dial(t, s.SMTP)
	c.cmd("EHLO client.example", "250 ")
	c.send("a@example.net", []string{"bob@example.org"}, "Subject: direct\r\n\r\nx\r\n")
	c.send("a@example.net", []string{"jean@alias.example"}, "Subject: through an alias\r\n\r\nx\r\n")
	s.WaitCount("bob@example.org", 2, 20*time.Second)

	c.cmd("MAIL FROM:<a@example.net>", "250 ")
	for rcpt, table := range map[string]string{
		"nobody@example.org":   "virtual mailbox table",
		"nobody@alias.example": "virtual alias table",
	} {
		got := c.cmd("RCPT TO:<"+rcpt+">", "550 5.1.1 ")
		if !strings.HasSuffix(got, "User unknown in "+table) {
			t.Errorf("RCPT %s got %q", rcpt, got)
		}
	}
}

// TestSoftBounce turns refusals into temporary ones, as Postfix does.
func TestSoftBounce(t *testing.T) {
	s := Start(t, bin, "soft_bounce = yes", "mynetworks = [::1]/128")
	c := dial(t, s.SMTP)
	c.cmd("EHLO client.example", "250 ")
	c.cmd("MAIL FROM:<a@example.net>", "250 ")
	c.cmd("RCPT TO:<nobody@localhost>", "450 4.1.1 ")
	c.cmd("RCPT TO:<x@elsewhere.example>", "454 4.7.1 ")
}
