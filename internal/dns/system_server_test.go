package dns_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"facteur/internal/dns"
	"facteur/internal/dns/dnstest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestSystemAgainstServer runs System, pointed at an authoritative server
// on loopback (dns_nameservers), through every kind of answer that
// Resolver promises to tell apart. Names are absolute, so that no search
// domain of the host's resolv.conf is tried.
func TestSystemAgainstServer(t *testing.T) {
	srv := dnstest.Start(t)
	srv.MX("example.test", 30, "mx3.example.test")
	srv.MX("example.test", 10, "mx1.example.test")
	srv.MX("example.test", 20, "mx2.example.test")
	srv.MX("null.test", 0, ".")
	srv.A("mx1.example.test", "192.0.2.1", "2001:db8::1")
	srv.A("v4only.test", "192.0.2.4")
	srv.TXT("example.test", "v=spf1 ", "mx -all")
	srv.TXT("long.test", "v=spf1 "+strings.Repeat("a", 300)+` \back`)
	srv.TXT("_dmarc.example.test", "v=DMARC1; p=reject")
	srv.PTR("192.0.2.1", "mx1.example.test")
	srv.PTR("2001:db8::1", "mx1.example.test", "mail.example.test")
	srv.CNAME("alias.test", "example.test")
	srv.CNAME("dangling.test", "nowhere.test")
	srv.ServFail("broken.test")
	var big []string
	for i := range 100 {
		big = append(big, fmt.Sprintf("2001:db8::%x", i+1))
	}
	srv.A("big.test", big...) // too much for UDP: TC, then TCP

	r := dns.NewSystem([]string{srv.Addr()})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mx := func(name string) func() (any, error) {
		return func() (any, error) { return r.LookupMX(ctx, name) }
	}
	ip := func(name string) func() (any, error) {
		return func() (any, error) { return r.LookupIP(ctx, name) }
	}
	txt := func(name string) func() (any, error) {
		return func() (any, error) { return r.LookupTXT(ctx, name) }
	}
	ptr := func(addr string) func() (any, error) {
		return func() (any, error) { return r.LookupAddr(ctx, netip.MustParseAddr(addr)) }
	}
	addrs := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	tests := []struct {
		name   string
		lookup func() (any, error)
		want   any   // nil when the lookup fails
		kind   error // when want is nil
	}{
		{"MX sorted", mx("example.test."), []*net.MX{
			{Host: "mx1.example.test", Pref: 10}, {Host: "mx2.example.test", Pref: 20}, {Host: "mx3.example.test", Pref: 30},
		}, nil},
		{"MX any case", mx("EXAMPLE.Test."), []*net.MX{
			{Host: "mx1.example.test", Pref: 10}, {Host: "mx2.example.test", Pref: 20}, {Host: "mx3.example.test", Pref: 30},
		}, nil},
		{"MX through CNAME", mx("alias.test."), []*net.MX{
			{Host: "mx1.example.test", Pref: 10}, {Host: "mx2.example.test", Pref: 20}, {Host: "mx3.example.test", Pref: 30},
		}, nil},
		{"null MX", mx("null.test."), []*net.MX{{Host: ".", Pref: 0}}, nil},
		{"MX nxdomain", mx("nowhere.test."), nil, dns.ErrNotFound},
		{"MX nodata", mx("v4only.test."), nil, dns.ErrNotFound},
		{"MX dangling CNAME", mx("dangling.test."), nil, dns.ErrNotFound},
		{"MX servfail", mx("broken.test."), nil, dns.ErrTemporary},
		{"IP both families", ip("mx1.example.test."), addrs("192.0.2.1", "2001:db8::1"), nil},
		{"IP only A", ip("v4only.test."), addrs("192.0.2.4"), nil},
		{"IP over TCP", ip("big.test."), addrs(big...), nil},
		{"IP nodata", ip("null.test."), nil, dns.ErrNotFound},
		{"IP nxdomain", ip("nowhere.test."), nil, dns.ErrNotFound},
		{"IP servfail", ip("broken.test."), nil, dns.ErrTemporary},
		{"TXT joined", txt("example.test."), []string{"v=spf1 mx -all"}, nil},
		{"TXT past 255 octets", txt("long.test."), []string{"v=spf1 " + strings.Repeat("a", 300) + ` \back`}, nil},
		{"TXT underscore", txt("_dmarc.example.test."), []string{"v=DMARC1; p=reject"}, nil},
		{"TXT nodata", txt("mx1.example.test."), nil, dns.ErrNotFound},
		{"TXT nxdomain", txt("nowhere.test."), nil, dns.ErrNotFound},
		{"TXT servfail", txt("broken.test."), nil, dns.ErrTemporary},
		{"PTR IPv4", ptr("192.0.2.1"), []string{"mx1.example.test"}, nil},
		{"PTR IPv4-mapped", ptr("::ffff:192.0.2.1"), []string{"mx1.example.test"}, nil},
		{"PTR IPv6", ptr("2001:db8::1"), []string{"mx1.example.test", "mail.example.test"}, nil},
		{"PTR nxdomain", ptr("192.0.2.2"), nil, dns.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.lookup()
			if tt.want == nil {
				if !errors.Is(err, tt.kind) {
					t.Fatalf("error %v, want %v", err, tt.kind)
				}
				var e *dns.Error
				if !errors.As(err, &e) {
					t.Errorf("error %T, want a *dns.Error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			// The order of addresses is the resolver's (RFC 6724 §6).
			opts := cmp.Options{
				cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmpopts.SortSlices(func(a, b netip.Addr) bool { return a.Less(b) }),
			}
			if diff := cmp.Diff(tt.want, got, opts); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSystemSilentServer checks that a lookup the server never answers
// fails as temporary when the context ends, whatever the lookup.
func TestSystemSilentServer(t *testing.T) {
	srv := dnstest.Start(t)
	srv.MX("mute.test", 10, "mx.mute.test")
	srv.A("mute.test", "192.0.2.1")
	srv.Silent("mute.test")
	r := dns.NewSystem([]string{srv.Addr()})
	lookups := map[string]func(context.Context) error{
		"MX":  func(ctx context.Context) error { _, err := r.LookupMX(ctx, "mute.test."); return err },
		"IP":  func(ctx context.Context) error { _, err := r.LookupIP(ctx, "mute.test."); return err },
		"TXT": func(ctx context.Context) error { _, err := r.LookupTXT(ctx, "mute.test."); return err },
	}
	for name, lookup := range lookups {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := lookup(ctx); !errors.Is(err, dns.ErrTemporary) {
				t.Errorf("error %v, want a temporary failure", err)
			}
		})
	}
	if n := srv.Queries(); n != 0 {
		t.Errorf("the server answered %d queries for a silent name", n)
	}
}
