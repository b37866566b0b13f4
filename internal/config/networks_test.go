package config

import (
	"net/netip"
	"path/filepath"
	"testing"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func checkContains(t *testing.T, n *Networks, in, out []netip.Addr) {
	t.Helper()
	for _, a := range in {
		if !n.Contains(a) {
			t.Errorf("%s does not contain %s", n, a)
		}
	}
	for _, a := range out {
		if n.Contains(a) {
			t.Errorf("%s contains %s", n, a)
		}
	}
}

func TestParseNetworks(t *testing.T) {
	file := writeFile(t, t.TempDir(), "trusted", "# office\n203.0.113.0/24 OK\n2001:db8:5::/48\n")
	n, err := ParseNetworks([]string{"127.0.0.0/8", "[::1]/128", "192.0.2.7", "[2001:db8::1]", "10.0.0.0/8", "cidr:" + file})
	if err != nil {
		t.Fatal(err)
	}
	checkContains(t, n,
		addrs("127.0.0.1", "::1", "192.0.2.7", "2001:db8::1", "10.200.0.1", "::ffff:10.0.0.1", "203.0.113.9", "2001:db8:5::9"),
		addrs("192.0.2.8", "::2", "11.0.0.1", "2001:db8::2", "203.0.114.1"))
	want := "127.0.0.0/8 [::1]/128 192.0.2.7/32 [2001:db8::1]/128 10.0.0.0/8 203.0.113.0/24 [2001:db8:5::]/48"
	if n.String() != want {
		t.Errorf("String() = %q, want %q", n.String(), want)
	}
	if len(n.Prefixes()) != 7 {
		t.Errorf("Prefixes() = %v", n.Prefixes())
	}
	bad := []struct{ entry, want string }{
		{"10.0.0.0/33", `bad network "10.0.0.0/33"`},
		{"[::1", `bad network "[::1"`},
		{"fe80::1%eth0", `bad network "fe80::1%eth0"`},
		{"cidr:" + filepath.Join(t.TempDir(), "none"), ""},
	}
	for _, tt := range bad {
		_, err := ParseNetworks([]string{tt.entry})
		if err == nil || (tt.want != "" && err.Error() != tt.want) {
			t.Errorf("ParseNetworks(%q) = %v, want %q", tt.entry, err, tt.want)
		}
	}
	var nilNets *Networks
	if nilNets.Contains(netip.MustParseAddr("127.0.0.1")) || nilNets.String() != "" || nilNets.Prefixes() != nil {
		t.Error("nil Networks is not empty")
	}
}

func TestStyleNetworks(t *testing.T) {
	ifaces := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/8"),
		netip.MustParsePrefix("192.168.1.10/24"),
		netip.MustParsePrefix("172.16.5.4/20"),
		netip.MustParsePrefix("10.1.2.3/16"),
		netip.MustParsePrefix("2001:db8:1:2::5/64"),
	}
	tests := []struct {
		style   string
		want    string
		in, out []netip.Addr
	}{
		{"host", "127.0.0.0/8 [::1]/128 127.0.0.1/32 192.168.1.10/32 172.16.5.4/32 10.1.2.3/32 [2001:db8:1:2::5]/128",
			addrs("192.168.1.10", "127.9.9.9", "::1"), addrs("192.168.1.11", "10.1.2.4", "2001:db8:1:2::6")},
		{"subnet", "127.0.0.0/8 [::1]/128 192.168.1.0/24 172.16.0.0/20 10.1.0.0/16 [2001:db8:1:2::]/64",
			addrs("192.168.1.99", "172.16.15.1", "10.1.200.1", "2001:db8:1:2::99"), addrs("192.168.2.1", "172.16.16.1", "10.2.0.1")},
		{"class", "127.0.0.0/8 [::1]/128 192.168.1.0/24 172.16.0.0/16 10.0.0.0/8 [2001:db8:1:2::]/64",
			addrs("172.16.200.1", "10.200.0.1"), addrs("192.168.2.1", "172.17.0.1", "11.0.0.1")},
	}
	for _, tt := range tests {
		n, err := StyleNetworks(tt.style, ifaces)
		if err != nil {
			t.Fatal(err)
		}
		if n.String() != tt.want {
			t.Errorf("%s: String() = %q, want %q", tt.style, n.String(), tt.want)
		}
		checkContains(t, n, tt.in, tt.out)
	}
	n, err := StyleNetworks("host", nil)
	if err != nil || n.String() != "127.0.0.0/8 [::1]/128" {
		t.Errorf("host with no interfaces = %v, %v", n, err)
	}
	n, _ = StyleNetworks("class", []netip.Prefix{netip.MustParsePrefix("224.0.0.1/4")})
	if n.Contains(netip.MustParseAddr("224.0.0.2")) {
		t.Error("class D address got a network")
	}
	if _, err := StyleNetworks("office", nil); err == nil || err.Error() != `unknown mynetworks_style "office" (want host, subnet or class)` {
		t.Errorf("StyleNetworks(office) = %v", err)
	}
}

