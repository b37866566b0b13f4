package address

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

const maxLabel = 63 // RFC 1035 §2.3.4, in octets of the A-label

// NormalizeDomain checks a domain or an address literal and returns its
// normal form: labels in lower case, A-labels ("xn--...") turned into
// U-labels (RFC 5890 §2.3.2.1), IP literals rewritten in their canonical
// form ("[192.0.2.1]", "[IPv6:2001:db8::1]"). Domains compare equal when
// their normal forms are equal.
//
// Mapping is limited to lower-casing: Unicode normalisation (NFC) is not
// applied, so a U-label should be given already in NFC, as RFC 5891 §5.3
// asks of the sender.
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
	labels := strings.Split(d, ".")
	asciiLen := len(labels) - 1
	for i, l := range labels {
		u, a, err := normalizeLabel(l)
		if err != nil {
			return "", fmt.Errorf("%w in domain %q", err, d)
		}
		labels[i] = u
		asciiLen += len(a)
	}
	if asciiLen > maxDomain {
		return "", fmt.Errorf("%w: domain longer than %d octets as A-labels", ErrSyntax, maxDomain)
	}
	return strings.Join(labels, "."), nil
}

// normalizeLabel returns a label's U-label (or lower-case LDH) form and its
// A-label (or LDH) form.
func normalizeLabel(l string) (ulabel, alabel string, err error) {
	if l == "" {
		return "", "", fmt.Errorf("%w: empty label", ErrSyntax)
	}
	if !isASCII(l) {
		u := strings.ToLower(l)
		if err := checkULabel(u); err != nil {
			return "", "", err
		}
		a := "xn--" + punyEncode(u)
		if len(a) > maxLabel {
			return "", "", fmt.Errorf("%w: label longer than %d octets", ErrSyntax, maxLabel)
		}
		return u, a, nil
	}
	l = strings.ToLower(l)
	if err := checkLDH(l); err != nil {
		return "", "", err
	}
	if strings.HasPrefix(l, "xn--") {
		u, err := decodeALabel(l)
		return u, l, err
	}
	return l, l, nil
}

// checkLDH checks sub-domain = Let-dig [Ldh-str] (RFC 5321 §4.1.2) on a
// lower-case ASCII label.
func checkLDH(l string) error {
	if len(l) > maxLabel {
		return fmt.Errorf("%w: label longer than %d octets", ErrSyntax, maxLabel)
	}
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

// checkULabel approximates the U-label rules of RFC 5891 §4.2.3 and
// RFC 5892 on a lower-case label: letters, digits, combining marks and
// '-'; no hyphen at either end or in the third and fourth positions; no
// combining mark first.
func checkULabel(u string) error {
	if strings.HasPrefix(u, "-") || strings.HasSuffix(u, "-") {
		return fmt.Errorf("%w: label %q starts or ends with '-'", ErrSyntax, u)
	}
	if r := []rune(u); len(r) >= 4 && r[2] == '-' && r[3] == '-' {
		return fmt.Errorf("%w: label %q has '--' in positions 3 and 4", ErrSyntax, u)
	}
	for i, r := range u {
		mark := unicode.In(r, unicode.Mn, unicode.Mc, unicode.Me)
		if i == 0 && mark {
			return fmt.Errorf("%w: label %q starts with a combining mark", ErrSyntax, u)
		}
		ok := r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' ||
			r >= 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || mark)
		if !ok || unicode.IsUpper(r) {
			return fmt.Errorf("%w: character %U not allowed in domain", ErrSyntax, r)
		}
	}
	return nil
}

// decodeALabel turns "xn--..." into its U-label, refusing A-labels that do
// not round-trip (RFC 5891 §5.4: the A-label must be the encoding of a
// valid U-label).
func decodeALabel(a string) (string, error) {
	u, err := punyDecode(a[len("xn--"):])
	if err != nil {
		return "", fmt.Errorf("%w: bad A-label %q: %v", ErrSyntax, a, err)
	}
	if isASCII(u) {
		return "", fmt.Errorf("%w: A-label %q decodes to ASCII", ErrSyntax, a)
	}
	if err := checkULabel(u); err != nil {
		return "", err
	}
	if "xn--"+punyEncode(u) != a {
		return "", fmt.Errorf("%w: A-label %q is not canonical", ErrSyntax, a)
	}
	return u, nil
}

// toASCIIDomain writes a normalised domain with A-labels.
func toASCIIDomain(d string) (string, error) {
	if isASCII(d) || strings.HasPrefix(d, "[") {
		return d, nil
	}
	labels := strings.Split(d, ".")
	for i, l := range labels {
		_, a, err := normalizeLabel(l)
		if err != nil {
			return "", err
		}
		labels[i] = a
	}
	return strings.Join(labels, "."), nil
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
