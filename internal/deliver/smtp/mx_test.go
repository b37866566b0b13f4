package smtp

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"facteur/internal/config"
	"facteur/internal/dns"
	"facteur/internal/queue"
)

// refusingPort returns a loopback port on which nothing listens.
func refusingPort(t *testing.T, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return p
}

func TestMXOrderAndFallback(t *testing.T) {
	checkGoroutines(t)
	// mx1 (127.0.0.1) refuses: the port is closed there; mx2 and mx3
	// listen on the same port at 127.0.0.2 and .3.
	sinks := newSinks(t, sinkConfig{}, sinkConfig{}, sinkConfig{})
	sinks[0].close()
	f := mxFake(sinks...)
	c := newClient(t, testOptions(f, port(sinks[1])))
	got := deliver(t, c, testMessage(testBody), rcpts("bob@example.org"))
	wantResult(t, 0, got[0], queue.Delivered, "2.0.0", "queued as",
		"mx2.example.org[127.0.0.2]:"+strconv.Itoa(port(sinks[1])))
	if n := len(sinks[1].messages()); n != 1 {
		t.Errorf("mx2 got %d messages, want 1", n)
	}
	if n := len(sinks[2].connections()); n != 0 {
		t.Errorf("mx3 got %d connections, want none", n)
	}
	wantQ := []dns.Query{{Type: dns.TypeMX, Name: "example.org"}, {Type: dns.TypeIP, Name: "mx1.example.org"},
		{Type: dns.TypeIP, Name: "mx2.example.org"}, {Type: dns.TypeIP, Name: "mx3.example.org"}}
	if diff := cmp.Diff(wantQ, f.Queries()); diff != "" {
		t.Errorf("DNS queries (-want +got):\n%s", diff)
	}
}

func TestAllMXRefuse(t *testing.T) {
	checkGoroutines(t)
	f := &dns.Fake{
		MX: map[string][]*net.MX{"example.org": {{Host: "mx1.example.org", Pref: 10}}},
		IP: map[string][]netip.Addr{"mx1.example.org": {netip.MustParseAddr("127.0.0.1")}},
	}
	p := refusingPort(t, "127.0.0.1")
	c := newClient(t, testOptions(f, p))
	got := deliver(t, c, testMessage(testBody), rcpts("bob@example.org"))
	wantResult(t, 0, got[0], queue.Deferred, "4.4.1",
		"connect to mx1.example.org[127.0.0.1]:"+strconv.Itoa(p)+": Connection refused", "none")
}

