package smtp

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"facteur/internal/config"
	"facteur/internal/dns"
	"facteur/internal/queue"
)

// mapTable is a transport_maps table in memory.
type mapTable map[string]string

func (m mapTable) Lookup(key string) (string, bool, error) {
	if key == "fail.example" {
		return "", false, errors.New("table unreadable")
	}
	v, ok := m[strings.ToLower(key)]
	return v, ok, nil
}

func TestRoute(t *testing.T) {
	opt := testOptions(&dns.Fake{}, 25)
	opt.Transports = mapTable{
		"special@example.com": "smtp:[192.0.2.50]",
		"example.com":         "smtp:[192.0.2.1]:2525",
		".example.net":        "relay:mail.example.net",
		"bymx.example":        "smtp:",
		"gone.example":        "error:5.1.1 this domain is gone",
		"plain-error.example": "error:no mail here",
		"later.example":       "retry:4.4.9 try later",
		"bad.example":         "smtp:[oops",
		"lmtp.example":        "lmtp:unix:/run/lmtp",
		"colon.example":       ":[192.0.2.3]",
	}
	opt.Relayhost = config.Relayhost{Host: "smarthost.example", Port: 587}
	c := newClient(t, opt)
	tests := []struct {
		addr   string
		key    string // the group's next hop; "" when a result is expected
		status queue.Status
		dsn    string
		text   string
	}{
		{addr: "a@example.com", key: "[192.0.2.1]:2525"},
		{addr: "special@example.com", key: "[192.0.2.50]"},
		{addr: "a@sub.example.net", key: "mail.example.net"},
		{addr: "a@deep.sub.example.net", key: "mail.example.net"},
		{addr: "a@example.net", key: "smarthost.example:587"}, // ".example.net" is for subdomains only
		{addr: "a@bymx.example", key: "bymx.example"},
		{addr: "a@colon.example", key: "[192.0.2.3]"},
		{addr: "a@[192.0.2.4]", key: "smarthost.example:587"}, // relayhost takes address literals too
		{addr: "a@elsewhere.example", key: "smarthost.example:587"},
		{addr: "a@gone.example", status: queue.Bounced, dsn: "5.1.1", text: "this domain is gone"},
		{addr: "a@plain-error.example", status: queue.Bounced, dsn: "5.0.0", text: "no mail here"},
		{addr: "a@later.example", status: queue.Deferred, dsn: "4.4.9", text: "try later"},
		{addr: "a@bad.example", status: queue.Deferred, dsn: "4.3.5", text: "bad next hop"},
		{addr: "a@lmtp.example", status: queue.Deferred, dsn: "4.3.5", text: "mail transport unavailable"},
		{addr: "a@fail.example", status: queue.Deferred, dsn: "4.3.0", text: "transport_maps lookup failure"},
		{addr: "not an address", status: queue.Bounced, dsn: "5.1.3", text: "bad address syntax"},
	}
	var addrs []string
	for _, tt := range tests {
		addrs = append(addrs, tt.addr)
	}
	results := make([]queue.Result, len(tests))
	groups := c.route(testMessage("").env, rcpts(addrs...), results)
	keyOf := map[int]string{}
	for _, g := range groups {
		for _, r := range g.rcpts {
			keyOf[r.i] = g.hop.key()
		}
	}
	for i, tt := range tests {
		if tt.key != "" {
			if keyOf[i] != tt.key {
				t.Errorf("%s: next hop %q, want %q (result %+v)", tt.addr, keyOf[i], tt.key, results[i])
			}
			continue
		}
		if _, ok := keyOf[i]; ok {
			t.Errorf("%s: routed to %q, want a result", tt.addr, keyOf[i])
			continue
		}
		wantResult(t, i, results[i], tt.status, tt.dsn, tt.text, "none")
	}
	// One group per next hop, in order of first appearance.
	var keys []string
	for _, g := range groups {
		keys = append(keys, g.hop.key())
	}
	want := []string{"[192.0.2.1]:2525", "[192.0.2.50]", "mail.example.net", "smarthost.example:587", "bymx.example", "[192.0.2.3]"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
}

func TestRelayhostDelivery(t *testing.T) {
	checkGoroutines(t)
	s := newSink(t, sinkConfig{})
	other := newSink(t, sinkConfig{})
	f := mxFake(other) // example.org's MX must not be used
	f.IP["relay.test"] = []netip.Addr{s.addr.Addr()}
	for _, rh := range []string{"[127.0.0.1]:" + strconv.Itoa(port(s)), "[relay.test]:" + strconv.Itoa(port(s)),
		"relay.test:" + strconv.Itoa(port(s))} {
		t.Run(rh, func(t *testing.T) {
			opt := testOptions(f, port(other))
			var err error
			if opt.Relayhost, err = config.ParseRelayhost(rh); err != nil {
				t.Fatal(err)
			}
			c := newClient(t, opt)
			got := deliver(t, c, testMessage(testBody), rcpts("bob@example.org"))
			wantResult(t, 0, got[0], queue.Delivered, "2.0.0", "queued as", "")
			if !strings.Contains(got[0].Relay, "[127.0.0.1]:"+strconv.Itoa(port(s))) {
				t.Errorf("relay %q", got[0].Relay)
			}
		})
	}
	if n := len(s.messages()); n != 3 {
		t.Errorf("relayhost got %d messages, want 3", n)
	}
	if n := len(other.connections()); n != 0 {
		t.Errorf("the MX got %d connections, want none", n)
	}
}

func TestTransportMapsDelivery(t *testing.T) {
	checkGoroutines(t)
	s := newSink(t, sinkConfig{})
	opt := testOptions(&dns.Fake{}, 25)
	opt.Transports = mapTable{".example.org": "smtp:[127.0.0.1]:" + strconv.Itoa(port(s)), "*": "error:5.7.1 no route"}
	c := newClient(t, opt)
	got := deliver(t, c, testMessage(testBody), rcpts("a@sub.example.org", "b@example.com"))
	wantResult(t, 0, got[0], queue.Delivered, "2.0.0", "queued as", "127.0.0.1[127.0.0.1]:"+strconv.Itoa(port(s)))
	wantResult(t, 1, got[1], queue.Bounced, "5.7.1", "no route", "none")
}
