// Package address owns mailbox syntax: the Path, Mailbox, Local-part and
// Domain productions of RFC 5321 §4.1.2 (with the address literals of
// §4.1.3), the length limits of RFC 5321 §4.5.3.1, the UTF-8 extensions of
// RFC 6531 §3.3, domain normalisation (case, IP literals, and the A-labels
// and U-labels of IDNA2008, RFC 5890 to RFC 5893, through
// golang.org/x/net/idna) and the split of a local part into base and
// extension (Postfix's recipient_delimiter).
//
// It knows nothing of policy: whether an address is local, relayed or
// refused is decided elsewhere.
package address

import (
	"errors"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// ErrSyntax reports an address that does not follow RFC 5321 (or RFC 6531
// when UTF-8 is allowed). It is wrapped with detail; test with errors.Is.
var ErrSyntax = errors.New("address syntax error")

// ErrNeedsSMTPUTF8 reports a non-ASCII address given in a session that did
// not ask for SMTPUTF8 (RFC 6531 §3.4); servers answer 553 5.6.7.
var ErrNeedsSMTPUTF8 = errors.New("non-ASCII address without SMTPUTF8")

// Address is a mailbox. The zero Address is the null reverse-path <>.
type Address struct {
	// Local is the local part, unquoted: `"Pascal Petit"@foo.fr` has Local
	// `Pascal Petit`. Its case is kept (RFC 5321 §2.4).
	Local string
	// Domain is the lower-case domain in U-label form, or a normalised
	// address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]"). It is "" only
	// for the domainless <postmaster> of RFC 5321 §4.1.1.3.
	Domain string
}

// IsZero reports the null address <>.
func (a Address) IsZero() bool { return a.Local == "" && a.Domain == "" }

// IsPostmaster reports the domainless "postmaster" (any case), which every
// server must accept as a recipient (RFC 5321 §4.5.1).
func (a Address) IsPostmaster() bool {
	return a.Domain == "" && strings.EqualFold(a.Local, "postmaster")
}

// String returns the address as written in a path, without the angle
// brackets: the local part is quoted when it is not a Dot-string
// (RFC 5321 §4.1.2). The null address gives "".
func (a Address) String() string {
	if a.IsZero() {
		return ""
	}
	local := quoteLocal(a.Local)
	if a.Domain == "" {
		return local
	}
	return local + "@" + a.Domain
}

// ASCIIDomain returns the domain in A-label form ("xn--..."), as it must
// be written to a peer that did not offer SMTPUTF8. Address literals and
// ASCII domains are returned unchanged.
func (a Address) ASCIIDomain() string {
	d, err := toASCIIDomain(a.Domain)
	if err != nil {
		// Only a hand-built Address can hold an invalid domain.
		return a.Domain
	}
	return d
}

// NeedsSMTPUTF8 reports whether the local part or the domain holds
// non-ASCII characters. A non-ASCII domain alone can still be written to a
// peer without SMTPUTF8 in its A-label form (ASCIIDomain); a non-ASCII
// local part cannot.
func (a Address) NeedsSMTPUTF8() bool {
	return !isASCII(a.Local) || !isASCII(a.Domain)
}

// IP returns the address named by an address-literal domain
// ("[192.0.2.1]", "[IPv6:2001:db8::1]"), and false for any other domain.
func (a Address) IP() (netip.Addr, bool) {
	if !strings.HasPrefix(a.Domain, "[") {
		return netip.Addr{}, false
	}
	ip, err := parseLiteral(a.Domain)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip, true
}

// SplitExtension splits a local part at the first character that is one of
// delimiters (Postfix's recipient_delimiter): "petit+adieve" with "+" gives
// "petit", "adieve". As in Postfix, a local part that starts with a
// delimiter is not split, nor, when "-" is a delimiter, "owner-foo" and
// "foo-request" (mailing-list conventions). With no delimiters, or none
// found, it returns (local, "").
func SplitExtension(local, delimiters string) (base, ext string) {
	if delimiters == "" {
		return local, ""
	}
	if strings.Contains(delimiters, "-") {
		lower := strings.ToLower(local)
		if strings.HasPrefix(lower, "owner-") ||
			(len(lower) > len("-request") && strings.HasSuffix(lower, "-request")) {
			return local, ""
		}
	}
	i := strings.IndexAny(local, delimiters)
	if i <= 0 {
		return local, ""
	}
	_, size := utf8.DecodeRuneInString(local[i:])
	return local[:i], local[i+size:]
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
