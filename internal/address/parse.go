package address

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Length limits of RFC 5321 §4.5.3.1, in octets.
const (
	maxLocal  = 64  // §4.5.3.1.1: local part
	maxDomain = 255 // §4.5.3.1.2: domain
	maxPath   = 256 // §4.5.3.1.3: path, angle brackets included
)

// ParseReversePath parses the argument of MAIL FROM, angle brackets
// included (RFC 5321 §4.1.2 Reverse-path). "<>" gives the zero Address.
// A source route ("<@a,@b:user@d>") is accepted and ignored (RFC 5321
// §4.1.2 and Appendix C). Non-ASCII is accepted only when smtputf8 is set;
// otherwise the error wraps ErrNeedsSMTPUTF8.
func ParseReversePath(path string, smtputf8 bool) (Address, error) {
	if path == "<>" {
		return Address{}, nil
	}
	return parsePath(path, smtputf8, false)
}

// ParseForwardPath parses the argument of RCPT TO, angle brackets included
// (RFC 5321 §4.1.2 Forward-path). "<postmaster>" in any case is accepted
// without a domain (RFC 5321 §4.1.1.3) and gives Local "postmaster".
// Source routes and SMTPUTF8 are handled as in ParseReversePath.
func ParseForwardPath(path string, smtputf8 bool) (Address, error) {
	return parsePath(path, smtputf8, true)
}

// Parse parses a bare mailbox, without angle brackets, as found in
// configuration files, on the command line or after VRFY. UTF-8 is allowed
// (RFC 6531). "postmaster" alone is accepted as in ParseForwardPath.
func Parse(s string) (Address, error) {
	if err := checkText(s, true); err != nil {
		return Address{}, err
	}
	if len(s) > maxPath-2 {
		return Address{}, fmt.Errorf("%w: address longer than %d octets", ErrSyntax, maxPath-2)
	}
	if strings.EqualFold(s, "postmaster") {
		return Address{Local: "postmaster"}, nil
	}
	return parseMailbox(s)
}

func parsePath(path string, smtputf8, postmasterOK bool) (Address, error) {
	if err := checkText(path, smtputf8); err != nil {
		return Address{}, err
	}
	if len(path) > maxPath {
		return Address{}, fmt.Errorf("%w: path longer than %d octets", ErrSyntax, maxPath)
	}
	if len(path) < 2 || path[0] != '<' || path[len(path)-1] != '>' {
		return Address{}, fmt.Errorf("%w: path not enclosed in <>", ErrSyntax)
	}
	inner, err := skipSourceRoute(path[1 : len(path)-1])
	if err != nil {
		return Address{}, err
	}
	if postmasterOK && strings.EqualFold(inner, "postmaster") {
		return Address{Local: "postmaster"}, nil
	}
	return parseMailbox(inner)
}

// checkText refuses what no address may hold, whatever its place: invalid
// UTF-8 and control characters (CR, LF and NUL among them), and non-ASCII
// when the session did not ask for SMTPUTF8 (RFC 6531 §3.4).
func checkText(s string, utf8OK bool) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: invalid UTF-8", ErrSyntax)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: control character %U", ErrSyntax, r)
		}
	}
	if !utf8OK && !isASCII(s) {
		return fmt.Errorf("%w: %q", ErrNeedsSMTPUTF8, s)
	}
	return nil
}

// skipSourceRoute removes an A-d-l prefix ("@a,@b:"), checking that each
// At-domain is a domain. RFC 5321 §4.1.2 and Appendix C: servers must
// accept source routes and should ignore them.
func skipSourceRoute(s string) (string, error) {
	if !strings.HasPrefix(s, "@") {
		return s, nil
	}
	route, rest, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("%w: source route without ':'", ErrSyntax)
	}
	for _, hop := range strings.Split(route, ",") {
		d, ok := strings.CutPrefix(hop, "@")
		if !ok || strings.HasPrefix(d, "[") {
			return "", fmt.Errorf("%w: bad source route %q", ErrSyntax, route)
		}
		if _, err := NormalizeDomain(d); err != nil {
			return "", fmt.Errorf("source route: %w", err)
		}
	}
	return rest, nil
}

// parseMailbox parses Local-part "@" ( Domain / address-literal ).
func parseMailbox(s string) (Address, error) {
	local, rest, err := parseLocal(s)
	if err != nil {
		return Address{}, err
	}
	domain, ok := strings.CutPrefix(rest, "@")
	if !ok {
		return Address{}, fmt.Errorf("%w: missing @domain in %q", ErrSyntax, s)
	}
	d, err := NormalizeDomain(domain)
	if err != nil {
		return Address{}, err
	}
	return Address{Local: local, Domain: d}, nil
}

// parseLocal reads a Local-part at the start of s and returns its unquoted
// content and what follows it.
func parseLocal(s string) (local, rest string, err error) {
	if strings.HasPrefix(s, `"`) {
		return parseQuoted(s)
	}
	end := strings.IndexByte(s, '@')
	if end < 0 {
		end = len(s)
	}
	local = s[:end]
	if len(local) > maxLocal {
		return "", "", fmt.Errorf("%w: local part longer than %d octets", ErrSyntax, maxLocal)
	}
	if !isDotString(local) {
		return "", "", fmt.Errorf("%w: bad local part %q", ErrSyntax, local)
	}
	return local, s[end:], nil
}

// parseQuoted reads a Quoted-string (RFC 5321 §4.1.2, extended with
// UTF8-non-ascii by RFC 6531 §3.3) at the start of s.
func parseQuoted(s string) (local, rest string, err error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			if i+1 > maxLocal {
				return "", "", fmt.Errorf("%w: local part longer than %d octets", ErrSyntax, maxLocal)
			}
			return b.String(), s[i+1:], nil
		case c == '\\':
			// quoted-pairSMTP = %d92 %d32-126
			if i+1 >= len(s) || s[i+1] < 32 || s[i+1] > 126 {
				return "", "", fmt.Errorf("%w: bad quoted pair in local part", ErrSyntax)
			}
			i++
			b.WriteByte(s[i])
		case c >= 32 && c != 127:
			b.WriteByte(c)
		default:
			return "", "", fmt.Errorf("%w: bad character in quoted local part", ErrSyntax)
		}
	}
	return "", "", fmt.Errorf("%w: unterminated quoted local part", ErrSyntax)
}

// isDotString reports Dot-string = Atom *("." Atom), atext extended with
// UTF8-non-ascii (RFC 6531 §3.3).
func isDotString(s string) bool {
	if s == "" {
		return false
	}
	for _, atom := range strings.Split(s, ".") {
		if atom == "" {
			return false
		}
		for _, r := range atom {
			if !isAtext(r) {
				return false
			}
		}
	}
	return true
}

// isAtext reports RFC 5322 §3.2.3 atext, plus UTF8-non-ascii.
func isAtext(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case r >= 0x80:
		return !unicode.IsControl(r) && !unicode.IsSpace(r)
	}
	return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}

// quoteLocal writes a local part as a Dot-string when it is one, else as a
// Quoted-string with '"' and '\' escaped.
func quoteLocal(local string) string {
	if isDotString(local) {
		return local
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if local[i] == '"' || local[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String()
}
