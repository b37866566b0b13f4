package cleanup

import (
	"bytes"
	"strings"

	"facteur/internal/header"
)

// DefaultHeaderLimit is Postfix's header_size_limit: how much of a message
// is held in memory while looking for the end of its header. Past it, the
// complete lines seen so far are the header and the rest is body (Postfix
// discards the excess; facteur keeps it, as body).
const DefaultHeaderLimit = 102400

// lineKind classifies one line of the message while in the header.
type lineKind int

const (
	lineBlank lineKind = iota // the empty line that ends the header
	lineField                 // "name: value" (RFC 5322 §2.2)
	lineCont                  // folded continuation: starts with WSP (RFC 5322 §2.2.3)
	lineOther                 // neither: the body has begun
)

// classify tells what line (without its line ending) is.
func classify(line []byte) lineKind {
	if len(line) == 0 {
		return lineBlank
	}
	if line[0] == ' ' || line[0] == '\t' {
		return lineCont
	}
	if header.IsField(line) {
		return lineField
	}
	return lineOther
}

// trimEOL removes a trailing LF or CRLF.
func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

// headerScanner finds the end of the header in a growing buffer without
// rescanning the lines it has already classified.
type headerScanner struct {
	off     int  // start of the first line not yet classified
	started bool // a field has been seen: continuations belong to it
	limit   int  // header_size_limit; 0 means DefaultHeaderLimit
}

// scan looks for the end of the header in buf, which holds the message
// from its first byte. It returns the header's length when the end is
// known: at a blank line, at the first line that is neither a field nor a
// continuation (the body then begins without the blank line; a message
// whose first line is not a field has no header at all, as in Postfix),
// at the end of the message (atEOF), or past the limit.
func (s *headerScanner) scan(buf []byte, atEOF bool) (int, bool) {
	for {
		rest := buf[s.off:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		if !s.take(trimEOL(rest[:i+1])) {
			return s.off, true
		}
		s.off += i + 1
	}
	if atEOF {
		if s.off < len(buf) && s.take(trimEOL(buf[s.off:])) {
			s.off = len(buf)
		}
		return s.off, true
	}
	limit := s.limit
	if limit <= 0 {
		limit = DefaultHeaderLimit
	}
	if len(buf) > limit {
		return s.off, true
	}
	return 0, false
}

// take reports whether line belongs to the header.
func (s *headerScanner) take(line []byte) bool {
	switch classify(line) {
	case lineField:
		s.started = true
		return true
	case lineCont:
		return s.started
	default:
		return false
	}
}

// headerInfo is what cleanup needs to know of the original header.
type headerInfo struct {
	received  int    // Received fields: hops so far (RFC 5321 §6.3)
	messageID string // Message-ID value, unfolded and trimmed; "" when absent
	hasMsgID  bool
	hasDate   bool
	from      []string // From values, unfolded
}

// parseHeader reads the fields of hdr, a header as found by headerScanner.
func parseHeader(hdr []byte) headerInfo {
	var info headerInfo
	var name string
	var value []byte
	flush := func() {
		switch name {
		case "received":
			info.received++
		case "message-id":
			if !info.hasMsgID {
				info.hasMsgID = true
				info.messageID = strings.Join(strings.Fields(string(value)), " ")
			}
		case "date":
			info.hasDate = true
		case "from":
			info.from = append(info.from, strings.TrimSpace(string(value)))
		}
		name, value = "", nil
	}
	for len(hdr) > 0 {
		line := hdr
		if i := bytes.IndexByte(hdr, '\n'); i >= 0 {
			line = hdr[:i+1]
		}
		hdr = hdr[len(line):]
		line = trimEOL(line)
		if classify(line) == lineCont {
			value = append(value, line...)
			continue
		}
		flush()
		n, v, _ := bytes.Cut(line, []byte(":"))
		// Header field names compare without case (RFC 5322 §1.2.2).
		name = strings.ToLower(string(bytes.TrimRight(n, " \t")))
		value = append(value[:0:0], v...)
	}
	flush()
	return info
}
