// Package header holds the rules of RFC 5322 header syntax that several
// packages read messages by: cleanup on the way in, sevenbit on the way
// out, and later inspect.
package header

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
