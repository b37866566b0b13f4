package dns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"
)

// testZone is what a loopback DNS server answers. Names are lower case
// with their final dot; a name in none of the maps is NXDOMAIN.
type testZone struct {
	a        map[string][]netip.Addr
	mx       map[string][]net.MX
	txt      map[string][]string
	ptr      map[string][]string
	servfail map[string]bool
}

func (z *testZone) known(name string) bool {
	_, a := z.a[name]
	_, mx := z.mx[name]
	_, txt := z.txt[name]
	_, ptr := z.ptr[name]
	return a || mx || txt || ptr
}

// serveDNS answers queries on a loopback UDP port (so that no test query
// leaves the machine) and counts them.
func serveDNS(t *testing.T, z *testZone) (string, *atomic.Int64) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	var n atomic.Int64
	go func() {
		buf := make([]byte, 1500)
		for {
			size, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			n.Add(1)
			if resp, err := z.answer(buf[:size]); err == nil {
				pc.WriteTo(resp, from)
			}
		}
	}()
	return pc.LocalAddr().String(), &n
}

func (z *testZone) answer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	name := strings.ToLower(q.Name.String())
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	switch {
	case z.servfail[name]:
		rh.RCode = dnsmessage.RCodeServerFailure
	case !z.known(name):
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if rh.RCode == dnsmessage.RCodeSuccess {
		if err := z.records(&b, q, name); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

func (z *testZone) records(b *dnsmessage.Builder, q dnsmessage.Question, name string) error {
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
	var err error
	switch q.Type {
	case dnsmessage.TypeA, dnsmessage.TypeAAAA:
		for _, a := range z.a[name] {
			switch {
			case a.Is4() && q.Type == dnsmessage.TypeA:
				err = errors.Join(err, b.AResource(rh, dnsmessage.AResource{A: a.As4()}))
			case a.Is6() && q.Type == dnsmessage.TypeAAAA:
				err = errors.Join(err, b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()}))
			}
		}
	case dnsmessage.TypeMX:
		for _, mx := range z.mx[name] {
			err = errors.Join(err, b.MXResource(rh, dnsmessage.MXResource{Pref: mx.Pref, MX: dnsmessage.MustNewName(mx.Host)}))
		}
	case dnsmessage.TypeTXT:
		for _, txt := range z.txt[name] {
			err = errors.Join(err, b.TXTResource(rh, dnsmessage.TXTResource{TXT: strings.Split(txt, "|")}))
		}
	case dnsmessage.TypePTR:
		for _, ptr := range z.ptr[name] {
			err = errors.Join(err, b.PTRResource(rh, dnsmessage.PTRResource{PTR: dnsmessage.MustNewName(ptr)}))
		}
	}
	return err
}

func testZoneData() *testZone {
	return &testZone{
		a: map[string][]netip.Addr{
			"mail.example.test.": {netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")},
			"example.test.":      nil, // exists, no address: NODATA
		},
		mx: map[string][]net.MX{
			"example.test.": {{Host: "mx2.example.test.", Pref: 20}, {Host: "mail.example.test.", Pref: 10}},
			"null.test.":    {{Host: ".", Pref: 0}},
		},
		txt: map[string][]string{"example.test.": {"v=spf1 |mx -all"}},
		ptr: map[string][]string{"1.2.0.192.in-addr.arpa.": {"mail.example.test."}},
		servfail: map[string]bool{
			"broken.test.": true,
		},
	}
}

// TestSystem runs the system resolver against a DNS server on loopback,
// named by dns_nameservers.
func TestSystem(t *testing.T) {
	addr, _ := serveDNS(t, testZoneData())
	r := NewSystem([]string{addr})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tests := []struct {
		name   string
		lookup func() (any, error)
		want   any
		kind   error // when want is nil
	}{
		{"PTR", func() (any, error) { return r.LookupAddr(ctx, netip.MustParseAddr("192.0.2.1")) },
			[]string{"mail.example.test"}, nil},
		{"PTR of mapped address", func() (any, error) { return r.LookupAddr(ctx, netip.MustParseAddr("::ffff:192.0.2.1")) },
			[]string{"mail.example.test"}, nil},
		{"PTR missing", func() (any, error) { return r.LookupAddr(ctx, netip.MustParseAddr("192.0.2.2")) }, nil, ErrNotFound},
		{"IP", func() (any, error) { return r.LookupIP(ctx, "mail.example.test.") },
			[]netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}, nil},
		{"IP nodata", func() (any, error) { return r.LookupIP(ctx, "example.test.") }, nil, ErrNotFound},
		{"IP nxdomain", func() (any, error) { return r.LookupIP(ctx, "nowhere.test.") }, nil, ErrNotFound},
		{"IP servfail", func() (any, error) { return r.LookupIP(ctx, "broken.test.") }, nil, ErrTemporary},
		{"MX", func() (any, error) { return r.LookupMX(ctx, "example.test.") },
			[]*net.MX{{Host: "mail.example.test", Pref: 10}, {Host: "mx2.example.test", Pref: 20}}, nil},
		{"null MX", func() (any, error) { return r.LookupMX(ctx, "null.test.") }, []*net.MX{{Host: ".", Pref: 0}}, nil},
		{"MX nodata", func() (any, error) { return r.LookupMX(ctx, "mail.example.test.") }, nil, ErrNotFound},
		{"MX servfail", func() (any, error) { return r.LookupMX(ctx, "broken.test.") }, nil, ErrTemporary},
		{"TXT joined", func() (any, error) { return r.LookupTXT(ctx, "example.test.") }, []string{"v=spf1 mx -all"}, nil},
		{"TXT nxdomain", func() (any, error) { return r.LookupTXT(ctx, "nowhere.test.") }, nil, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.lookup()
			if tt.want == nil {
				if !errors.Is(err, tt.kind) {
					t.Fatalf("error %v, want %v", err, tt.kind)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSystemServers checks that queries go round the configured servers.
func TestSystemServers(t *testing.T) {
	z := testZoneData()
	a1, n1 := serveDNS(t, z)
	a2, n2 := serveDNS(t, z)
	r := NewSystem([]string{a1, a2})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 4 {
		if _, err := r.LookupMX(ctx, "example.test."); err != nil {
			t.Fatal(err)
		}
	}
	if n1.Load() == 0 || n2.Load() == 0 {
		t.Errorf("queries per server: %d, %d; want both used", n1.Load(), n2.Load())
	}
}

// TestSystemDeadline checks that a lookup gives up with its context when
// the server does not answer, as a temporary failure.
func TestSystemDeadline(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r := NewSystem([]string{pc.LocalAddr().String()})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.LookupMX(ctx, "example.test."); !errors.Is(err, ErrTemporary) {
		t.Errorf("error %v, want a temporary failure", err)
	}
}
