// Package dns is facteur's view of the Domain Name System: the lookups a
// mail system needs (PTR, A/AAAA, MX, TXT; RFC 1035 §3.3), a System
// resolver over the standard library's, and Fake, an in-memory resolver
// for tests. TLSA records (RFC 6698, for DANE) need a DNS library that
// go.mod does not hold yet, and are not offered.
//
// A failed lookup is an *Error that says whether the name or the record
// is known not to exist (errors.Is(err, ErrNotFound): a permanent answer,
// RFC 2308 NXDOMAIN or NODATA) or whether the answer could not be had
// (errors.Is(err, ErrTemporary): a timeout, SERVFAIL, a network error);
// mail is deferred on the latter and refused only on the former.
package dns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
)

// Resolver answers the lookups facteur makes. A nil error comes with at
// least one answer; names are returned without their final dot.
type Resolver interface {
	// LookupAddr returns the PTR names of addr (RFC 1035 §3.5).
	LookupAddr(ctx context.Context, addr netip.Addr) ([]string, error)
	// LookupIP returns the IPv4 and IPv6 addresses of host (A, AAAA),
	// IPv4 ones unmapped.
	LookupIP(ctx context.Context, host string) ([]netip.Addr, error)
	// LookupMX returns the MX records of domain sorted by preference
	// (RFC 5321 §5.1). A null MX (RFC 7505) has the Host ".".
	LookupMX(ctx context.Context, domain string) ([]*net.MX, error)
	// LookupTXT returns the TXT records of name, each record's strings
	// joined into one (as SPF, RFC 7208 §3.3, and DMARC read them).
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Type names a kind of lookup, for errors and for Fake.
type Type string

// The lookups of Resolver.
const (
	TypePTR Type = "PTR"
	TypeIP  Type = "A/AAAA"
	TypeMX  Type = "MX"
	TypeTXT Type = "TXT"
)

// The two kinds of failure, for errors.Is.
var (
	// ErrNotFound: the name does not exist, or has no record of the type
	// asked (RFC 2308 §1: NXDOMAIN, NODATA). The answer is permanent.
	ErrNotFound = errors.New("not found")
	// ErrTemporary: no answer could be had (timeout, SERVFAIL, refused,
	// network error, canceled context). Trying later may succeed.
	ErrTemporary = errors.New("temporary failure")
)

// Error is a failed lookup.
type Error struct {
	Type     Type
	Name     string
	NotFound bool  // ErrNotFound when true, ErrTemporary otherwise
	Err      error // the cause, nil when there is nothing to add
}

func (e *Error) Error() string {
	s := "dns: " + string(e.Type) + " lookup of " + e.Name + ": " + e.kind().Error()
	if e.Err != nil && e.Err != e.kind() {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) kind() error {
	if e.NotFound {
		return ErrNotFound
	}
	return ErrTemporary
}

// Is makes errors.Is(err, ErrNotFound) and errors.Is(err, ErrTemporary)
// tell the two kinds apart.
func (e *Error) Is(target error) bool { return target == e.kind() }

// Unwrap returns the cause, so that errors.Is also finds, say,
// context.DeadlineExceeded.
func (e *Error) Unwrap() error { return e.Err }

// classify turns an error of the standard library's resolver (or a
// context's) into an *Error. Only a definite "no such name or record"
// is permanent: anything unclassified is temporary, so that a resolver
// fault defers mail rather than bouncing it.
func classify(t Type, name string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	var de *net.DNSError
	notFound := errors.As(err, &de) && de.IsNotFound && !de.IsTimeout && !de.IsTemporary
	return &Error{Type: t, Name: name, NotFound: notFound, Err: err}
}

// notFound is the error for an empty answer.
func notFound(t Type, name string) error {
	return &Error{Type: t, Name: name, NotFound: true}
}

// trimDot removes the final dot of an absolute name, but leaves the root
// "." (a null MX's host) alone.
func trimDot(name string) string {
	if len(name) > 1 {
		return strings.TrimSuffix(name, ".")
	}
	return name
}
