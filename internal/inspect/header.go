package inspect

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"unicode/utf8"

	"facteur/internal/header"
)

// fieldBuf is a field being read.
type fieldBuf struct {
	name      string
	value     []byte
	truncated bool
	eightBit  bool
	line      int
}

// headerReader gathers the fields of one header section, within bounds.
type headerReader struct {
	w        *walker
	where    string
	fields   []Field
	cur      *fieldBuf
	kept     int
	dropped  int
	nonASCII []string
}

// header reads a header section up to its empty line. start is the
// offset of the body, or -1 when the section ended at a boundary or at
// the end of the input (no body).
func (w *walker) header(where string) (fields []Field, t term, start int64, err error) {
	w.where = where
	h := &headerReader{w: w, where: where}
	t, start, err = h.read()
	if err != nil {
		return nil, t, -1, err
	}
	h.flush()
	h.finish()
	return h.fields, t, start, nil
}

// read reads the lines of the section.
func (h *headerReader) read() (t term, start int64, err error) {
	w := h.w
	for {
		pc, err := w.next()
		if err == io.EOF {
			return term{kind: termEOF, end: w.lr.Offset()}, -1, nil
		}
		if err != nil {
			return term{}, -1, fmt.Errorf("reading message: %w", err)
		}
		if !pc.Start {
			h.appendValue(pc.Data)
			continue
		}
		if bt, ok := w.boundary(pc); ok {
			return bt, -1, nil
		}
		switch d := pc.Data; {
		case len(d) == 0 && pc.End:
			return term{}, pc.Offset + int64(pc.EOL), nil
		case d[0] == ' ' || d[0] == '\t':
			if h.cur == nil {
				w.probs.add("orphancont", h.where, pc.Line, "RFC 5322 §2.2.3", "a continuation line with no field before it")
				continue
			}
			// RFC 5322 §2.2.3: unfolding removes the line break only.
			h.appendValue(d)
		case header.IsField(d):
			h.flush()
			name, value, _ := bytes.Cut(d, []byte(":"))
			h.cur = &fieldBuf{name: string(bytes.TrimRight(name, " \t")), line: pc.Line}
			h.appendValue(value)
		default:
			w.probs.add("notfield", h.where, pc.Line, "RFC 5322 §2.1",
				"a line that is neither a field nor a continuation: the header ends there, without its empty line")
			w.lr.Unread(pc)
			return term{}, pc.Offset, nil
		}
	}
}

func (h *headerReader) appendValue(d []byte) {
	if h.cur == nil {
		return
	}
	if !h.cur.eightBit {
		for _, c := range d {
			if c >= 0x80 {
				h.cur.eightBit = true
				break
			}
		}
	}
	room := maxFieldKept - len(h.cur.value)
	if len(d) > room {
		d, h.cur.truncated = d[:max(room, 0)], true
	}
	h.cur.value = append(h.cur.value, d...)
}

// flush ends the field being read.
func (h *headerReader) flush() {
	f := h.cur
	if f == nil {
		return
	}
	h.cur = nil
	if f.eightBit {
		h.nonASCII = append(h.nonASCII, f.name)
		if !utf8.Valid(f.value) {
			h.w.probs.add("8bitheader-invalid", h.where, f.line, "RFC 6532 §3.2",
				"non-ASCII header octets that are not even UTF-8 (shown with U+FFFD)")
		}
	}
	if len(h.fields) >= maxFieldsKept || h.kept+len(f.value) > maxHeaderKept {
		h.dropped++
		return
	}
	h.kept += len(f.value)
	raw := strings.ToValidUTF8(strings.TrimSpace(string(f.value)), "\uFFFD")
	fd := Field{Name: f.name, Raw: raw, Value: raw, Group: groupOf(f.name), Truncated: f.truncated}
	h.fields = append(h.fields, fd)
	if f.truncated {
		h.w.probs.add("longfield", h.where, f.line, "bound of this analysis",
			fmt.Sprintf("field %s longer than %d octets: the rest is not shown", f.name, maxFieldKept))
	}
}

// finish reports what the section held that was not kept or not allowed.
func (h *headerReader) finish() {
	if h.dropped > 0 {
		h.w.probs.add("bigheader", h.where, 0, "bound of this analysis",
			fmt.Sprintf("%d fields past the first %d KiB or %d fields are not shown", h.dropped, maxHeaderKept>>10, maxFieldsKept))
	}
	if n := len(h.nonASCII); n > 0 {
		names := h.nonASCII[:min(n, 5)]
		h.w.probs.add("8bitheader", h.where, 0, "RFC 5322 §2.2, RFC 2047",
			fmt.Sprintf("non-ASCII octets without RFC 2047 encoding in %s (allowed only as UTF-8 with SMTPUTF8, RFC 6532)", strings.Join(names, ", ")))
	}
	for i := range h.fields {
		h.w.decodeField(&h.fields[i], h.where)
	}
}

