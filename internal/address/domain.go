package address

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

const maxLabel = 63 // RFC 1035 §2.3.4, in octets of the A-label

// mailIDNA maps and checks domains as RFC 5891 §5 asks of a lookup, with
// the mapping of UTS #46: case, width and compatibility mapping and NFC
// (RFC 5891 §5.2), Punycode (RFC 3492), code points valid in IDNA, the
// ContextJ rules (RFC 5892 Appendix A.1, A.2) and the Bidi rule
// (RFC 5893). Processing is nontransitional, as in IDNA2008: "ß" stays
// "ß". STD3 rules keep ASCII to letters, digits and '-', so "_" is
// refused. Hyphens are checked by checkLabel instead of UTS #46
// CheckHyphens, which would refuse LDH labels such as "r3---sn-x" that
// RFC 5321 allows. A Profile is read-only and safe for concurrent use.
var mailIDNA = idna.New(idna.MapForLookup(), idna.Transitional(false),
	idna.BidiRule(), idna.CheckHyphens(false))

// NormalizeDomain checks a domain or an address literal and returns its
// normal form: labels mapped to lower-case U-labels in NFC (RFC 5891 §5.2,
// UTS #46), A-labels ("xn--...") turned into U-labels (RFC 5890 §2.3.2.1),
// IP literals rewritten in their canonical form ("[192.0.2.1]",
// "[IPv6:2001:db8::1]"). Domains compare equal when their normal forms are
// equal.
func NormalizeDomain(d string) (string, error) {
	if d == "" {
		return "", fmt.Errorf("%w: empty domain", ErrSyntax)
	}
	if !utf8.ValidString(d) {
		return "", fmt.Errorf("%w: invalid UTF-8 in domain", ErrSyntax)
	}
	if d[0] == '[' {
		ip, err := parseLiteral(d)
		if err != nil {
			return "", err
		}
		return formatLiteral(ip), nil
	}
	if len(d) > maxDomain {
		return "", fmt.Errorf("%w: domain longer than %d octets", ErrSyntax, maxDomain)
	}
	u, a, err := mapDomain(d)
	if err != nil {
		return "", fmt.Errorf("%w in domain %q", err, d)
	}
	if len(a) > maxDomain {
		return "", fmt.Errorf("%w: domain longer than %d octets as A-labels", ErrSyntax, maxDomain)
	}
	return u, nil
}

// mapDomain returns a domain's U-label form and its A-label form, checking
// each label.
func mapDomain(d string) (ulabels, alabels string, err error) {
	u, a, err := idnaForms(d)
	if err != nil {
		return "", "", err
	}
	in, ul, al := strings.Split(d, "."), strings.Split(u, "."), strings.Split(a, ".")
	// UTS #46 maps U+3002 and other full stops to '.': RFC 5321 §4.1.2
	// and RFC 6531 §3.3 separate labels with '.' alone.
	if len(ul) != len(in) || len(al) != len(in) {
		return "", "", fmt.Errorf("%w: label separator other than '.'", ErrSyntax)
	}
	for i := range in {
		if err := checkLabel(in[i], ul[i], al[i]); err != nil {
			return "", "", err
		}
	}
	return u, a, nil
}

// idnaForms returns d mapped to U-labels and encoded as A-labels.
func idnaForms(d string) (u, a string, err error) {
	l := strings.ToLower(d)
	if isASCII(d) && !strings.HasPrefix(l, "xn--") && !strings.Contains(l, ".xn--") {
		// Without A-labels, an ASCII domain maps to its lower-casing
		// (checkLabel checks LDH): the common case, made cheap.
		return l, l, nil
	}
	if u, err = mailIDNA.ToUnicode(d); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if a, err = mailIDNA.ToASCII(u); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return u, a, nil
}

