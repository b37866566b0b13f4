package inspect

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"facteur/internal/dsn"
	"facteur/internal/lineread"
)

// decoder undoes a Content-Transfer-Encoding as the lines of a body pass,
// writing the decoded octets to a sink.
type decoder interface {
	write(data []byte)  // a line, or a piece of one, without its ending
	lineEnd(eol []byte) // the line ended, with eol; not called for the last line before a boundary
	close()
	report(ps *problems, where string)
}

func newDecoder(encoding string, s *sink) decoder {
	switch encoding {
	case "base64":
		return &base64Decoder{s: s}
	case "quoted-printable":
		return &qpDecoder{s: s}
	}
	return identityDecoder{s}
}

// identityDecoder passes 7bit, 8bit and binary bodies as they are, line
// endings included.
type identityDecoder struct{ s *sink }

func (d identityDecoder) write(b []byte)                    { d.s.write(b) }
func (d identityDecoder) lineEnd(eol []byte)                { d.s.write(eol) }
func (d identityDecoder) close()                            {}
func (d identityDecoder) report(ps *problems, where string) {}

// b64 maps base64 characters to their values (RFC 2045 §6.8, Table 1);
// 0xFE is white space, 0xFF anything else.
var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	for _, c := range []byte(" \t\r\n") {
		t[c] = 0xFE
	}
	return t
}()

// base64Decoder decodes RFC 2045 §6.8 base64, noting what breaks it:
// characters outside the alphabet (ignored, as §6.8 says, but a sign of
// damage), data after the "=" padding, a final quantum cut short.
type base64Decoder struct {
	s        *sink
	quad     [4]byte
	n        int
	ended    bool // "=" padding seen
	invalid  int
	afterPad int
	badPad   int
	short    bool
	out      []byte
}

func (d *base64Decoder) write(data []byte) {
	out := d.out[:0]
	i := 0
	for i < len(data) {
		// Fast path: four alphabet characters make three octets.
		if d.n == 0 && !d.ended && i+4 <= len(data) {
			a, b, c, e := b64[data[i]], b64[data[i+1]], b64[data[i+2]], b64[data[i+3]]
			if a|b|c|e < 64 {
				out = append(out, a<<2|b>>4, b<<4|c>>2, c<<6|e)
				i += 4
				continue
			}
		}
		c := data[i]
		i++
		v := b64[c]
		switch {
		case v < 64:
			if d.ended {
				d.afterPad++
				d.ended = false
			}
			d.quad[d.n] = v
			d.n++
			if d.n == 4 {
				q := d.quad
				out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2, q[2]<<6|q[3])
				d.n = 0
			}
		case c == '=':
			switch d.n {
			case 2:
				out = append(out, d.quad[0]<<2|d.quad[1]>>4)
			case 3:
				out = append(out, d.quad[0]<<2|d.quad[1]>>4, d.quad[1]<<4|d.quad[2]>>2)
			case 0:
				if !d.ended {
					d.badPad++
				}
			default:
				d.badPad++
			}
			d.n, d.ended = 0, true
		case v == 0xFE:
		default:
			d.invalid++
		}
	}
	d.out = out
	d.s.write(out)
}

func (d *base64Decoder) lineEnd([]byte) {}

func (d *base64Decoder) close() {
	switch d.n {
	case 1:
		d.short = true
	case 2:
		d.short = true
		d.s.write([]byte{d.quad[0]<<2 | d.quad[1]>>4})
	case 3:
		d.short = true
		d.s.write([]byte{d.quad[0]<<2 | d.quad[1]>>4, d.quad[1]<<4 | d.quad[2]>>2})
	}
	d.n = 0
}

func (d *base64Decoder) report(ps *problems, where string) {
	const rule = "RFC 2045 §6.8"
	if d.invalid > 0 {
		ps.add("b64invalid", where, 0, rule, fmt.Sprintf("bad base64: %d characters outside the base64 alphabet", d.invalid))
	}
	if d.afterPad > 0 {
		ps.add("b64afterpad", where, 0, rule, "bad base64: data after the \"=\" padding that ends it")
	}
	if d.badPad > 0 {
		ps.add("b64badpad", where, 0, rule, "bad base64: \"=\" padding where no quantum ends")
	}
	if d.short {
		ps.add("b64short", where, 0, rule, "bad base64: the last quantum is incomplete and not padded")
	}
}

// States of qpDecoder.
const (
	qpText  = iota
	qpEq    // after "="
	qpEqHex // after "=" and one hex digit
	qpEqWS  // after "=" and white space: a soft line break if the line ends
)

// qpDecoder decodes RFC 2045 §6.7 quoted-printable: "=XX" octets, white
// space at the end of a line removed (rule 3), "=" at the end of a line a
// soft line break (rule 5). A bad "=" sequence is kept as it is and noted.
type qpDecoder struct {
	s       *sink
	state   int
	hex     byte
	ws      []byte // white space that is content only if more text follows on the line
	eqws    []byte
	invalid int
	out     []byte
}

