package smtpd

import (
	"context"
	"net/netip"
	"strings"
	"time"
)

// Resolver is what smtpd asks of DNS to name its clients; the dns
// package's System and Fake satisfy it.
type Resolver interface {
	LookupAddr(ctx context.Context, addr netip.Addr) ([]string, error)
	LookupIP(ctx context.Context, host string) ([]netip.Addr, error)
}

const (
	// defaultPeernameTimeout bounds the reverse and forward lookups of
	// one client together.
	defaultPeernameTimeout = 10 * time.Second
	// maxPTRNames bounds the PTR names tried for one client: each costs a
	// forward lookup, and a real PTR set is one or two names.
	maxPTRNames = 4
)

// peerName returns the client's verified name, "" when there is none
// (the log then says "unknown", as Postfix does). RFC 5321 §4.4 wants the
// reverse name in the Received field; as Postfix does, a PTR name is kept
// only when a forward lookup of it gives the client's address back, since
// whoever holds an address block can write any name in its PTR records.
func (s *Server) peerName(ctx context.Context, addr netip.Addr) string {
	if !s.cfg.PeernameLookup || s.cfg.Resolver == nil || !addr.IsValid() {
		return ""
	}
	// The resolver's deep calls would grow the session goroutine's stack,
	// which an idle session then keeps (1,000 idle sessions must stay well
	// under 50 MB): the lookup runs on a goroutine of its own that ends.
	name := make(chan string, 1)
	go func() { name <- s.lookupPeerName(ctx, addr) }()
	return <-name
}

func (s *Server) lookupPeerName(ctx context.Context, addr netip.Addr) string {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PeernameTimeout)
	defer cancel()
	names, err := s.cfg.Resolver.LookupAddr(ctx, addr)
	if err != nil {
		s.cfg.Debug.Debug("smtpd: no reverse name", "addr", addr, "err", err)
		return ""
	}
	for _, name := range names[:min(len(names), maxPTRNames)] {
		if name = strings.TrimSuffix(name, "."); s.confirmed(ctx, name, addr) {
			return name
		}
	}
	return ""
}

// confirmed reports whether name, from a PTR record of addr, is a host
// name whose addresses include addr; it logs why not as Postfix does.
func (s *Server) confirmed(ctx context.Context, name string, addr netip.Addr) bool {
	if !validHostname(name) {
		s.cfg.Log.Warn("malformed or numeric name %q in PTR record of %s", name, addr)
		return false
	}
	ips, err := s.cfg.Resolver.LookupIP(ctx, name)
	if err != nil {
		s.cfg.Log.Warn("hostname %s does not resolve to address %s: %v", name, addr, err)
		return false
	}
	for _, ip := range ips {
		if ip.Unmap() == addr {
			return true
		}
	}
	s.cfg.Log.Warn("hostname %s does not resolve to address %s", name, addr)
	return false
}

// validHostname reports whether name is a host name by RFC 1123 §2.1
// (letters, digits and hyphens, in labels of 1 to 63 octets that neither
// start nor end with a hyphen; 253 octets in all), with the underscore
// that real PTR records hold. A numeric name is refused: no top-level
// domain is all digits (RFC 3696 §2), and a name that reads as an address
// would let a PTR record pass for one.
func validHostname(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if !validLabel(l) {
			return false
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// clientName is Postfix's NAME[ADDR] for the log.
func clientName(name string, addr netip.Addr) string {
	if name == "" {
		name = "unknown"
	}
	if !addr.IsValid() {
		return name + "[unknown]"
	}
	return name + "[" + addr.String() + "]"
}