// checkLabel checks a label as written (in), mapped to its U-label or LDH
// form (u) and encoded as an A-label or LDH label (a).
func checkLabel(in, u, a string) error {
	if u == "" {
		return fmt.Errorf("%w: empty label", ErrSyntax)
	}
	if len(a) > maxLabel {
		return fmt.Errorf("%w: label longer than %d octets", ErrSyntax, maxLabel)
	}
	if isASCII(u) {
		return checkLDH(u)
	}
	// RFC 5891 §4.2.3.1: no hyphen at either end, nor in the third and
	// fourth positions.
	if strings.HasPrefix(u, "-") || strings.HasSuffix(u, "-") {
		return fmt.Errorf("%w: label %q starts or ends with '-'", ErrSyntax, u)
	}
	if r := []rune(u); len(r) >= 4 && r[2] == '-' && r[3] == '-' {
		return fmt.Errorf("%w: label %q has '--' in positions 3 and 4", ErrSyntax, u)
	}
	for _, r := range u {
		if !idna2008Valid(r) {
			return fmt.Errorf("%w: character %U not allowed by RFC 5892", ErrSyntax, r)
		}
	}
	// RFC 5891 §5.4: an A-label must be the encoding of its U-label.
	if l := strings.ToLower(in); strings.HasPrefix(l, "xn--") && l != a {
		return fmt.Errorf("%w: A-label %q is not canonical", ErrSyntax, in)
	}
	return nil
}

// checkLDH checks sub-domain = Let-dig [Ldh-str] (RFC 5321 §4.1.2) on a
// lower-case ASCII label.
func checkLDH(l string) error {
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("%w: label %q starts or ends with '-'", ErrSyntax, l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%w: bad character %q in label", ErrSyntax, c)
		}
	}
	return nil
}

// idna2008Valid refuses what UTS #46 keeps valid for compatibility with
// IDNA2003 but RFC 5892 disallows: symbols and punctuation (outside the
// LetterDigits of §2.1), the IgnorableBlocks of §2.4 and the DISALLOWED
// exceptions of §2.6. The CONTEXTO code points (Appendix A.3 to A.7, such
// as U+00B7 in Catalan "l·l") are refused too: their rules are not checked.
func idna2008Valid(r rune) bool {
	switch {
	case r == 0x06FD, r == 0x06FE, r == 0x0F0B, r == 0x3007: // §2.6 PVALID
		return true
	case r == 0x0640, r == 0x07FA, r == 0x302E, r == 0x302F,
		r >= 0x3031 && r <= 0x3035, r == 0x303B: // §2.6 DISALLOWED
		return false
	case r >= 0x20D0 && r <= 0x20FF, r >= 0x1D100 && r <= 0x1D24F: // §2.4
		return false
	}
	return r == '-' || unicode.In(r, unicode.Ll, unicode.Lu, unicode.Lo,
		unicode.Nd, unicode.Lm, unicode.Mn, unicode.Mc)
}

// toASCIIDomain writes a normalised domain with A-labels.
func toASCIIDomain(d string) (string, error) {
	if isASCII(d) || strings.HasPrefix(d, "[") {
		return d, nil
	}
	_, a, err := mapDomain(d)
	return a, err
}

// parseLiteral parses an address-literal (RFC 5321 §4.1.3): "[" IPv4 "]"
// or "[IPv6:" IPv6 "]". General address literals are refused: nothing can
// be delivered to them.
func parseLiteral(d string) (netip.Addr, error) {
	if len(d) < 2 || d[0] != '[' || d[len(d)-1] != ']' {
		return netip.Addr{}, fmt.Errorf("%w: bad address literal %q", ErrSyntax, d)
	}
	inner := d[1 : len(d)-1]
	if len(inner) > 5 && strings.EqualFold(inner[:5], "IPv6:") {
		ip, err := netip.ParseAddr(inner[5:])
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return netip.Addr{}, fmt.Errorf("%w: bad IPv6 address literal %q", ErrSyntax, d)
		}
		return ip, nil
	}
	if strings.Contains(inner, ":") {
		return netip.Addr{}, fmt.Errorf("%w: unsupported address literal %q", ErrSyntax, d)
	}
	return parseIPv4(inner, d)
}

// parseIPv4 parses IPv4-address-literal = Snum 3("." Snum), where Snum is
// one to three digits worth 0 to 255 (leading zeros allowed).
func parseIPv4(s, lit string) (netip.Addr, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return netip.Addr{}, fmt.Errorf("%w: bad IPv4 address literal %q", ErrSyntax, lit)
	}
	var b [4]byte
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || len(p) > 3 || p[0] < '0' || p[0] > '9' || n > 255 {
			return netip.Addr{}, fmt.Errorf("%w: bad IPv4 address literal %q", ErrSyntax, lit)
		}
		b[i] = byte(n)
	}
	return netip.AddrFrom4(b), nil
}

func formatLiteral(ip netip.Addr) string {
	if ip.Is4() {
		return "[" + ip.String() + "]"
	}
	return "[IPv6:" + ip.String() + "]"
}
