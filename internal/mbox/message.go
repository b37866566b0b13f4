package mbox

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"time"
)

// Read reads the message's content. After Next it returns io.EOF.
func (m *Message) Read(p []byte) (int, error) {
	for len(m.out) == 0 {
		if m.r.msg != m {
			return 0, io.EOF
		}
		b, err := m.r.piece()
		if err != nil {
			return 0, err
		}
		m.out = b
	}
	// m.out may be the Reader's buffer: it stays valid until the next
	// piece, which is read only once m.out is empty.
	n := copy(p, m.out)
	m.out = m.out[n:]
	return n, nil
}

// readHeader reads the header section, takes the flags out of it and
// leaves the rest of the content to Read.
func (m *Message) readHeader() error {
	var hdr []byte
	end := -1
	for len(hdr) < maxHeader {
		b, err := m.r.piece()
		if err == io.EOF {
			end = len(hdr) // a message with no body
			break
		}
		if err != nil {
			return err
		}
		hdr = append(hdr, b...)
		if bytes.HasPrefix(hdr, []byte("\r\n")) {
			end = 0
			break
		}
		if i := bytes.Index(hdr, []byte("\r\n\r\n")); i >= 0 {
			end = i + 2
			break
		}
	}
	if end < 0 { // too long a header: passed on untouched
		m.out = hdr
		return nil
	}
	kept, flags := filterHeader(hdr[:end])
	m.Flags = flags
	m.out = append(kept, hdr[end:]...)
	return nil
}

// filterHeader removes the hidden fields from a header section of CRLF
// lines and returns the flags they carried.
func filterHeader(h []byte) ([]byte, []string) {
	var kept []byte
	var status, keywords []string
	field, drop := "", false
	for len(h) > 0 {
		line := h
		if i := bytes.Index(h, []byte("\r\n")); i >= 0 {
			line = h[:i+2]
		}
		h = h[len(line):]
		if line[0] != ' ' && line[0] != '\t' { // a new field (RFC 5322 §2.2.3)
			name, value, _ := bytes.Cut(line, []byte(":"))
			field = strings.ToLower(string(bytes.TrimRight(name, " \t")))
			drop = slices.Contains(hidden, field)
			switch field {
			case "status", "x-status":
				status = append(status, string(value))
			case "x-keywords":
				keywords = append(keywords, string(value))
			}
		} else if field == "x-keywords" {
			keywords = append(keywords, string(line))
		}
		if !drop {
			kept = append(kept, line...)
		}
	}
	return kept, flagsOf(status, keywords)
}

// flagsOf maps Status and X-Status letters and X-Keywords names to IMAP
// flags. "O" (old: seen by a mail reader, not opened) has no IMAP flag.
func flagsOf(status, keywords []string) []string {
	var flags []string
	for _, s := range status {
		for _, c := range strings.TrimSpace(s) {
			switch c {
			case 'R':
				flags = append(flags, `\Seen`)
			case 'A':
				flags = append(flags, `\Answered`)
			case 'F':
				flags = append(flags, `\Flagged`)
			case 'D':
				flags = append(flags, `\Deleted`)
			case 'T':
				flags = append(flags, `\Draft`)
			}
		}
	}
	for _, k := range keywords {
		for _, w := range strings.FieldsFunc(k, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n' }) {
			if isKeyword(w) {
				flags = append(flags, w)
			}
		}
	}
	slices.Sort(flags)
	return slices.Compact(flags)
}

// isKeyword reports whether s may be an IMAP keyword: an atom
// (RFC 9051 §9) not starting with "\".
func isKeyword(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// fromLayouts are the date forms found at the end of From_ lines:
// asctime(3), as RFC 4155 asks, and variants with a zone.
var fromLayouts = []struct {
	fields int
	layout string
}{
	{5, "Mon Jan 2 15:04:05 2006"},
	{6, "Mon Jan 2 15:04:05 2006 -0700"},
	{6, "Mon Jan 2 15:04:05 MST 2006"},
	{6, "Mon Jan 2 15:04:05 -0700 2006"},
	{4, "Jan 2 15:04:05 2006"},
}

// parseFromLine returns the sender and the date of a From_ line. A date
// with no zone is local time, as the delivery agent that wrote it had it.
func parseFromLine(line []byte) (string, time.Time) {
	f := strings.Fields(strings.TrimPrefix(string(line), "From "))
	for _, l := range fromLayouts {
		if len(f) < l.fields {
			continue
		}
		d, err := time.ParseInLocation(l.layout, strings.Join(f[len(f)-l.fields:], " "), time.Local)
		if err == nil {
			return strings.Join(f[:len(f)-l.fields], " "), d
		}
	}
	if len(f) > 0 {
		return f[0], time.Time{}
	}
	return "", time.Time{}
}
