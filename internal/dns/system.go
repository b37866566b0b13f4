package dns

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
)

// System resolves through the standard library's resolver: the host's
// own configuration (/etc/hosts, /etc/resolv.conf) or, when NewSystem is
// given name servers (dns_nameservers), Go's resolver sending every query
// to those servers in turn.
type System struct {
	r       *net.Resolver
	servers []string
	next    atomic.Uint64
}

// NewSystem returns a resolver that asks nameservers (host:port; a bare
// address means port 53), or the system's resolver when there are none.
func NewSystem(nameservers []string) *System {
	// StrictErrors: a SERVFAIL or timeout anywhere is a temporary failure
	// of the whole lookup, never hidden by a later "no such host".
	s := &System{r: &net.Resolver{StrictErrors: true}}
	for _, ns := range nameservers {
		s.servers = append(s.servers, withPort(ns))
	}
	if len(s.servers) > 0 {
		s.r = &net.Resolver{PreferGo: true, StrictErrors: true, Dial: s.dial}
	}
	return s
}

// withPort adds the DNS port (RFC 1035 §4.2) to an address without one.
func withPort(ns string) string {
	if _, _, err := net.SplitHostPort(ns); err == nil {
		return ns
	}
	if a, err := netip.ParseAddr(trimBrackets(ns)); err == nil {
		return netip.AddrPortFrom(a, 53).String()
	}
	return net.JoinHostPort(ns, "53")
}

func trimBrackets(s string) string {
	if len(s) > 1 && s[0] == '[' && s[len(s)-1] == ']' {
		return s[1 : len(s)-1]
	}
	return s
}

// dial replaces the server Go's resolver chose from resolv.conf with the
// next of ours, so that its retries go round the configured servers.
func (s *System) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	i := s.next.Add(1) - 1
	var d net.Dialer
	return d.DialContext(ctx, network, s.servers[i%uint64(len(s.servers))])
}

// LookupAddr implements Resolver.
func (s *System) LookupAddr(ctx context.Context, addr netip.Addr) ([]string, error) {
	addr = addr.Unmap() // an IPv4 client's name is under in-addr.arpa
	names, err := s.r.LookupAddr(ctx, addr.String())
	// Go drops malformed PTR names and reports them with the rest: the
	// valid ones are the answer.
	if len(names) == 0 {
		if err != nil {
			return nil, classify(TypePTR, addr.String(), err)
		}
		return nil, notFound(TypePTR, addr.String())
	}
	for i, n := range names {
		names[i] = trimDot(n)
	}
	return names, nil
}

// LookupIP implements Resolver.
func (s *System) LookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	// As given, not absolute: a host name may be in /etc/hosts, which
	// Go's resolver does not consult for a name with the final dot.
	addrs, err := s.r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, classify(TypeIP, host, err)
	}
	if len(addrs) == 0 {
		return nil, notFound(TypeIP, host)
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs, nil
}

// LookupMX implements Resolver.
func (s *System) LookupMX(ctx context.Context, domain string) ([]*net.MX, error) {
	mxs, err := s.r.LookupMX(ctx, absolute(domain))
	// As for PTR: records with malformed hosts are dropped, the rest kept.
	if len(mxs) == 0 {
		if err != nil {
			return nil, classify(TypeMX, domain, err)
		}
		return nil, notFound(TypeMX, domain)
	}
	for _, mx := range mxs {
		mx.Host = trimDot(mx.Host)
	}
	return mxs, nil
}

// LookupTXT implements Resolver.
func (s *System) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, err := s.r.LookupTXT(ctx, absolute(name))
	if err != nil {
		return nil, classify(TypeTXT, name, err)
	}
	if len(txts) == 0 {
		return nil, notFound(TypeTXT, name)
	}
	return txts, nil
}

// absolute adds the final dot to a domain name, so that an MX or TXT
// lookup never tries the search list of resolv.conf: a mail domain is
// always a full name (Postfix asks with RES_DEFNAMES and RES_DNSRCH off).
// An IP address is left as it is.
func absolute(name string) string {
	if name == "" || strings.HasSuffix(name, ".") {
		return name
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return name
	}
	return name + "."
}
