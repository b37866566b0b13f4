// Package dnstest is an authoritative DNS server on loopback for tests
// (RFC 1034, RFC 1035), built on github.com/miekg/dns: a test fills it
// with MX, A/AAAA, TXT, PTR and CNAME records, points a resolver at
// Addr (dns_nameservers) and sees its lookups answered as a real server
// answers them, over UDP and, for answers too big for UDP, over TCP on
// the same port.
//
// A name with no record (and no name below it) is NXDOMAIN; a name with
// records but none of the type asked is NODATA. Both carry an SOA in the
// authority section (RFC 2308 §2), so that resolvers classify and cache
// them as negative answers. Failures are on demand: SERVFAIL, or no
// answer at all.
package dnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// TTL is the time to live of every record and, through the SOA's MINIMUM,
// of every negative answer (RFC 2308 §5).
const TTL = 60

// maxChain bounds the CNAME chain followed for one answer, so that a
// CNAME loop ends (as SERVFAIL).
const maxChain = 8

// ednsSize is the UDP payload size the server advertises (RFC 6891 §6.2.5;
// 1232 is the DNS Flag Day 2020 value, which Go's resolver also sends).
const ednsSize = 1232

// Server is an authoritative DNS server for tests on 127.0.0.1 (UDP and
// TCP on the same port). Names are case-insensitive and may be given with
// or without their final dot. Records may be added while the server
// answers; the methods that add them report a bad argument with t.Fatal,
// so call them from the test's goroutine.
type Server struct {
	t    testing.TB
	addr string

	mu    sync.Mutex
	names map[string]*node // by lower-case absolute name

	answered atomic.Int64
}

// node is what the server holds for one name.
type node struct {
	rrs      []mdns.RR
	servFail bool
	silent   bool
}

// soa returns the SOA of the zone the server is authoritative for: all
// of it, from the root down.
func soa() mdns.RR {
	return &mdns.SOA{
		Hdr:     mdns.RR_Header{Name: ".", Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: TTL},
		Ns:      "ns.dnstest.",
		Mbox:    "hostmaster.dnstest.",
		Serial:  1,
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  TTL,
	}
}

// Start starts a server on 127.0.0.1 on a free port, UDP and TCP, and
// stops it when the test ends (t.Cleanup).
func Start(t testing.TB) *Server {
	t.Helper()
	pc, l, err := listen()
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	s := &Server{t: t, addr: pc.LocalAddr().String(), names: make(map[string]*node)}
	h := mdns.HandlerFunc(s.serve)
	udp := &mdns.Server{PacketConn: pc, Handler: h}
	tcp := &mdns.Server{Listener: l, Handler: h}
	var wg sync.WaitGroup
	var started []*mdns.Server
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, srv := range started {
			srv.ShutdownContext(ctx)
		}
		wg.Wait()
	})
	for _, srv := range []*mdns.Server{udp, tcp} {
		if err := run(srv, &wg); err != nil {
			pc.Close()
			l.Close()
			t.Fatalf("dnstest: starting the server on %s: %v", s.addr, err)
		}
		started = append(started, srv)
	}
	return s
}

// listen binds UDP on a free port of 127.0.0.1, then TCP on the same
// port, trying again with another port when that one is taken for TCP.
func listen() (net.PacketConn, net.Listener, error) {
	var err error
	for range 10 {
		var pc net.PacketConn
		pc, err = net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("listening on UDP: %w", err)
		}
		var l net.Listener
		l, err = net.Listen("tcp4", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
	}
	return nil, nil, fmt.Errorf("listening on TCP on the UDP port: %w", err)
}

// run starts srv in a goroutine counted by wg and waits until it serves.
func run(srv *mdns.Server, wg *sync.WaitGroup) error {
	ready := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(ready) }
	done := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		done <- srv.ActivateAndServe()
	}()
	select {
	case <-ready:
		return nil
	case err := <-done:
		if err == nil {
			err = errors.New("server stopped at once")
		}
		return err
	}
}

// Addr returns the server's address, "127.0.0.1:PORT", for UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Queries returns how many queries the server has answered so far (those
// of a Silent name are not answered).
func (s *Server) Queries() int { return int(s.answered.Load()) }

// MX adds an MX record to domain. The host "." makes a null MX (RFC 7505
// §3: preference 0 by convention, but pref is kept as given).
func (s *Server) MX(domain string, pref uint16, host string) {
	s.t.Helper()
	s.add(&mdns.MX{Hdr: s.header(domain, mdns.TypeMX), Preference: pref, Mx: s.target(host)})
}

