package store

import (
	"bytes"
	"mime"
	"strings"
	"unicode/utf8"
)

// header holds the fields cached in each message row for listings.
type header struct {
	from, to, subject, date, messageID string
}

// maxFieldLen bounds each cached field (RFC 5322 §2.1.1's line limit).
const maxFieldLen = 998

// parseHeader reads the RFC 5322 header section at the start of b (which
// may be cut short) and returns the first From, To, Subject, Date and
// Message-ID fields. It never fails: malformed lines are skipped, so a
// broken header only loses its cached fields, never the message.
func parseHeader(b []byte) header {
	var h header
	var name string
	var value []byte
	flush := func() {
		if name != "" {
			h.set(name, value)
		}
		name, value = "", nil
	}
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte("\n"))
		b = rest
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // RFC 5322 §2.1: an empty line ends the header section
		}
		if line[0] == ' ' || line[0] == '\t' {
			// RFC 5322 §2.2.3: unfolding removes the CRLF before the WSP.
			if name != "" && len(value) < 4*maxFieldLen {
				value = append(value, line...)
			}
			continue
		}
		flush()
		n, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(n) == 0 || bytes.ContainsAny(n, " \t") {
			continue // not a field; RFC 5322 §2.2: names have no WSP
		}
		name, value = string(n), append([]byte(nil), v...)
	}
	flush()
	return h
}

// set stores the field if it is one of the cached ones and not yet seen.
func (h *header) set(name string, raw []byte) {
	var dst *string
	decode := true
	switch strings.ToLower(name) {
	case "from":
		dst = &h.from
	case "to":
		dst = &h.to
	case "subject":
		dst = &h.subject
	case "date":
		dst, decode = &h.date, false
	case "message-id":
		dst, decode = &h.messageID, false
	default:
		return
	}
	if *dst != "" {
		return
	}
	v := strings.TrimSpace(string(raw))
	if decode {
		// RFC 2047 encoded words, for display; left as they are if unknown.
		if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
			v = d
		}
	}
	v = strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' ' // no NUL or escape sequence reaches a listing
		}
		return r
	}, strings.ToValidUTF8(v, "\uFFFD"))
	*dst = clip(v, maxFieldLen)
}

// clip cuts s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
