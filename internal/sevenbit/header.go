package sevenbit

import (
	"bytes"
	"mime"
	"strings"

	msgheader "facteur/internal/header"
)

// headerLimit is how much of one header section is held in memory. Past
// it, the header ends and the rest is body, as with Postfix's
// header_size_limit.
const headerLimit = 1 << 20

// maxLine is the longest line, without its CRLF, that may be sent
// (RFC 5321 §4.5.3.1.6, RFC 5322 §2.1.1, RFC 2045 §2.7).
const maxLine = 998

// headerEnd tells how a header section ended.
type headerEnd int

const (
	endBlank    headerEnd = iota // at the empty line before the body
	endBody                      // at a line that is not a field: the body begins with it
	endBoundary                  // at a delimiter line: no body
	endEOF                       // at the end of the input: no body
)

// field is one header field in header.buf, with its continuation lines.
type field struct {
	name       string // lower case
	start, end int
}

// header is one header section as it will be written: every line ends
// in CRLF and is at most maxLine octets.
type header struct {
	buf      []byte
	fields   []field
	line     []byte // the line being read
	end      headerEnd
	eightBit bool // a field holds an octet over 127
	changed  bool // a line had to be folded or a lone CR replaced
}

func (h *header) reset() {
	h.buf, h.fields, h.line = h.buf[:0], h.fields[:0], h.line[:0]
	h.end, h.eightBit, h.changed = endEOF, false, false
}

// lineKind classifies the first piece of a line in a header section.
type lineKind int

const (
	lineField lineKind = iota // "name: value" (RFC 5322 §2.2)
	lineCont                  // folded continuation: starts with WSP (RFC 5322 §2.2.3)
	lineOther                 // neither: the body has begun
)

func classify(line []byte, started bool) lineKind {
	if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
		if started {
			return lineCont
		}
		return lineOther
	}
	if msgheader.IsField(line) {
		return lineField
	}
	return lineOther
}

// finishLine appends the line read so far to buf, as a new field or as a
// continuation of the last one. A lone CR becomes a space: it must not go
// out (RFC 5321 §2.3.8) and must not turn into a line break. A line too
// long is folded (RFC 5322 §2.2.3), before white space where there is
// some; where there is none a space is inserted, as Postfix's
// smtp_line_length_limit does, which changes the field a little but
// keeps every octet.
func (h *header) finishLine(kind lineKind) {
	line := h.line
	for i, c := range line {
		switch {
		case c >= 0x80:
			h.eightBit = true
		case c == '\r':
			line[i] = ' '
			h.changed = true
		}
	}
	start := len(h.buf)
	pad := 0 // octets already on the output line: an inserted space
	for pad+len(line) > maxLine {
		h.changed = true
		cut := foldPoint(line, maxLine-pad)
		h.buf = append(h.buf, line[:cut]...)
		h.buf = append(h.buf, crlf...)
		line, pad = line[cut:], 0
		if line[0] != ' ' && line[0] != '\t' {
			h.buf = append(h.buf, ' ')
			pad = 1
		}
	}
	h.buf = append(h.buf, line...)
	h.buf = append(h.buf, crlf...)
	h.line = h.line[:0]
	if kind == lineCont && len(h.fields) > 0 {
		h.fields[len(h.fields)-1].end = len(h.buf)
		return
	}
	name, _, _ := bytes.Cut(h.buf[start:], []byte(":"))
	name = bytes.TrimRight(name, " \t")
	h.fields = append(h.fields, field{name: strings.ToLower(string(name)), start: start, end: len(h.buf)})
}

// foldPoint returns where to break a line longer than limit: before the
// last white space that follows other text within the first limit octets,
// or at limit when there is none.
func foldPoint(line []byte, limit int) int {
	for i := limit; i > 0; i-- {
		if (line[i] == ' ' || line[i] == '\t') && line[i-1] != ' ' && line[i-1] != '\t' {
			return i
		}
	}
	return limit
}

// value returns the unfolded value of the first field called name (lower
// case), and whether there is one.
func (h *header) value(name string) (string, bool) {
	for _, f := range h.fields {
		if f.name == name {
			_, v, _ := bytes.Cut(h.buf[f.start:f.end], []byte(":"))
			return string(bytes.ReplaceAll(v, crlf, nil)), true
		}
	}
	return "", false
}

