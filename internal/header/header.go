// Package header holds the rules of RFC 5322 header syntax that several
// packages read messages by: cleanup on the way in, sevenbit on the way
// out, store and imapd to read the fields they keep.
package header

import "bytes"

// IsField reports whether line (without its line end) starts a header
// field: a field name of printable US-ASCII but ":" (RFC 5322 §2.2,
// ftext), white space allowed before the colon (the obsolete syntax of
// RFC 5322 §4.5.8), then the colon.
func IsField(line []byte) bool {
	i := 0
	for i < len(line) && line[i] > ' ' && line[i] < 0x7f && line[i] != ':' {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return i < len(line) && line[i] == ':'
}

// Fields calls f with each field of the header section at the start of
// b, in order: its name and its value unfolded (RFC 5322 §2.2.3: the
// line breaks before white space removed), not trimmed. A line that is
// not a field (no colon, white space in the name) is skipped, and the
// first empty line ends the section (RFC 5322 §2.1). A value stops
// growing at limit octets when limit > 0. value is valid only until f
// returns.
func Fields(b []byte, limit int, f func(name string, value []byte)) {
	var name string
	var value []byte
	flush := func() {
		if name != "" {
			f(name, value)
		}
		name, value = "", value[:0]
	}
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte("\n"))
		b = rest
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name != "" && (limit <= 0 || len(value) < limit) {
				value = append(value, line...)
			}
			continue
		}
		flush()
		n, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(n) == 0 || bytes.ContainsAny(n, " \t") {
			continue
		}
		name, value = string(n), append(value[:0], v...)
	}
	flush()
}