// decodeField fills f.Value: RFC 2047 encoded words are decoded in the
// fields that may hold them (unstructured fields and the phrases of
// address fields, RFC 2047 §5).
func (w *walker) decodeField(f *Field, where string) {
	switch strings.ToLower(f.Name) {
	case "received", "return-path", "date", "message-id", "in-reply-to", "references",
		"content-type", "content-transfer-encoding", "content-disposition", "content-id", "mime-version", "delivered-to":
		return
	}
	if !strings.Contains(f.Raw, "=?") {
		return
	}
	v, err := w.dec.DecodeHeader(f.Raw)
	if err != nil {
		w.probs.add("rfc2047", where, 0, "RFC 2047 §6",
			fmt.Sprintf("field %s: encoded word not decodable (%v)", f.Name, err))
		return
	}
	f.Value = strings.ToValidUTF8(v, "\uFFFD")
}

// groupOf tells which group a field belongs to.
func groupOf(name string) string {
	n := strings.ToLower(name)
	switch n {
	case "return-path", "received", "delivered-to", "x-original-to":
		return GroupTrace
	case "from", "sender", "reply-to", "to", "cc", "bcc":
		return GroupAddress
	case "date", "subject", "message-id", "in-reply-to", "references", "comments", "keywords":
		return GroupInformational
	case "mime-version":
		return GroupMIME
	}
	switch {
	case strings.HasPrefix(n, "resent-"):
		return GroupTrace
	case strings.HasPrefix(n, "content-"):
		return GroupMIME
	case strings.HasPrefix(n, "x-"):
		return GroupExtension
	}
	return GroupOther
}