func TestMyNetworks(t *testing.T) {
	ifaces := []netip.Prefix{netip.MustParsePrefix("192.168.1.10/24")}
	dir := t.TempDir()
	writeFile(t, dir, "nets", "198.51.100.0/24 OK\n")
	cf := writeFile(t, dir, "main.cf", "mynetworks = 10.0.0.0/8, cidr:nets\n")
	c, _, err := Load(cf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := MyNetworks(c, ifaces)
	if err != nil {
		t.Fatal(err)
	}
	checkContains(t, n, addrs("10.1.1.1", "198.51.100.1"), addrs("192.168.1.10", "127.0.0.1"))

	n, err = MyNetworks(parse(t, "mynetworks_style = subnet"), ifaces)
	if err != nil {
		t.Fatal(err)
	}
	checkContains(t, n, addrs("192.168.1.77", "127.0.0.1"), addrs("10.1.1.1"))
}

func TestParseRelayhost(t *testing.T) {
	good := []struct {
		in   string
		want Relayhost
		str  string
	}{
		{"", Relayhost{}, ""},
		{"relay.example.org", Relayhost{"relay.example.org", 25, false}, "relay.example.org"},
		{"relay.example.org:2525", Relayhost{"relay.example.org", 2525, false}, "relay.example.org:2525"},
		{"[relay.example.org]", Relayhost{"relay.example.org", 25, true}, "[relay.example.org]"},
		{"[relay.example.org]:submission", Relayhost{"relay.example.org", 587, true}, "[relay.example.org]:587"},
		{"[192.0.2.1]:587", Relayhost{"192.0.2.1", 587, true}, "[192.0.2.1]:587"},
		{"[IPv6:2001:db8::1]:587", Relayhost{"2001:db8::1", 587, true}, "[IPv6:2001:db8::1]:587"},
		{"[ipv6:2001:DB8::1]", Relayhost{"2001:db8::1", 25, true}, "[IPv6:2001:db8::1]"},
		{"mx_1.example:smtp", Relayhost{"mx_1.example", 25, false}, "mx_1.example"},
	}
	for _, tt := range good {
		got, err := ParseRelayhost(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseRelayhost(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.str {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), tt.str)
		}
	}
	bad := []struct{ in, want string }{
		{"[relay", `bad relayhost "[relay": missing ']'`},
		{"[relay]x", `bad relayhost "[relay]x": text after ']'`},
		{"relay:0", `bad relayhost "relay:0": bad port "0"`},
		{"relay:70000", `bad relayhost "relay:70000": bad port "70000"`},
		{"relay:", `bad relayhost "relay:": bad port ""`},
		{"2001:db8::1", `bad relayhost "2001:db8::1": bad port "db8::1"`},
		{"[IPv6:192.0.2.1]", `bad relayhost "[IPv6:192.0.2.1]": bad IPv6 address "192.0.2.1"`},
		{"[]", `bad relayhost "[]": bad host name ""`},
		{"-relay.example", `bad relayhost "-relay.example": bad host name "-relay.example"`},
		{"relay..example", `bad relayhost "relay..example": bad host name "relay..example"`},
		{"a b", `bad relayhost "a b": bad host name "a b"`},
	}
	for _, tt := range bad {
		_, err := ParseRelayhost(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseRelayhost(%q) = %v, want %s", tt.in, err, tt.want)
		}
	}
}