const maxPendingWS = 1024

func (d *qpDecoder) write(data []byte) {
	out := d.out[:0]
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch d.state {
		case qpText:
			switch {
			case c == '=':
				out = append(out, d.ws...)
				d.ws = d.ws[:0]
				d.state = qpEq
			case c == ' ' || c == '\t':
				if len(d.ws) >= maxPendingWS {
					out = append(out, d.ws...)
					d.ws = d.ws[:0]
				}
				d.ws = append(d.ws, c)
			default:
				out = append(out, d.ws...)
				d.ws = d.ws[:0]
				out = append(out, c)
			}
		case qpEq:
			switch {
			case isHex(c):
				d.hex, d.state = c, qpEqHex
			case c == ' ' || c == '\t':
				d.eqws = append(d.eqws[:0], c)
				d.state = qpEqWS
			default:
				d.invalid++
				out = append(out, '=')
				d.state = qpText
				i--
			}
		case qpEqHex:
			if isHex(c) {
				out = append(out, unhex(d.hex)<<4|unhex(c))
				d.state = qpText
				continue
			}
			d.invalid++
			out = append(out, '=', d.hex)
			d.state = qpText
			i--
		case qpEqWS:
			if c == ' ' || c == '\t' {
				if len(d.eqws) < maxPendingWS {
					d.eqws = append(d.eqws, c)
				}
				continue
			}
			d.invalid++
			out = append(out, '=')
			out = append(out, d.eqws...)
			d.state = qpText
			i--
		}
	}
	d.out = out
	d.s.write(out)
}

// endLine ends the current line: trailing white space goes, a final "="
// joins the next line.
func (d *qpDecoder) endLine() (soft bool) {
	d.ws = d.ws[:0]
	switch d.state {
	case qpEq, qpEqWS:
		d.state = qpText
		return true
	case qpEqHex:
		d.invalid++
		d.s.write([]byte{'=', d.hex})
	}
	d.state = qpText
	return false
}

func (d *qpDecoder) lineEnd(eol []byte) {
	if !d.endLine() {
		d.s.write(eol)
	}
}

func (d *qpDecoder) close() { d.endLine() }

func (d *qpDecoder) report(ps *problems, where string) {
	if d.invalid > 0 {
		ps.add("qpinvalid", where, 0, "RFC 2045 §6.7",
			fmt.Sprintf("bad quoted-printable: %d \"=\" not followed by two hex digits or a line end", d.invalid))
	}
}

// rawCheck looks at a body as written for what its encoding forbids: an
// octet over 127 in a 7bit or quoted-printable body (RFC 2045 §2.7,
// §6.7), a NUL in any but binary (§2.7, §2.8), an encoded line over 76
// characters (§6.7 rule 5, §6.8).
type rawCheck struct {
	eightBit, nul       bool
	encoded             bool
	high, zero, longs   int
	firstHigh, firstNUL int
	firstLong           int
}

func newRawCheck(encoding string) *rawCheck {
	c := &rawCheck{}
	switch encoding {
	case "7bit", "quoted-printable":
		c.eightBit, c.nul = true, true
	case "8bit":
		c.nul = true
	}
	c.encoded = encoding == "quoted-printable" || encoding == "base64"
	return c
}

func (c *rawCheck) scan(p lineread.Piece) {
	if c.eightBit || c.nul {
		high, zero := false, false
		for _, b := range p.Data {
			if b >= 0x80 {
				high = true
			} else if b == 0 {
				zero = true
			}
		}
		if high && c.eightBit {
			if c.high == 0 {
				c.firstHigh = p.Line
			}
			c.high++
		}
		if zero && c.nul {
			if c.zero == 0 {
				c.firstNUL = p.Line
			}
			c.zero++
		}
	}
	if c.encoded && p.End && p.Length > 76 {
		if c.longs == 0 {
			c.firstLong = p.Line
		}
		c.longs++
	}
}

func (c *rawCheck) report(ps *problems, where, encoding string) {
	if c.high > 0 {
		rule := "RFC 2045 §2.7, §6.2"
		if encoding == "quoted-printable" {
			rule = "RFC 2045 §6.7"
		}
		ps.addN("8bitbody", where, c.firstHigh, rule,
			fmt.Sprintf("8-bit data in a %s part: it must be declared 8bit (or encoded)", encoding), c.high)
	}
	if c.zero > 0 {
		ps.addN("nul", where, c.firstNUL, "RFC 2045 §2.7, §2.8",
			fmt.Sprintf("NUL octet in a %s part: only binary allows it", encoding), c.zero)
	}
	if c.longs > 0 {
		ps.addN("longencoded", where, c.firstLong, "RFC 2045 §6.7, §6.8",
			fmt.Sprintf("%s line over 76 characters", encoding), c.longs)
	}
}