func TestResolve(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	self := netip.MustParseAddr("192.0.2.25")
	f := &dns.Fake{
		MX: map[string][]*net.MX{
			"example.org":  {{Host: "mx2.example.org", Pref: 20}, {Host: "mx1.example.org", Pref: 10}},
			"null.example": {{Host: ".", Pref: 0}},
			"loop.example": {{Host: "client.test", Pref: 10}},
			"backup.example": {{Host: "primary.example", Pref: 10}, {Host: "client.test", Pref: 20},
				{Host: "other.example", Pref: 30}},
			"byaddr.example": {{Host: "me.example", Pref: 5}},
			"nomx-a.example": {{Host: "gone.example", Pref: 10}},
		},
		IP: map[string][]netip.Addr{
			"mx1.example.org":  {netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")},
			"mx2.example.org":  {netip.MustParseAddr("192.0.2.2")},
			"implicit.example": {netip.MustParseAddr("192.0.2.3")},
			"primary.example":  {netip.MustParseAddr("192.0.2.4")},
			"other.example":    {netip.MustParseAddr("192.0.2.5")},
			"me.example":       {self},
			"relay.example":    {netip.MustParseAddr("192.0.2.7")},
			"client.test":      {lo},
		},
		Errors: map[dns.Query]error{
			{Type: dns.TypeMX, Name: "broken.example"}: errors.New("SERVFAIL"),
			{Type: dns.TypeIP, Name: "flaky.example"}:  errors.New("timeout"),
			{Type: dns.TypeMX, Name: "flaky.example"}:  dns.ErrNotFound,
		},
	}
	opt := testOptions(f, 25)
	opt.LocalAddrs = func() []netip.Addr { return []netip.Addr{self} }
	c := newClient(t, opt)
	dom := func(d string) nexthop { return nexthop{Relayhost: config.Relayhost{Host: d}, Domain: true} }
	relay := func(s string) nexthop {
		rh, err := config.ParseRelayhost(s)
		if err != nil {
			t.Fatal(err)
		}
		return nexthop{Relayhost: rh}
	}
	tests := []struct {
		name   string
		hop    nexthop
		want   []string // target relays
		status queue.Status
		dsn    string
		text   string
	}{
		{"MX by preference", dom("example.org"),
			[]string{"mx1.example.org[192.0.2.1]:25", "mx1.example.org[2001:db8::1]:25", "mx2.example.org[192.0.2.2]:25"}, 0, "", ""},
		{"implicit MX", dom("implicit.example"), []string{"implicit.example[192.0.2.3]:25"}, 0, "", ""},
		{"null MX", dom("null.example"), nil, queue.Bounced, "5.1.10", "recipient domain null.example does not accept mail"},
		{"NXDOMAIN", dom("nowhere.example"), nil, queue.Bounced, "5.1.2",
			"Host or domain name not found. Name service error for name=nowhere.example type=A: Host not found"},
		{"MX lookup fails for now", dom("broken.example"), nil, queue.Deferred, "4.4.3",
			"name=broken.example type=MX: Host not found, try again"},
		{"address lookup fails for now", dom("flaky.example"), nil, queue.Deferred, "4.4.3", "try again"},
		{"MX host without address", dom("nomx-a.example"), nil, queue.Bounced, "5.4.4", "name=gone.example type=A"},
		{"loop by name", dom("loop.example"), nil, queue.Bounced, "5.4.6", "mail for loop.example loops back to myself"},
		{"loop by address", dom("byaddr.example"), nil, queue.Bounced, "5.4.6", "loops back to myself"},
		{"backup MX keeps the better ones", dom("backup.example"), []string{"primary.example[192.0.2.4]:25"}, 0, "", ""},
		{"relayhost [ip]:port", relay("[192.0.2.9]:2525"), []string{"192.0.2.9[192.0.2.9]:2525"}, 0, "", ""},
		{"relayhost [name]", relay("[relay.example]"), []string{"relay.example[192.0.2.7]:25"}, 0, "", ""},
		{"relayhost by MX", relay("example.org"),
			[]string{"mx1.example.org[192.0.2.1]:25", "mx1.example.org[2001:db8::1]:25", "mx2.example.org[192.0.2.2]:25"}, 0, "", ""},
		{"relayhost not found defers", relay("[nowhere.example]"), nil, queue.Deferred, "4.3.5", "name=nowhere.example"},
		{"a bracketed next hop may be this machine", relay("[192.0.2.25]:2526"), []string{"192.0.2.25[192.0.2.25]:2526"}, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			targets, res := c.resolve(t.Context(), tt.hop)
			if tt.status != 0 {
				if res == nil {
					t.Fatalf("targets %v, want a result", targets)
				}
				wantResult(t, 0, *res, tt.status, tt.dsn, tt.text, "none")
				return
			}
			if res != nil {
				t.Fatalf("result %+v", *res)
			}
			var got []string
			for _, tg := range targets {
				got = append(got, tg.relay())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEqualPreferencesShuffled(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200 && len(seen) < 2; i++ {
		mxs := []*net.MX{{Host: "c", Pref: 20}, {Host: "a", Pref: 10}, {Host: "b", Pref: 10}}
		shuffleEqual(mxs)
		if mxs[2].Host != "c" {
			t.Fatalf("order %v: the higher preference must come last", []string{mxs[0].Host, mxs[1].Host, mxs[2].Host})
		}
		seen[mxs[0].Host] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Errorf("in 200 shuffles the first MX was only %v", seen)
	}
}

func TestAddressLimit(t *testing.T) {
	var addrs []netip.Addr
	for i := 1; i <= 8; i++ {
		addrs = append(addrs, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
	}
	f := &dns.Fake{
		MX: map[string][]*net.MX{"example.org": {{Host: "mx.example.org", Pref: 10}, {Host: "mx2.example.org", Pref: 20}}},
		IP: map[string][]netip.Addr{"mx.example.org": addrs, "mx2.example.org": addrs[:1]},
	}
	c := newClient(t, testOptions(f, 25))
	targets, res := c.resolve(t.Context(), nexthop{Relayhost: config.Relayhost{Host: "example.org"}, Domain: true})
	if res != nil || len(targets) != maxAddresses {
		t.Errorf("got %d targets (%v), want %d", len(targets), res, maxAddresses)
	}
}
