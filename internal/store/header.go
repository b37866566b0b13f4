package store

import (
	"mime"
	"strings"
	"unicode/utf8"

	rfc5322 "facteur/internal/header"
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
	rfc5322.Fields(b, 4*maxFieldLen, h.set)
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
