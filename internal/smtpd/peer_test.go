package smtpd

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"facteur/internal/dns"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// TestPeerName runs a session per resolver state and checks the name in
// the envelope and in the mail log.
func TestPeerName(t *testing.T) {
	tests := []struct {
		name     string
		fake     *dns.Fake // nil: no resolver
		disabled bool      // PeernameLookup off
		timeout  time.Duration
		want     string // envelope.Client.Name
		warn     string // a warning the log must hold, "" for none
	}{
		{name: "confirmed", fake: &dns.Fake{
			PTR: map[netip.Addr][]string{loopback: {"Client.Example.ORG."}},
			IP:  map[string][]netip.Addr{"client.example.org": {netip.MustParseAddr("2001:db8::1"), loopback}},
		}, want: "Client.Example.ORG"},
		{name: "second PTR name confirmed", fake: &dns.Fake{
			PTR: map[netip.Addr][]string{loopback: {"other.example.", "client.example."}},
			IP: map[string][]netip.Addr{
				"other.example":  {netip.MustParseAddr("192.0.2.7")},
				"client.example": {loopback},
			},
		}, want: "client.example", warn: "*warning: hostname other.example does not resolve to address 127.0.0.1"},
		{name: "forward mismatch", fake: &dns.Fake{
			PTR: map[netip.Addr][]string{loopback: {"forged.example."}},
			IP:  map[string][]netip.Addr{"forged.example": {netip.MustParseAddr("192.0.2.7")}},
		}, warn: "*warning: hostname forged.example does not resolve to address 127.0.0.1"},
		{name: "forward not found", fake: &dns.Fake{
			PTR: map[netip.Addr][]string{loopback: {"dangling.example."}},
		}, warn: "*warning: hostname dangling.example does not resolve to address 127.0.0.1: *not found"},
		{name: "forward temporary failure", fake: &dns.Fake{
			PTR:    map[netip.Addr][]string{loopback: {"client.example."}},
			IP:     map[string][]netip.Addr{"client.example": {loopback}},
			Errors: map[dns.Query]error{{Type: dns.TypeIP, Name: "client.example"}: errors.New("SERVFAIL")},
		}, warn: "*warning: hostname client.example does not resolve to address 127.0.0.1: *temporary failure: SERVFAIL"},
		{name: "numeric PTR", fake: &dns.Fake{
			PTR: map[netip.Addr][]string{loopback: {"127.0.0.1."}},
		}, warn: `*warning: malformed or numeric name "127.0.0.1" in PTR record of 127.0.0.1`},
		{name: "PTR temporary failure", fake: &dns.Fake{
			PTR:    map[netip.Addr][]string{loopback: {"client.example."}},
			IP:     map[string][]netip.Addr{"client.example": {loopback}},
			Errors: map[dns.Query]error{{Type: dns.TypePTR, Name: "127.0.0.1"}: errors.New("SERVFAIL")},
		}},
		{name: "no PTR", fake: &dns.Fake{}},
		{name: "disabled", disabled: true, fake: &dns.Fake{
			PTR: map[netip.Addr][]string{loopback: {"client.example."}},
			IP:  map[string][]netip.Addr{"client.example": {loopback}},
		}},
		{name: "no resolver"},
		{name: "timeout", timeout: 20 * time.Millisecond, fake: &dns.Fake{
			PTR:   map[netip.Addr][]string{loopback: {"client.example."}},
			IP:    map[string][]netip.Addr{"client.example": {loopback}},
			Delay: time.Hour, // only the timeout lets the session go on
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			cfg.PeernameLookup = !tt.disabled
			cfg.PeernameTimeout = tt.timeout
			if tt.fake != nil {
				cfg.Resolver = tt.fake
			}
			ts := startServer(t, cfg, &fakePolicy{}, &fakeSink{})
			sendOne(t, ts)
			ts.stop(t)
			checkPeerName(t, ts, tt.want, tt.warn)
			if tt.disabled && len(tt.fake.Queries()) != 0 {
				t.Errorf("lookups with smtpd_peername_lookup off: %v", tt.fake.Queries())
			}
		})
	}
}

// sendOne sends one message through ts.
func sendOne(t *testing.T, ts *testServer) {
	t.Helper()
	c := newClient(t, ts)
	c.ehlo()
	c.send("MAIL FROM:<a@example.com>", "RCPT TO:<b@example.org>", "DATA")
	c.expect("250 2.1.0 Ok", "250 2.1.5 Ok", "354 *")
	c.send("hi", ".", "QUIT")
	c.expect("250 2.0.0 Ok: queued as *", "221 *")
}

func checkPeerName(t *testing.T, ts *testServer, want, warn string) {
	t.Helper()
	msg := ts.sink.last()
	if msg == nil {
		t.Fatal("nothing queued")
	}
	if got := msg.env.Client.Name; got != want {
		t.Errorf("Client.Name = %q, want %q", got, want)
	}
	logName := want
	if logName == "" {
		logName = "unknown"
	}
	logs := ts.log.all()
	for _, p := range []string{
		"*connect from " + logName + "[127.0.0.1]",
		"*: client=" + logName + "[127.0.0.1]",
		"*disconnect from " + logName + "[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5",
	} {
		if !anyMatch(logs, p) {
			t.Errorf("no log line %q in:\n%s", p, strings.Join(logs, "\n"))
		}
	}
	if warn != "" && !anyMatch(logs, warn) {
		t.Errorf("no warning %q in:\n%s", warn, strings.Join(logs, "\n"))
	}
	if warn == "" && anyMatch(logs, "*warning:*") {
		t.Errorf("unexpected warning in:\n%s", strings.Join(logs, "\n"))
	}
}

func TestValidHostname(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"mail.example.org", true},
		{"MX-1.Example.org", true},
		{"localhost", true},
		{"host_1.example", true},
		{"1host.example", true},
		{"3com.com", true},
		{strings.Repeat("a", 63) + ".example", true},
		{strings.Repeat("a.", 126) + "a", true}, // 253 octets
		{"", false},
		{"127.0.0.1", false},
		{"192.0.2.1.in-addr", true},
		{"example.123", false},
		{"::1", false},
		{"2001:db8::1", false},
		{"-host.example", false},
		{"host-.example", false},
		{"host..example", false},
		{".example", false},
		{"host.example.", false}, // the caller trims the final dot
		{strings.Repeat("a", 64) + ".example", false},
		{strings.Repeat("a.", 127) + "a", false}, // 255 octets
		{"bad host.example", false},
		{"host.example\r\nX: y", false},
		{"hôte.example", false},
	}
	for _, tt := range tests {
		if got := validHostname(tt.name); got != tt.want {
			t.Errorf("validHostname(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// FuzzValidHostname checks that a name taken from a PTR record can never
// carry into the log or the Received field what a host name cannot hold.
func FuzzValidHostname(f *testing.F) {
	for _, s := range []string{"mail.example.org", "127.0.0.1", "a-.b", "x\r\ny", "host_1.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if !validHostname(name) {
			return
		}
		if len(name) > 253 || strings.ContainsAny(name, " \t\r\n\x00[]():;@\\\"") {
			t.Errorf("validHostname(%q): true for a name with a forbidden octet", name)
		}
		if _, err := netip.ParseAddr(name); err == nil {
			t.Errorf("validHostname(%q): true for an address", name)
		}
	})
}
