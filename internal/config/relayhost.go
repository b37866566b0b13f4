package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Relayhost is the parsed relayhost parameter. A zero Relayhost (empty
// Host) means no relayhost: deliver by MX lookup.
type Relayhost struct {
	Host string // a host name, or an IP address without brackets or "IPv6:"
	Port int    // 25 unless given
	NoMX bool   // the host was in brackets: connect to it, no MX lookup
}

// String returns the relayhost in main.cf form.
func (r Relayhost) String() string {
	if r.Host == "" {
		return ""
	}
	host := r.Host
	if r.NoMX {
		if strings.Contains(host, ":") {
			host = "IPv6:" + host
		}
		host = "[" + host + "]"
	}
	if r.Port != 25 {
		host += ":" + strconv.Itoa(r.Port)
	}
	return host
}

// ParseRelayhost parses the forms Postfix takes: host, host:port, [host],
// [host]:port, [1.2.3.4]:port and [IPv6:2001:db8::1]:port. The port may be
// a number or smtp, submission, submissions or smtps.
func ParseRelayhost(s string) (Relayhost, error) {
	if s == "" {
		return Relayhost{}, nil
	}
	r := Relayhost{Port: 25}
	host, port, hasPort := s, "", false
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return Relayhost{}, fmt.Errorf("bad relayhost %q: missing ']'", s)
		}
		host, r.NoMX = s[1:end], true
		rest := s[end+1:]
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return Relayhost{}, fmt.Errorf("bad relayhost %q: text after ']'", s)
			}
			port, hasPort = p, true
		}
	} else {
		host, port, hasPort = strings.Cut(s, ":")
	}
	var err error
	if r.Host, err = relayHostName(host, r.NoMX); err != nil {
		return Relayhost{}, fmt.Errorf("bad relayhost %q: %w", s, err)
	}
	if hasPort {
		if r.Port, err = parsePort(port); err != nil {
			return Relayhost{}, fmt.Errorf("bad relayhost %q: %w", s, err)
		}
	}
	return r, nil
}

// relayHostName checks the host part: a domain name, or inside brackets
// also an IPv4 address or an "IPv6:" address literal (RFC 5321 §4.1.3).
func relayHostName(h string, bracketed bool) (string, error) {
	if bracketed {
		if v6, ok := cutPrefixFold(h, "IPv6:"); ok {
			a, err := netip.ParseAddr(v6)
			if err != nil || !a.Is6() {
				return "", fmt.Errorf("bad IPv6 address %q", v6)
			}
			return a.String(), nil
		}
		if a, err := netip.ParseAddr(h); err == nil && a.Is4() {
			return a.String(), nil
		}
	}
	if h == "" || len(h) > 253 {
		return "", fmt.Errorf("bad host name %q", h)
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if !validLabel(label) {
			return "", fmt.Errorf("bad host name %q", h)
		}
	}
	return h, nil
}

// validLabel accepts a host name label: letters, digits, hyphens inside
// (RFC 1123 §2.1), and underscores, which real names carry.
func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		if !isNameByte(l[i]) && l[i] != '-' {
			return false
		}
	}
	return true
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// parsePort reads a port number or one of the mail service names.
func parsePort(p string) (int, error) {
	switch strings.ToLower(p) {
	case "smtp":
		return 25, nil
	case "submission":
		return 587, nil
	case "submissions", "smtps":
		return 465, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || strings.HasPrefix(p, "+") {
		return 0, fmt.Errorf("bad port %q", p)
	}
	return n, nil
}