// sink receives a leaf part's decoded body: it counts it, keeps the start
// of a text part for its preview and a delivery-status part for parsing,
// and writes an attachment to the Extractor.
type sink struct {
	size    int64
	preview []byte
	wantPre bool
	status  []byte
	wantDS  bool
	dsOver  bool
	w       io.WriteCloser
	name    string
	err     error
}

func (w *walker) newSink(p *Part) (*sink, error) {
	s := &sink{
		wantPre: strings.HasPrefix(p.Type, "text/"),
		wantDS:  p.Type == "message/delivery-status" || p.Type == "message/global-delivery-status",
	}
	if w.opt.Extract != nil && p.IsAttachment() {
		name, wc, err := w.opt.Extract.Create(p)
		if err != nil {
			return nil, fmt.Errorf("extracting part %s: %w", p.ID, err)
		}
		s.w, s.name = wc, name
	}
	return s, nil
}

func (s *sink) write(b []byte) {
	if len(b) == 0 {
		return
	}
	s.size += int64(len(b))
	if s.wantPre && len(s.preview) < previewBytes {
		s.preview = append(s.preview, b[:min(len(b), previewBytes-len(s.preview))]...)
	}
	if s.wantDS {
		if len(s.status)+len(b) > maxStatusBytes {
			s.dsOver = true
		} else {
			s.status = append(s.status, b...)
		}
	}
	if s.w != nil && s.err == nil {
		if _, err := s.w.Write(b); err != nil {
			s.err = fmt.Errorf("extracting: %w", err)
		}
	}
}

// abort closes the Extractor's writer after a failure.
func (s *sink) abort() {
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
}

// close fills p with what the sink gathered.
func (s *sink) close(w *walker, p *Part) error {
	where := "part " + p.ID
	p.Size = s.size
	if s.w != nil {
		err := s.w.Close()
		s.w = nil
		if s.err == nil && err != nil {
			s.err = fmt.Errorf("extracting part %s: %w", p.ID, err)
		}
		if s.err != nil {
			return s.err
		}
		p.Saved = s.name
	}
	if s.wantPre {
		text, ok := decodeCharset(s.preview, p.Charset)
		if !ok {
			w.probs.add("charset", where, 0, "RFC 2046 §4.1.2",
				fmt.Sprintf("unknown charset %q: the text is shown with U+FFFD for what is not UTF-8", p.Charset))
		}
		p.Preview = previewOf(text, len(s.preview) < int(s.size))
	}
	if s.wantDS {
		if s.dsOver {
			w.probs.add("bigstatus", where, 0, "bound of this analysis", "delivery status over 1 MiB: not parsed")
		} else if rep, err := dsn.ParseDeliveryStatus(bytes.NewReader(s.status)); err != nil {
			w.probs.add("badstatus", where, 0, "RFC 3464 §2", err.Error())
		} else {
			p.Status = statusOf(rep)
		}
	}
	return nil
}

// previewOf keeps the first lines of text, each cut short.
func previewOf(text string, cut bool) []string {
	if cut {
		// The last line may be cut anywhere, even inside a character.
		if i := strings.LastIndexByte(text, '\n'); i >= 0 {
			text = text[:i+1]
		}
	}
	text = strings.TrimSuffix(strings.TrimSuffix(text, "\n"), "\r")
	if text == "" {
		return nil
	}
	var lines []string
	for line := range strings.Lines(text) {
		if len(lines) == previewLines {
			break
		}
		line = strings.TrimRight(line, "\r\n")
		if utf8.RuneCountInString(line) > previewRunes {
			r := []rune(line)
			line = string(r[:previewRunes-1]) + "…"
		}
		lines = append(lines, line)
	}
	return lines
}

// statusOf copies a parsed delivery status into the report's form.
func statusOf(r dsn.Report) *DeliveryStatus {
	ds := &DeliveryStatus{
		ReportingMTA:    r.ReportingMTA,
		ReceivedFromMTA: r.ReceivedFromMTA,
		EnvID:           r.EnvID,
		ArrivalDate:     plausibleOrZero(r.ArrivalDate),
		Recipients:      []RecipientStatus{},
	}
	for _, rs := range r.Recipients {
		ds.Recipients = append(ds.Recipients, RecipientStatus{
			OriginalRecipient: rs.OriginalRecipient.String(),
			FinalRecipient:    rs.FinalRecipient,
			Action:            string(rs.Action),
			Status:            rs.Status,
			RemoteMTA:         rs.RemoteMTA,
			DiagnosticCode:    rs.DiagnosticCode,
			LastAttemptDate:   plausibleOrZero(rs.LastAttemptDate),
		})
	}
	return ds
}
