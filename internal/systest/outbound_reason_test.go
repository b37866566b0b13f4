package systest

import (
	"strings"
	"testing"
)

// TestOutboundLocalFailureReason: a failure decided without a next hop's
// reply tells the sender why, in the notice's text.
func TestOutboundLocalFailureReason(t *testing.T) {
	t.Parallel()
	_, port := startRemote(t)
	d := remoteDNS(t)
	d.MX("null.test", 0, ".")
	d.MX("loop.test", 10, "mx.loop.test")
	d.A("mx.loop.test", "127.0.0.1") // A itself
	a := startSender(t, d, port)
	cases := []struct{ account, rcpt, text string }{
		{"nullmx", "x@null.test", "does not accept mail (null MX)"},
		{"nx", "x@nxdomain.test", "Host or domain name not found"},
		{"loop", "x@loop.test", "loops back to myself"},
	}
	for _, c := range cases {
		a.AddUser(c.account, "pw")
	}
	for _, c := range cases {
		id := submit(t, a, c.account+"@example.test", []string{c.rcpt}, "Subject: why\r\n\r\nx\r\n")
		if n := settled(t, a, id); len(n) != 1 {
			t.Fatalf("%s: notices for %s: %v, want one", c.rcpt, id, n)
		}
		n := readNotice(t, a, c.account, 1)
		if !strings.Contains(n.Text, c.text) {
			t.Errorf("%s: the notice's text does not say %q:\n%s", c.rcpt, c.text, n.Text)
		}
	}
}
