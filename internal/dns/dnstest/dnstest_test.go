package dnstest

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mdns "github.com/miekg/dns"
)

// exchange sends one query for name and qtype over network ("udp" or
// "tcp") and returns the response.
func exchange(t *testing.T, s *Server, network, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	return send(t, s, network, m)
}

func send(t *testing.T, s *Server, network string, m *mdns.Msg) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: network, Timeout: 30 * time.Second}
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("%s query %v: %v", network, m.Question, err)
	}
	return r
}

// text writes records one a line, fields separated by one space.
func text(rrs []mdns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	return out
}

const soaText = ". 60 IN SOA ns.dnstest. hostmaster.dnstest. 1 3600 600 86400 60"

func testServer(t *testing.T) *Server {
	s := Start(t)
	s.MX("example.test", 20, "mx2.example.test")
	s.MX("Example.Test.", 10, "mail.example.test.")
	s.MX("null.test", 0, ".")
	s.A("mail.example.test", "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.2")
	s.TXT("example.test", "v=spf1 mx -all")
	s.PTR("192.0.2.1", "mail.example.test")
	s.PTR("2001:db8::1", "mail6.example.test")
	s.A("a.b.ent.test", "192.0.2.9")
	s.CNAME("alias.test", "MAIL.example.test")
	s.CNAME("alias2.test", "alias.test")
	s.CNAME("dangling.test", "nowhere.test")
	s.CNAME("loop1.test", "loop2.test")
	s.CNAME("loop2.test", "loop1.test")
	s.ServFail("broken.test")
	return s
}