// has reports whether there is a field called name (lower case).
func (h *header) has(name string) bool {
	_, ok := h.value(name)
	return ok
}

// encoding returns the Content-Transfer-Encoding mechanism in lower case
// (RFC 2045 §6.1), "" when the field is absent.
func (h *header) encoding() string {
	v, _ := h.value("content-transfer-encoding")
	v = skipCFWS(v)
	i := 0
	for i < len(v) && isTokenChar(v[i]) {
		i++
	}
	return strings.ToLower(v[:i])
}

// contentType returns the media type in lower case and the boundary
// parameter (RFC 2045 §5.1, RFC 2046 §5.1.1). The standard library's
// parser is asked first, so that RFC 2231 parameters are understood; a
// field it refuses gets a lenient reading, which is what a mail reader
// does with it too. A type missing or without a subtype is def (RFC 2045
// §5.2).
func (h *header) contentType(def string) (mediaType, boundary string) {
	v, ok := h.value("content-type")
	if !ok {
		return def, ""
	}
	if mt, params, err := mime.ParseMediaType(v); err == nil && strings.Contains(mt, "/") {
		return mt, params["boundary"]
	}
	return lenientContentType(v, def)
}

func lenientContentType(v, def string) (mediaType, boundary string) {
	v = skipCFWS(v)
	typ, v := token(v)
	v = skipCFWS(v)
	if typ == "" || !strings.HasPrefix(v, "/") {
		return def, ""
	}
	sub, v := token(skipCFWS(v[1:]))
	if sub == "" {
		return def, ""
	}
	mediaType = strings.ToLower(typ + "/" + sub)
	for {
		i := strings.IndexByte(v, ';')
		if i < 0 {
			return mediaType, boundary
		}
		var name, val string
		name, v = token(skipCFWS(v[i+1:]))
		v = skipCFWS(v)
		if !strings.HasPrefix(v, "=") {
			continue
		}
		v = skipCFWS(v[1:])
		if strings.HasPrefix(v, `"`) {
			val, v = quoted(v)
		} else {
			val, v = token(v)
		}
		if boundary == "" && strings.EqualFold(name, "boundary") {
			boundary = val
		}
	}
}

// isTokenChar reports whether c may be in a token (RFC 2045 §5.1).
func isTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c))
}

// token splits v after its leading token, 8-bit octets allowed.
func token(v string) (string, string) {
	i := 0
	for i < len(v) && (isTokenChar(v[i]) || v[i] >= 0x80) {
		i++
	}
	return v[:i], v[i:]
}

// quoted splits v, which begins with a quote, after its quoted-string
// (RFC 5322 §3.2.4), returning the content without quotes and escapes.
// An unterminated string runs to the end.
func quoted(v string) (string, string) {
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '"':
			return b.String(), v[i+1:]
		case '\\':
			if i+1 < len(v) {
				i++
			}
		}
		b.WriteByte(v[i])
	}
	return b.String(), ""
}

// skipCFWS skips white space and comments (RFC 5322 §3.2.2).
func skipCFWS(v string) string {
	depth := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == '\\' && depth > 0:
			i++
		case c == ' ' || c == '\t' || depth > 0:
		default:
			return v[i:]
		}
	}
	return ""
}

// write writes the header, with its Content-Transfer-Encoding field set
// to cte unless cte is "", and a MIME-Version field added if mimeVersion.
func (h *header) write(o *output, cte string, mimeVersion bool) {
	if cte == "" && !mimeVersion {
		o.write(h.buf)
		return
	}
	done := cte == ""
	for _, f := range h.fields {
		if f.name != "content-transfer-encoding" || cte == "" {
			o.write(h.buf[f.start:f.end])
			continue
		}
		if !done {
			o.writeString("Content-Transfer-Encoding: " + cte + "\r\n")
			done = true
		}
	}
	if mimeVersion {
		o.writeString("MIME-Version: 1.0\r\n")
	}
	if !done {
		o.writeString("Content-Transfer-Encoding: " + cte + "\r\n")
	}
}