// uniqueFields may appear at most once (RFC 5322 §3.6, the table's
// "max number" column).
var uniqueFields = []string{"Date", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Message-ID", "In-Reply-To", "References", "Subject"}

// analyzeMessageHeader checks a message's header and fills its addresses
// and trace.
func (w *walker) analyzeMessageHeader(m *Message, where string) {
	count := map[string]int{}
	for _, f := range m.Header {
		count[strings.ToLower(f.Name)]++
	}
	if count["date"] == 0 {
		w.probs.add("nodate", where, 0, "RFC 5322 §3.6", "no Date field: every message must have one")
	}
	if count["from"] == 0 {
		w.probs.add("nofrom", where, 0, "RFC 5322 §3.6", "no From field: every message must have one")
	}
	for _, name := range uniqueFields {
		if n := count[strings.ToLower(name)]; n > 1 {
			w.probs.add("dup-"+name, where, 0, "RFC 5322 §3.6", fmt.Sprintf("%d %s fields: at most one is allowed", n, name))
		}
	}
	hasContent := count["content-type"] > 0 || count["content-transfer-encoding"] > 0
	if hasContent && count["mime-version"] == 0 && where == "header" {
		w.probs.add("nomimeversion", where, 0, "RFC 2045 §4", "Content-Type or Content-Transfer-Encoding without MIME-Version")
	}
	for _, f := range m.Header {
		switch strings.ToLower(f.Name) {
		case "date":
			if _, err := parseDate(f.Raw); err != nil {
				w.probs.add("baddate", where, 0, "RFC 5322 §3.3", fmt.Sprintf("Date %q is not a date-time", f.Raw))
			}
		case "message-id":
			if !validMsgID(f.Raw) {
				w.probs.add("badmsgid", where, 0, "RFC 5322 §3.6.4", fmt.Sprintf("Message-ID %q is not <id-left@id-right>", f.Raw))
			}
		}
	}
	w.addresses(m, where)
	if len(m.Addresses.From) > 1 && len(m.Addresses.Sender) == 0 {
		w.probs.add("nosender", where, 0, "RFC 5322 §3.6.2", "From names several mailboxes: a Sender field must say which one sent it")
	}
	m.Trace = w.trace(m.Header, where)
}

// addresses parses the address fields.
func (w *walker) addresses(m *Message, where string) {
	p := mail.AddressParser{WordDecoder: w.dec}
	a := &m.Addresses
	for _, f := range m.Header {
		var dst *[]Address
		switch strings.ToLower(f.Name) {
		case "from":
			dst = &a.From
		case "sender":
			dst = &a.Sender
		case "reply-to":
			dst = &a.ReplyTo
		case "to":
			dst = &a.To
		case "cc":
			dst = &a.Cc
		case "bcc":
			dst = &a.Bcc
		default:
			continue
		}
		if strings.TrimSpace(f.Raw) == "" {
			if dst != &a.Bcc { // RFC 5322 §3.6.3: Bcc may be empty
				w.probs.add("emptyaddr-"+f.Name, where, 0, "RFC 5322 §3.6.2, §3.6.3", fmt.Sprintf("empty %s field", f.Name))
			}
			continue
		}
		list, err := p.ParseList(f.Raw)
		if err != nil {
			w.probs.add("badaddr-"+f.Name, where, 0, "RFC 5322 §3.4",
				fmt.Sprintf("%s %q is not an address list (%v)", f.Name, f.Raw, err))
			continue
		}
		for _, ad := range list {
			*dst = append(*dst, Address{Name: strings.ToValidUTF8(ad.Name, "\uFFFD"), Addr: ad.Address})
		}
	}
}

// validMsgID checks the msg-id of RFC 5322 §3.6.4: "<" dot-atom-text "@"
// (dot-atom-text or no-fold-literal) ">", with white space around.
func validMsgID(s string) bool {
	s = strings.TrimSpace(s)
	if len(s) < 5 || s[0] != '<' || s[len(s)-1] != '>' {
		return false
	}
	left, right, ok := strings.Cut(s[1:len(s)-1], "@")
	if !ok || !dotAtomText(left) {
		return false
	}
	if strings.HasPrefix(right, "[") && strings.HasSuffix(right, "]") {
		for _, c := range []byte(right[1 : len(right)-1]) {
			if c <= ' ' || c >= 0x7f || c == '[' || c == ']' || c == '\\' {
				return false
			}
		}
		return true
	}
	return dotAtomText(right)
}

// dotAtomText is RFC 5322 §3.2.3's dot-atom-text: atext runs joined by
// single dots. UTF-8 is allowed as RFC 6532 §3.2 extends atext.
func dotAtomText(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, c := range []byte(s) {
		if c < 0x80 && c != '.' && !isAtext(c) {
			return false
		}
	}
	return utf8.ValidString(s)
}

func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// checkPartHeader checks a body part's own header.
func (w *walker) checkPartHeader(fields []Field, where string) {
	count := map[string]int{}
	for _, f := range fields {
		count[strings.ToLower(f.Name)]++
	}
	for _, name := range []string{"Content-Type", "Content-Transfer-Encoding"} {
		if n := count[strings.ToLower(name)]; n > 1 {
			w.probs.add("dup-"+name, where, 0, "RFC 2045 §5.1, §6.1", fmt.Sprintf("%d %s fields: the part's meaning is ambiguous (the first is used)", n, name))
		}
	}
}

// partFrom builds a part from the Content-* fields of a header (RFC 2045
// §5, §6; RFC 2183), defType when it has no Content-Type.
func (w *walker) partFrom(fields []Field, defType, where string) *Part {
	p := &Part{Type: defType, Encoding: "7bit"}
	var ctSeen, cteSeen, cdSeen bool
	for _, f := range fields {
		switch strings.ToLower(f.Name) {
		case "content-type":
			if ctSeen {
				continue
			}
			ctSeen = true
			typ, params, bad := parseParams(f.Raw)
			if bad != "" {
				w.probs.add("badct", where, 0, "RFC 2045 §5.1, RFC 2231", "Content-Type: "+bad)
			}
			if typ == "" || !strings.Contains(typ, "/") {
				// RFC 2045 §5.2: an invalid Content-Type means text/plain.
				w.probs.add("badtype", where, 0, "RFC 2045 §5.2", fmt.Sprintf("Content-Type %q has no type/subtype: read as text/plain", f.Raw))
				typ = "text/plain"
			}
			p.Type, p.Params = typ, params
		case "content-transfer-encoding":
			if cteSeen {
				continue
			}
			cteSeen = true
			p.Encoding = strings.ToLower(strings.TrimSpace(stripComments(f.Raw)))
		case "content-disposition":
			if cdSeen {
				continue
			}
			cdSeen = true
			disp, params, bad := parseParams(f.Raw)
			if bad != "" {
				w.probs.add("badcd", where, 0, "RFC 2183 §2, RFC 2231", "Content-Disposition: "+bad)
			}
			p.Disposition = disp
			if fn := params["filename"]; fn != "" {
				p.Filename = fn
			}
		case "content-description":
			p.Description = f.Value
		}
	}
	if p.Filename == "" && p.Params["name"] != "" {
		p.Filename = p.Params["name"]
	}
	if strings.Contains(p.Filename, "=?") {
		// Not allowed inside a quoted string (RFC 2047 §5), but common.
		if v, err := w.dec.DecodeHeader(p.Filename); err == nil {
			p.Filename = v
		}
	}
	switch p.Encoding {
	case "7bit", "8bit", "binary", "quoted-printable", "base64":
	default:
		// RFC 2045 §6.4: an unknown encoding makes the part opaque.
		w.probs.add("badcte", where, 0, "RFC 2045 §6.4",
			fmt.Sprintf("unknown Content-Transfer-Encoding %q: the body is shown as it is", p.Encoding))
	}
	if strings.HasPrefix(p.Type, "text/") {
		p.Charset = strings.ToLower(p.Params["charset"])
		if p.Charset == "" {
			p.Charset = "us-ascii" // RFC 2045 §5.2
		}
	}
	return p
}

// wordDecoder decodes RFC 2047 encoded words in any character set that
// golang.org/x/text knows.
func wordDecoder() *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
		enc, err := lookupCharset(charset)
		if err != nil {
			return nil, err
		}
		return enc.NewDecoder().Reader(r), nil
	}}
}