// TestAnswers checks what the server answers, over UDP and TCP.
func TestAnswers(t *testing.T) {
	s := testServer(t)
	tests := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string
		ns     []string
	}{
		{"example.test.", mdns.TypeMX, mdns.RcodeSuccess, []string{
			"example.test. 60 IN MX 20 mx2.example.test.",
			"example.test. 60 IN MX 10 mail.example.test.",
		}, nil},
		{"null.test.", mdns.TypeMX, mdns.RcodeSuccess, []string{"null.test. 60 IN MX 0 ."}, nil},
		{"mail.example.test.", mdns.TypeA, mdns.RcodeSuccess, []string{
			"mail.example.test. 60 IN A 192.0.2.1",
			"mail.example.test. 60 IN A 192.0.2.2",
		}, nil},
		{"mail.example.test.", mdns.TypeAAAA, mdns.RcodeSuccess, []string{"mail.example.test. 60 IN AAAA 2001:db8::1"}, nil},
		// Names match in any case; the answer spells the owner as asked.
		{"MAIL.Example.TEST.", mdns.TypeAAAA, mdns.RcodeSuccess, []string{"MAIL.Example.TEST. 60 IN AAAA 2001:db8::1"}, nil},
		{"example.test.", mdns.TypeTXT, mdns.RcodeSuccess, []string{`example.test. 60 IN TXT "v=spf1 mx -all"`}, nil},
		{"1.2.0.192.in-addr.arpa.", mdns.TypePTR, mdns.RcodeSuccess, []string{"1.2.0.192.in-addr.arpa. 60 IN PTR mail.example.test."}, nil},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", mdns.TypePTR, mdns.RcodeSuccess,
			[]string{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 60 IN PTR mail6.example.test."}, nil},
		{"null.test.", mdns.TypeANY, mdns.RcodeSuccess, []string{"null.test. 60 IN MX 0 ."}, nil},
		// RFC 2308: NXDOMAIN and NODATA carry the SOA.
		{"nowhere.test.", mdns.TypeMX, mdns.RcodeNameError, nil, []string{soaText}},
		{"mail.example.test.", mdns.TypeMX, mdns.RcodeSuccess, nil, []string{soaText}},
		{"null.test.", mdns.TypeA, mdns.RcodeSuccess, nil, []string{soaText}},
		// An empty non-terminal exists (RFC 8020).
		{"b.ent.test.", mdns.TypeA, mdns.RcodeSuccess, nil, []string{soaText}},
		{"x.b.ent.test.", mdns.TypeA, mdns.RcodeNameError, nil, []string{soaText}},
		// CNAMEs are followed within the server's data.
		{"alias.test.", mdns.TypeA, mdns.RcodeSuccess, []string{
			"alias.test. 60 IN CNAME MAIL.example.test.",
			"MAIL.example.test. 60 IN A 192.0.2.1",
			"MAIL.example.test. 60 IN A 192.0.2.2",
		}, nil},
		{"alias2.test.", mdns.TypeAAAA, mdns.RcodeSuccess, []string{
			"alias2.test. 60 IN CNAME alias.test.",
			"alias.test. 60 IN CNAME MAIL.example.test.",
			"MAIL.example.test. 60 IN AAAA 2001:db8::1",
		}, nil},
		{"alias.test.", mdns.TypeCNAME, mdns.RcodeSuccess, []string{"alias.test. 60 IN CNAME MAIL.example.test."}, nil},
		{"alias.test.", mdns.TypeMX, mdns.RcodeSuccess, []string{"alias.test. 60 IN CNAME MAIL.example.test."}, []string{soaText}},
		{"dangling.test.", mdns.TypeA, mdns.RcodeNameError, []string{"dangling.test. 60 IN CNAME nowhere.test."}, []string{soaText}},
		{"loop1.test.", mdns.TypeA, mdns.RcodeServerFailure, nil, nil},
		{"broken.test.", mdns.TypeMX, mdns.RcodeServerFailure, nil, nil},
		{"broken.test.", mdns.TypeA, mdns.RcodeServerFailure, nil, nil},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%s/%s", network, tt.name, mdns.TypeToString[tt.qtype]), func(t *testing.T) {
				r := exchange(t, s, network, tt.name, tt.qtype)
				if r.Rcode != tt.rcode {
					t.Errorf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.rcode])
				}
				if !r.Authoritative {
					t.Error("AA bit not set")
				}
				want := []mdns.Question{{Name: tt.name, Qtype: tt.qtype, Qclass: mdns.ClassINET}}
				if diff := cmp.Diff(want, r.Question); diff != "" {
					t.Errorf("question (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.answer, text(r.Answer)); diff != "" {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.ns, text(r.Ns)); diff != "" {
					t.Errorf("authority (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestTXT checks that long strings are cut at 255 octets and that every
// octet goes out as given.
func TestTXT(t *testing.T) {
	s := Start(t)
	long := strings.Repeat("a", 255) + strings.Repeat("b", 100)
	s.TXT("long.test", long)
	s.TXT("two.test", "v=spf1 ", "-all")
	s.TXT("two.test", `back\slash "quoted"`)
	tests := []struct {
		name string
		want [][]string // the strings of each record, as miekg/dns writes them
	}{
		{"long.test.", [][]string{{strings.Repeat("a", 255), strings.Repeat("b", 100)}}},
		{"two.test.", [][]string{{"v=spf1 ", "-all"}, {`back\\slash \"quoted\"`}}},
	}
	for _, tt := range tests {
		r := exchange(t, s, "udp", tt.name, mdns.TypeTXT)
		var got [][]string
		for _, rr := range r.Answer {
			got = append(got, rr.(*mdns.TXT).Txt)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s TXT (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestTruncation checks that an answer too big for UDP is cut with TC
// set, and comes whole over TCP on the same port.
func TestTruncation(t *testing.T) {
	s := Start(t)
	var addrs []string
	for i := range 100 {
		addrs = append(addrs, fmt.Sprintf("2001:db8::%x", i+1))
	}
	s.A("big.test", addrs...)
	s.A("small.test", "192.0.2.1")

	r := exchange(t, s, "udp", "big.test.", mdns.TypeAAAA)
	if !r.Truncated || len(r.Answer) >= 100 {
		t.Errorf("UDP without EDNS: truncated %v with %d records, want TC and fewer than 100", r.Truncated, len(r.Answer))
	}
	m := new(mdns.Msg)
	m.SetQuestion("big.test.", mdns.TypeAAAA)
	m.SetEdns0(1232, false)
	r = send(t, s, "udp", m)
	if !r.Truncated || len(r.Answer) >= 100 {
		t.Errorf("UDP with EDNS: truncated %v with %d records, want TC and fewer than 100", r.Truncated, len(r.Answer))
	}
	if r.IsEdns0() == nil {
		t.Error("no OPT record in the answer to a query with one (RFC 6891 §7)")
	}
	r = exchange(t, s, "tcp", "big.test.", mdns.TypeAAAA)
	if r.Truncated || len(r.Answer) != 100 {
		t.Errorf("TCP: truncated %v with %d records, want all 100", r.Truncated, len(r.Answer))
	}
	r = exchange(t, s, "udp", "small.test.", mdns.TypeA)
	if r.Truncated || len(r.Answer) != 1 || r.IsEdns0() != nil {
		t.Errorf("small answer: truncated %v, %d records, OPT %v; want whole, no OPT", r.Truncated, len(r.Answer), r.IsEdns0())
	}
}

// TestRefused checks the answers to what the server does not serve.
func TestRefused(t *testing.T) {
	s := Start(t)
	s.A("host.test", "192.0.2.1")
	m := new(mdns.Msg)
	m.SetQuestion("host.test.", mdns.TypeA)
	m.Question[0].Qclass = mdns.ClassCHAOS
	if r := send(t, s, "udp", m); r.Rcode != mdns.RcodeRefused || len(r.Answer) != 0 {
		t.Errorf("class CH: rcode %s with %d records, want REFUSED", mdns.RcodeToString[r.Rcode], len(r.Answer))
	}
	m = new(mdns.Msg)
	m.SetNotify("host.test.")
	if r := send(t, s, "udp", m); r.Rcode != mdns.RcodeNotImplemented {
		t.Errorf("NOTIFY: rcode %s, want NOTIMP", mdns.RcodeToString[r.Rcode])
	}
}

// TestSilent checks that a Silent name gets no answer, over UDP or TCP,
// while other names are answered, and that Queries counts only answers.
func TestSilent(t *testing.T) {
	s := Start(t)
	s.A("host.test", "192.0.2.1")
	s.A("mute.test", "192.0.2.2")
	s.Silent("mute.test")
	for _, network := range []string{"udp", "tcp"} {
		m := new(mdns.Msg)
		m.SetQuestion("MUTE.test.", mdns.TypeA)
		c := &mdns.Client{Net: network, Timeout: 300 * time.Millisecond}
		_, _, err := c.Exchange(m, s.Addr())
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%s query of a silent name: error %v, want a timeout", network, err)
		}
	}
	if r := exchange(t, s, "udp", "host.test.", mdns.TypeA); len(r.Answer) != 1 {
		t.Errorf("answer %v, want one record", r.Answer)
	}
	if got := s.Queries(); got != 1 {
		t.Errorf("Queries() = %d, want 1", got)
	}
}

// TestQueries checks the count of answered queries, NXDOMAIN and SERVFAIL
// included.
func TestQueries(t *testing.T) {
	s := Start(t)
	s.MX("example.test", 10, "mail.example.test")
	s.ServFail("broken.test")
	if got := s.Queries(); got != 0 {
		t.Fatalf("Queries() = %d before any query", got)
	}
	exchange(t, s, "udp", "example.test.", mdns.TypeMX)
	exchange(t, s, "tcp", "example.test.", mdns.TypeMX)
	exchange(t, s, "udp", "nowhere.test.", mdns.TypeMX)
	exchange(t, s, "udp", "broken.test.", mdns.TypeMX)
	if got := s.Queries(); got != 4 {
		t.Errorf("Queries() = %d, want 4", got)
	}
}

// TestConcurrent adds records while queries are answered; -race checks
// the locking, and every record added is then served.
func TestConcurrent(t *testing.T) {
	s := Start(t)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for w := range 4 {
		wg.Go(func() {
			c := &mdns.Client{Net: "udp", Timeout: 30 * time.Second}
			for i := range n {
				m := new(mdns.Msg)
				m.SetQuestion(fmt.Sprintf("h%d.test.", (i+w)%n), mdns.TypeA)
				r, _, err := c.Exchange(m, s.Addr())
				if err != nil {
					errs <- err
					continue
				}
				if r.Rcode != mdns.RcodeSuccess && r.Rcode != mdns.RcodeNameError {
					errs <- fmt.Errorf("%v: rcode %s", m.Question, mdns.RcodeToString[r.Rcode])
				}
			}
		})
	}
	for i := range n {
		s.A(fmt.Sprintf("h%d.test", i), fmt.Sprintf("192.0.2.%d", i+1))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range n {
		want := []string{fmt.Sprintf("h%d.test. 60 IN A 192.0.2.%d", i, i+1)}
		if got := text(exchange(t, s, "udp", fmt.Sprintf("h%d.test.", i), mdns.TypeA).Answer); !cmp.Equal(want, got) {
			t.Errorf("answer %q, want %q", got, want)
		}
	}
}

// TestStop checks that the server stops with its test.
func TestStop(t *testing.T) {
	var addr string
	t.Run("serve", func(t *testing.T) {
		addr = Start(t).Addr()
	})
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after its test ended", addr)
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the failure and
// ends the goroutine, as testing.T's does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestBadArguments checks that a bad record fails the test, naming it.
func TestBadArguments(t *testing.T) {
	tests := []struct {
		name string
		add  func(s *Server)
		want string
	}{
		{"address", func(s *Server) { s.A("host.test", "192.0.2.300") }, `"192.0.2.300" is not an IP address`},
		{"zone", func(s *Server) { s.A("host.test", "fe80::1%eth0") }, `"fe80::1%eth0" is not an IP address`},
		{"PTR address", func(s *Server) { s.PTR("host.test", "host.test") }, `"host.test" is not an IP address`},
		{"name", func(s *Server) { s.MX("a..test", 10, "mx.test") }, `"a..test" is not a domain name`},
		{"empty name", func(s *Server) { s.TXT("", "x") }, `"" is not a domain name`},
		{"label", func(s *Server) { s.CNAME(strings.Repeat("x", 64)+".test", "y.test") }, "is not a domain name"},
		{"CNAME after A", func(s *Server) { s.A("host.test", "192.0.2.1"); s.CNAME("host.test", "x.test") }, "a CNAME and other data"},
		{"A after CNAME", func(s *Server) { s.CNAME("host.test", "x.test"); s.A("Host.Test.", "192.0.2.1") }, "a CNAME and other data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fatalRecorder{TB: t}
			s := Start(rec)
			done := make(chan struct{})
			go func() {
				defer close(done)
				tt.add(s)
			}()
			<-done
			if !strings.Contains(rec.msg, tt.want) {
				t.Errorf("failure %q, want one with %q", rec.msg, tt.want)
			}
		})
	}
}
