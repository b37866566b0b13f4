package maillog

import "strings"

// Safe keeps a client-chosen text (a user name, a HELO argument) to one
// printable log line: control characters become "?" and it is cut at 64
// octets, so that no client can forge or flood log lines.
func Safe(s string) string {
	const max = 64
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