// A adds an A record to name for each IPv4 address of addrs (IPv4-mapped
// ones included) and an AAAA record for each IPv6 one.
func (s *Server) A(name string, addrs ...string) {
	s.t.Helper()
	for _, a := range addrs {
		ip := s.parseAddr(a)
		if ip.Is4() {
			s.add(&mdns.A{Hdr: s.header(name, mdns.TypeA), A: net.IP(ip.AsSlice())})
		} else {
			s.add(&mdns.AAAA{Hdr: s.header(name, mdns.TypeAAAA), AAAA: net.IP(ip.AsSlice())})
		}
	}
}

// TXT adds one TXT record to name made of the strings txt, each cut into
// character-strings of at most 255 octets (RFC 1035 §3.3.14, §3.3); a
// reader joins them back (RFC 7208 §3.3). Call it again for a second
// record.
func (s *Server) TXT(name string, txt ...string) {
	s.t.Helper()
	var parts []string
	for _, t := range txt {
		for len(t) > 255 {
			parts = append(parts, escapeTXT(t[:255]))
			t = t[255:]
		}
		parts = append(parts, escapeTXT(t))
	}
	s.add(&mdns.TXT{Hdr: s.header(name, mdns.TypeTXT), Txt: parts})
}

// escapeTXT writes s as miekg/dns expects a TXT string: with its
// backslashes escaped, so that every octet is sent as given.
func escapeTXT(s string) string { return strings.ReplaceAll(s, `\`, `\\`) }

// PTR adds a PTR record for each of names to the reverse name of the
// address addr (RFC 1035 §3.5 in-addr.arpa, RFC 3596 §2.5 ip6.arpa).
func (s *Server) PTR(addr string, names ...string) {
	s.t.Helper()
	rev, err := mdns.ReverseAddr(s.parseAddr(addr).String())
	if err != nil {
		s.t.Fatalf("dnstest: reverse name of %q: %v", addr, err)
	}
	for _, n := range names {
		s.add(&mdns.PTR{Hdr: s.header(rev, mdns.TypePTR), Ptr: s.target(n)})
	}
}

// CNAME makes name an alias of target. A name with a CNAME has no other
// record (RFC 2181 §10.1): adding one next to it fails the test.
func (s *Server) CNAME(name, target string) {
	s.t.Helper()
	s.add(&mdns.CNAME{Hdr: s.header(name, mdns.TypeCNAME), Target: s.target(target)})
}

// ServFail makes every query for name, of any type, answered SERVFAIL
// (RFC 1035 §4.1.1 RCODE 2).
func (s *Server) ServFail(name string) {
	s.t.Helper()
	s.mark(s.canonical(name), func(n *node) { n.servFail = true })
}

// Silent makes every query for name, of any type, go unanswered, so
// that the client times out.
func (s *Server) Silent(name string) {
	s.t.Helper()
	s.mark(s.canonical(name), func(n *node) { n.silent = true })
}

// canonical returns name lower case and absolute, failing the test when
// it is not a domain name.
func (s *Server) canonical(name string) string {
	s.t.Helper()
	return strings.ToLower(s.target(name))
}

// target returns name absolute, failing the test when it is not a domain
// name.
func (s *Server) target(name string) string {
	s.t.Helper()
	if _, ok := mdns.IsDomainName(name); !ok || name == "" {
		s.t.Fatalf("dnstest: %q is not a domain name", name)
	}
	return mdns.Fqdn(name)
}

func (s *Server) header(name string, rrtype uint16) mdns.RR_Header {
	s.t.Helper()
	return mdns.RR_Header{Name: s.canonical(name), Rrtype: rrtype, Class: mdns.ClassINET, Ttl: TTL}
}

func (s *Server) parseAddr(a string) netip.Addr {
	s.t.Helper()
	ip, err := netip.ParseAddr(a)
	if err != nil || ip.Zone() != "" {
		s.t.Fatalf("dnstest: %q is not an IP address", a)
	}
	return ip.Unmap()
}

// mark changes the node of name under the lock.
func (s *Server) mark(name string, change func(*node)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(s.nodeLocked(name))
}

// nodeLocked returns the node of name, made if need be.
func (s *Server) nodeLocked(name string) *node {
	n := s.names[name]
	if n == nil {
		n = &node{}
		s.names[name] = n
	}
	return n
}

// add adds rr to its owner's node, refusing a CNAME next to other data.
func (s *Server) add(rr mdns.RR) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodeLocked(rr.Header().Name)
	for _, old := range n.rrs {
		if old.Header().Rrtype == mdns.TypeCNAME || rr.Header().Rrtype == mdns.TypeCNAME {
			s.t.Fatalf("dnstest: %s: a CNAME and other data at one name (RFC 2181 §10.1)", rr.Header().Name)
		}
	}
	n.rrs = append(n.rrs, rr)
}

// serve answers one query. A query for a Silent name gets no answer.
func (s *Server) serve(w mdns.ResponseWriter, req *mdns.Msg) {
	resp := s.answer(req)
	if resp == nil {
		return
	}
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(ednsSize, false) // RFC 6891 §7: an OPT answers an OPT
	}
	if _, ok := w.RemoteAddr().(*net.UDPAddr); ok {
		// RFC 1035 §4.2.1, RFC 6891 §6.2.5: what does not fit is cut and
		// TC set, so that the client asks again over TCP.
		size := mdns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = max(size, int(opt.UDPSize()))
		}
		resp.Truncate(size)
	}
	if err := w.WriteMsg(resp); err == nil {
		s.answered.Add(1)
	}
}

// answer builds the response to req, or returns nil for no response.
func (s *Server) answer(req *mdns.Msg) *mdns.Msg {
	resp := new(mdns.Msg)
	resp.SetReply(req) // carries the question
	resp.Authoritative = true
	if req.Opcode != mdns.OpcodeQuery {
		resp.Rcode = mdns.RcodeNotImplemented
		return resp
	}
	q := req.Question[0] // miekg/dns refuses a query without exactly one
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		resp.Rcode = mdns.RcodeRefused
		return resp
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	owner, name := q.Name, strings.ToLower(q.Name)
	for range maxChain {
		n := s.names[name]
		switch {
		case n != nil && n.silent:
			return nil
		case n != nil && n.servFail:
			resp.Answer = nil
			resp.Rcode = mdns.RcodeServerFailure
			return resp
		case n == nil && !s.hasBelow(name):
			// RFC 2308 §2.1: NXDOMAIN, with the SOA for its TTL. After a
			// CNAME the code is that of the last name (RFC 6604 §2.1).
			resp.Rcode = mdns.RcodeNameError
			resp.Ns = []mdns.RR{soa()}
			return resp
		}
		rrs, alias := n.match(q.Qtype)
		for _, rr := range rrs {
			resp.Answer = append(resp.Answer, withOwner(rr, owner))
		}
		if len(rrs) > 0 {
			return resp
		}
		if alias == nil {
			// RFC 2308 §2.2: NODATA, an empty answer with the SOA. A name
			// with only names below it (an empty non-terminal) is here too
			// (RFC 8020 §2).
			resp.Ns = []mdns.RR{soa()}
			return resp
		}
		// RFC 1034 §4.3.2 step 3a: the CNAME, then the answer for its
		// target, as far as the server's own data goes.
		resp.Answer = append(resp.Answer, withOwner(alias, owner))
		owner = alias.Target
		name = strings.ToLower(alias.Target)
	}
	// A CNAME chain too long, or a loop.
	resp.Answer = nil
	resp.Rcode = mdns.RcodeServerFailure
	return resp
}

// match returns the records of n of type qtype (all for ANY), or else the
// CNAME of n, if any. n may be nil (an empty non-terminal).
func (n *node) match(qtype uint16) ([]mdns.RR, *mdns.CNAME) {
	if n == nil {
		return nil, nil
	}
	var rrs []mdns.RR
	var alias *mdns.CNAME
	for _, rr := range n.rrs {
		if rr.Header().Rrtype == qtype || qtype == mdns.TypeANY {
			rrs = append(rrs, rr)
		}
		if c, ok := rr.(*mdns.CNAME); ok {
			alias = c
		}
	}
	return rrs, alias
}

// hasBelow tells whether some name below name is held, which makes name
// exist (an empty non-terminal; RFC 8020 §2).
func (s *Server) hasBelow(name string) bool {
	if name == "." {
		return len(s.names) > 0
	}
	for k := range s.names {
		if strings.HasSuffix(k, "."+name) {
			return true
		}
	}
	return false
}

// withOwner returns a copy of rr owned by owner: the name as the query
// spelt it, case included.
func withOwner(rr mdns.RR, owner string) mdns.RR {
	c := mdns.Copy(rr)
	c.Header().Name = owner
	return c
}
