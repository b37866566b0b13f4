package sevenbit

import "bytes"

const hexDigits = "0123456789ABCDEF"

// How a quoted-printable line ends.
const (
	qpSoft  = iota // soft line break: "=" CRLF (RFC 2045 §6.7 rule 5)
	qpHard         // a line break of the text: CRLF (rule 4)
	qpFinal        // the end of the body: the caller writes the CRLF that follows
)

// Where a quoted-printable line is broken softly. RFC 2045 §6.7 rule 5
// allows 76 octets, the "=" of the soft break included; the margin is for
// the fixes made when the line is written: "=" of the soft break, an
// escaped trailing blank (+2) and an escaped leading "-" (+2), and in
// repair mode the two octets after a "=" that are never separated from it
// (up to 3 octets each once escaped).
const (
	qpCutEncode = 72
	qpCutRepair = 67
)

// wsHold is how much white space repair mode holds back to learn whether
// it trails its line.
const wsHold = 4096

// qpWriter writes a body as quoted-printable (RFC 2045 §6.7), line by
// line: write the octets of a line, then end it.
//
// In encode mode the octets are text to encode: "=", octets over 126 and
// control characters but TAB are escaped, and so is a blank that ends a
// line (rule 3).
//
// In repair mode the octets are already quoted-printable but broken:
// octets over 126, NUL, lone CR or lines too long. What a lenient decoder
// makes of them is kept: a raw octet over 126 or a control character
// becomes its escape, which decodes to the same octet; a line too long
// gets soft breaks, never between a "=" and the two octets after it; and
// white space that trails a line, which decoders delete (rule 3), is
// dropped rather than split by a soft break, which would keep it.
//
// In both modes a line that would begin with "--" and an enclosing
// boundary begins "=2D-" instead, so that no line of the encoding can be
// taken for a delimiter line (RFC 2046 §5.1.1), even by a reader that
// matches boundaries as prefixes.
type qpWriter struct {
	o      *output
	repair bool
	bounds [][]byte // the enclosing boundaries
	line   []byte   // the encoded line being built
	hold   int      // repair: octets still to keep on the line of a "="
	ws     []byte   // repair: white space not yet known to be followed by text
}

func (q *qpWriter) cut() int {
	if q.repair {
		return qpCutRepair
	}
	return qpCutEncode
}

// write adds octets to the current line.
func (q *qpWriter) write(p []byte) {
	if !q.repair {
		q.encode(p)
		return
	}
	for _, c := range p {
		switch {
		case q.hold > 0:
			q.hold--
			q.unit(c, false)
		case (c == ' ' || c == '\t') && len(q.ws) < wsHold:
			q.ws = append(q.ws, c)
		default:
			q.flushWS()
			q.unit(c, true)
			if c == '=' {
				q.hold = 2
			}
		}
	}
}

// encode adds octets to encode, copying runs of literal octets at once.
func (q *qpWriter) encode(p []byte) {
	for len(p) > 0 {
		n := 0
		for n < len(p) && (p[n] >= ' ' && p[n] < 0x7f && p[n] != '=' || p[n] == '\t') {
			n++
		}
		for n > 0 {
			room := qpCutEncode - len(q.line)
			if room <= 0 {
				q.flush(qpSoft)
				continue
			}
			k := min(n, room)
			q.line = append(q.line, p[:k]...)
			p, n = p[k:], n-k
		}
		if len(p) > 0 {
			q.unit(p[0], true)
			p = p[1:]
		}
	}
}

// endLine ends the current line: with a line break if eol, or as the end
// of the body.
func (q *qpWriter) endLine(eol bool) {
	if eol {
		q.flush(qpHard)
	} else {
		q.flush(qpFinal)
	}
}

// unit adds the encoding of c, after a soft line break if it does not
// fit and mayBreak.
func (q *qpWriter) unit(c byte, mayBreak bool) {
	literal := c == '\t' || c >= ' ' && c < 0x7f && (c != '=' || q.repair)
	n := 1
	if !literal {
		n = 3
	}
	if mayBreak && len(q.line)+n > q.cut() {
		q.flush(qpSoft)
	}
	if literal {
		q.line = append(q.line, c)
	} else {
		q.line = append(q.line, '=', hexDigits[c>>4], hexDigits[c&15])
	}
}

func (q *qpWriter) flushWS() {
	for _, c := range q.ws {
		q.unit(c, true)
	}
	q.ws = q.ws[:0]
}

// flush writes the current line.
func (q *qpWriter) flush(how int) {
	line := q.line
	if n := len(line); !q.repair && how != qpSoft && n > 0 && (line[n-1] == ' ' || line[n-1] == '\t') {
		c := line[n-1]
		line = append(line[:n-1], '=', hexDigits[c>>4], hexDigits[c&15])
	}
	if q.delimiterLike(line) {
		q.o.writeString("=2D")
		line = line[1:]
	}
	q.o.write(line)
	switch how {
	case qpSoft:
		q.o.writeString("=\r\n")
	case qpHard:
		q.o.write(crlf)
	}
	q.line = q.line[:0]
	if how != qpSoft {
		q.hold = 0
		q.ws = q.ws[:0]
	}
}

// delimiterLike reports whether line begins with "--" and an enclosing
// boundary.
func (q *qpWriter) delimiterLike(line []byte) bool {
	if len(line) < 2 || line[0] != '-' || line[1] != '-' {
		return false
	}
	for _, b := range q.bounds {
		if bytes.HasPrefix(line[2:], b) {
			return true
		}
	}
	return false
}

// base64Line is the length of a line of base64 (RFC 2045 §6.8: at most 76).
const base64Line = 76

// wrapWriter writes base64 text in lines of base64Line characters, with
// a CRLF between lines and none after the last.
type wrapWriter struct {
	o   *output
	col int
}

func (w *wrapWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if w.col == base64Line {
			w.o.write(crlf)
			w.col = 0
		}
		k := min(base64Line-w.col, len(p))
		w.o.write(p[:k])
		w.col += k
		p = p[k:]
	}
	return n, w.o.err
}

// writeAlphabet writes the characters of the base64 alphabet in p (the
// "=" of padding included) and leaves the rest out: RFC 2045 §6.8 has
// decoders ignore them, so the decoded content is the same.
func (w *wrapWriter) writeAlphabet(p []byte) {
	for len(p) > 0 {
		i := 0
		for i < len(p) && isBase64(p[i]) {
			i++
		}
		w.Write(p[:i])
		for i < len(p) && !isBase64(p[i]) {
			i++
		}
		p = p[i:]
	}
}

func isBase64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
}
