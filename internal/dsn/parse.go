package dsn

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds of ParseReport and ParseDeliveryStatus: a notice may be as large
// as the message it returns, but only these parts of it are held in memory.
const (
	MaxOriginal   = 10 << 20 // octets of an attached original that ParseReport keeps
	maxHeaderSize = 1 << 20  // the notice's own header
	maxStatusSize = 1 << 20  // a delivery-status part
	maxTextSize   = 1 << 20  // the human-readable part; the rest is dropped
	maxFields     = 10000    // fields of one delivery-status part
	maxParts      = 100      // parts of one multipart
	maxDepth      = 3        // multiparts inside the report, counting it
)

// ErrNoReport is wrapped by ParseReport's error when the message is not a
// multipart holding a delivery-status part.
var ErrNoReport = errors.New("dsn: no delivery status report")

// Parsed is what ParseReport found in a notification message.
type Parsed struct {
	Report Report
	// Text is the first text/plain part, its transfer encoding undone and
	// ISO-8859-1 made UTF-8 (other character sets are left as they are);
	// at most 1 MiB of it.
	Text string
	// Original is the attached message or header as it was, at most
	// MaxOriginal octets; OriginalTruncated says that more was there, or
	// that the notice ended inside it.
	Original          []byte
	OriginalType      string // "message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"; "" when none
	OriginalTruncated bool
}

// ParseReport reads a notification message (RFC 6522 multipart/report,
// RFC 3464 delivery-status) and returns its report, its text and what it
// attached. It reads the notices of other MTAs too: field names in any
// case, folded fields, LF line ends, a message/global-delivery-status
// (RFC 6533), a text part inside a multipart/alternative. It stops reading
// r once it has the report and the attachment, and holds only bounded
// parts of it in memory.
func ParseReport(r io.Reader) (*Parsed, error) {
	br := bufio.NewReader(r)
	budget := maxHeaderSize
	hdr, _, err := readBlock(br, &budget, false)
	if err != nil {
		return nil, fmt.Errorf("dsn: reading header: %w", err)
	}
	ct, _ := hdr.get("content-type")
	p := &parser{}
	if err := p.walk(br, ct, 0); err != nil {
		return nil, err
	}
	if !p.haveReport {
		return nil, fmt.Errorf("%w: no message/delivery-status part", ErrNoReport)
	}
	return &p.Parsed, nil
}

type parser struct {
	Parsed
	haveReport, haveText, haveOriginal bool
}

func (p *parser) done() bool { return p.haveReport && p.haveOriginal }

// walk reads the parts of a multipart body of type ct.
func (p *parser) walk(r io.Reader, ct string, depth int) error {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil && mt == "" || !strings.HasPrefix(mt, "multipart/") {
		return fmt.Errorf("%w: content type %q is not multipart", ErrNoReport, ct)
	}
	if params["boundary"] == "" {
		return fmt.Errorf("%w: multipart without a boundary", ErrNoReport)
	}
	mr := multipart.NewReader(r, params["boundary"])
	for i := 0; !p.done(); i++ {
		if i == maxParts {
			return fmt.Errorf("dsn: more than %d parts", maxParts)
		}
		// NextPart undoes quoted-printable; base64 is undone in part.
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil // the end, or no boundary at all
		}
		if err != nil {
			return fmt.Errorf("dsn: reading part %d: %w", i+1, err)
		}
		if err := p.part(part, depth); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) part(part *multipart.Part, depth int) error {
	ct := part.Header.Get("Content-Type")
	mt, params, _ := mime.ParseMediaType(ct)
	if ct == "" {
		mt = "text/plain" // RFC 2045 §5.2
	}
	var body io.Reader = part
	if strings.EqualFold(strings.TrimSpace(part.Header.Get("Content-Transfer-Encoding")), "base64") {
		body = base64.NewDecoder(base64.StdEncoding, part)
	}
	switch mt {
	case "message/delivery-status", "message/global-delivery-status":
		if p.haveReport {
			return nil
		}
		rep, err := ParseDeliveryStatus(body)
		if err != nil {
			return err
		}
		p.Report, p.haveReport = rep, true
	case "text/plain":
		if p.haveText {
			return nil
		}
		data, err := io.ReadAll(io.LimitReader(body, maxTextSize))
		if err != nil {
			return fmt.Errorf("dsn: reading text part: %w", err)
		}
		p.Text, p.haveText = decodeCharset(data, params["charset"]), true
	case "message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers":
		if p.haveOriginal {
			return nil
		}
		data, err := io.ReadAll(io.LimitReader(body, MaxOriginal+1))
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("dsn: reading attached message: %w", err)
		}
		p.OriginalTruncated = err != nil || len(data) > MaxOriginal
		p.Original, p.OriginalType, p.haveOriginal = data[:min(len(data), MaxOriginal)], mt, true
	default:
		if strings.HasPrefix(mt, "multipart/") && depth+1 < maxDepth {
			return p.walk(part, ct, depth+1)
		}
	}
	return nil
}

// decodeCharset returns text as UTF-8: ISO-8859-1 is converted, other
// character sets are left as they are.
func decodeCharset(data []byte, charset string) string {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "iso_8859-1", "latin1", "l1":
		var b strings.Builder
		for _, c := range data {
			b.WriteRune(rune(c))
		}
		return b.String()
	}
	return string(data)
}

// ParseDeliveryStatus parses the body of a message/delivery-status or
// message/global-delivery-status part (RFC 3464 §2.1, RFC 6533 §6.2): the
// per-message fields, then one block per recipient. It checks what RFC
// 3464 requires of each recipient (Final-Recipient, Action, Status with
// RFC 3463 syntax) and the dates; unknown fields are ignored, and the first
// of a repeated field wins. Values come out unfolded, with runs of white
// space as one space. Type prefixes are removed ("dns; host" gives "host",
// "rfc822; addr" gives "addr") and utf-8 addresses are decoded from their
// \x{HEX} escapes (RFC 6533 §3). The input is read up to 1 MiB.
func ParseDeliveryStatus(r io.Reader) (Report, error) {
	br := bufio.NewReader(r)
	budget := maxStatusSize
	var blocks []block
	fields := 0
	for more := true; more; {
		var b block
		var err error
		b, more, err = readBlock(br, &budget, true)
		if err != nil {
			return Report{}, fmt.Errorf("dsn: delivery status: %w", err)
		}
		if fields += len(b); fields > maxFields {
			return Report{}, fmt.Errorf("dsn: delivery status: more than %d fields", maxFields)
		}
		if len(b) > 0 {
			blocks = append(blocks, b)
		}
	}
	var rep Report
	if len(blocks) > 0 && !blocks[0].has("final-recipient") {
		if err := rep.setMessageFields(blocks[0]); err != nil {
			return Report{}, err
		}
		blocks = blocks[1:]
	}
	if len(blocks) == 0 {
		return Report{}, errors.New("dsn: delivery status has no recipient")
	}
	for i, b := range blocks {
		rs, err := parseRecipient(b)
		if err != nil {
			return Report{}, fmt.Errorf("dsn: delivery status, recipient %d: %w", i+1, err)
		}
		rep.Recipients = append(rep.Recipients, rs)
	}
	return rep, nil
}

// RFC 3464 §2.2.
func (rep *Report) setMessageFields(b block) error {
	rep.EnvID, _ = b.get("original-envelope-id")
	rep.ReportingMTA = b.mta("reporting-mta")
	rep.ReceivedFromMTA = b.mta("received-from-mta")
	var err error
	rep.ArrivalDate, err = b.date("arrival-date")
	if err != nil {
		return fmt.Errorf("dsn: delivery status: %w", err)
	}
	return nil
}

// RFC 3464 §2.3.
func parseRecipient(b block) (RecipientStatus, error) {
	var rs RecipientStatus
	if v, ok := b.get("original-recipient"); ok {
		typ, addr, err := parseAddress(v)
		if err != nil {
			return rs, fmt.Errorf("Original-Recipient: %w", err)
		}
		rs.OriginalRecipient = ORCPT{Type: typ, Addr: addr}
	}
	v, ok := b.get("final-recipient")
	if !ok {
		return rs, errors.New("no Final-Recipient")
	}
	var err error
	if _, rs.FinalRecipient, err = parseAddress(v); err != nil {
		return rs, fmt.Errorf("Final-Recipient: %w", err)
	}
	v, _ = b.get("action")
	if rs.Action = Action(strings.ToLower(firstToken(v))); !rs.Action.valid() {
		return rs, fmt.Errorf("bad Action %q", v)
	}
	v, _ = b.get("status")
	if rs.Status = firstToken(v); !validStatus(rs.Status) {
		return rs, fmt.Errorf("bad Status %q", v)
	}
	rs.RemoteMTA = b.mta("remote-mta")
	if v, ok := b.get("diagnostic-code"); ok {
		rs.DiagnosticType, rs.DiagnosticCode = parseDiagnostic(v)
	}
	if rs.LastAttemptDate, err = b.date("last-attempt-date"); err != nil {
		return rs, err
	}
	if rs.WillRetryUntil, err = b.date("will-retry-until"); err != nil {
		return rs, err
	}
	return rs, nil
}

// firstToken is a value up to its first space or comment.
func firstToken(v string) string {
	if i := strings.IndexAny(v, " ("); i >= 0 {
		return v[:i]
	}
	return v
}

// mta returns the name in an mta-name-type; mta-name field (RFC 3464
// §2.2.2), "" when the field is absent.
func (b block) mta(field string) string {
	v, _ := b.get(field)
	if _, name, ok := strings.Cut(v, ";"); ok {
		return strings.TrimSpace(name)
	}
	return v
}

// parseDiagnostic splits "smtp; 550 5.1.1 ..." (RFC 3464 §2.3.6); the smtp
// type comes out as "". A value with no type is taken as text.
func parseDiagnostic(v string) (typ, text string) {
	typ, text, ok := strings.Cut(v, ";")
	typ = strings.ToLower(strings.TrimSpace(typ))
	if !ok || !isAtom(typ) {
		typ, text = "", v
	}
	text = strings.TrimSpace(text)
	if typ == "smtp" || text == "" {
		typ = ""
	}
	return typ, text
}

// parseAddress splits "type; address" (RFC 3464 §2.3.1, §2.3.2). A utf-8
// address is decoded (RFC 6533 §3), and an rfc822 one that is not ASCII
// comes out as utf-8; an address loses the angle brackets some MTAs put
// around it.
func parseAddress(v string) (typ, addr string, err error) {
	typ, addr, ok := strings.Cut(v, ";")
	typ = strings.ToLower(strings.TrimSpace(typ))
	if !ok || !isAtom(typ) {
		return "", "", fmt.Errorf("%q is not type; address", v)
	}
	addr = strings.TrimSpace(addr)
	if typ == "utf-8" {
		addr = cleanText(decodeEmbedded(addr))
	}
	for len(addr) >= 2 && addr[0] == '<' && addr[len(addr)-1] == '>' {
		addr = strings.TrimSpace(addr[1 : len(addr)-1])
	}
	if typ == "rfc822" && !isASCII(addr) {
		typ = "utf-8" // as written here, and as RFC 6533 §3 has it
	}
	if addr == "" {
		return "", "", fmt.Errorf("%q has no address", v)
	}
	return typ, addr, nil
}

// decodeEmbedded replaces each RFC 6533 EmbeddedUnicodeChar, \x{HEX}, by
// its character. An escape that is not one is left as it is.
func decodeEmbedded(s string) string {
	if !strings.Contains(s, `\x{`) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, `\x{`)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		end := strings.IndexByte(s, '}')
		if end < 4 || end > 9 {
			b.WriteByte('\\')
			s = s[1:]
			continue
		}
		v, err := strconv.ParseUint(s[3:end], 16, 32)
		if err != nil || !utf8.ValidRune(rune(v)) {
			b.WriteByte('\\')
			s = s[1:]
			continue
		}
		b.WriteRune(rune(v))
		s = s[end+1:]
	}
}

// addrField formats an address field value, "type; address". RFC 6533 §3:
// a non-ASCII address has type utf-8; in a message/delivery-status part it
// is written as utf-8-addr-xtext, each character that is not QCHAR as
// \x{HEX}; in a global one it is written as it is (utf-8-address), but for
// "\" which would start an escape.
func addrField(typ, addr string, ascii bool) string {
	addr = cleanText(addr)
	if typ == "rfc822" && !isASCII(addr) {
		typ = "utf-8"
	}
	if typ != "utf-8" {
		return typ + "; " + escapeText(addr, ascii)
	}
	var b strings.Builder
	for _, r := range addr {
		qchar := r > ' ' && r < 0x7f && r != '+' && r != '=' && r != '\\'
		if qchar || (!ascii && r != '\\') {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, `\x{%02X}`, r)
		}
	}
	return typ + "; " + b.String()
}

// escapeText writes non-ASCII characters of s as RFC 6533 \x{HEX} when ascii.
func escapeText(s string, ascii bool) string {
	if !ascii || isASCII(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r < utf8.RuneSelf {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, `\x{%02X}`, r)
		}
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// field is one header field, name in lower case, value unfolded.
type field struct{ name, value string }

// block is a run of fields up to a blank line: a header, or one block of
// a delivery-status part.
type block []field

func (b block) get(name string) (string, bool) {
	for _, f := range b {
		if f.name == name {
			return f.value, true
		}
	}
	return "", false
}

func (b block) has(name string) bool {
	_, ok := b.get(name)
	return ok
}

func (b block) date(name string) (time.Time, error) {
	v, ok := b.get(name)
	if !ok {
		return time.Time{}, nil
	}
	t, err := mail.ParseDate(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad %s %q", name, v)
	}
	return t, nil
}

// readBlock reads fields up to a blank line or the end of input, and says
// whether input is left. A line that starts with white space continues the
// field before it (RFC 5322 §2.2.3). Strict, a line that is not a field is
// an error; otherwise it is skipped (an mbox "From " line, say). Every
// octet read is taken from *budget.
func readBlock(br *bufio.Reader, budget *int, strict bool) (block, bool, error) {
	var b block
	for {
		line, err := readLine(br, budget)
		if err == io.EOF {
			return b.clean(), false, nil
		}
		if err != nil {
			return nil, false, err
		}
		switch {
		case strings.TrimLeft(line, " \t") == "":
			return b.clean(), true, nil
		case line[0] == ' ' || line[0] == '\t':
			if len(b) > 0 {
				b[len(b)-1].value += line
			} else if strict {
				return nil, false, fmt.Errorf("continuation line %q before any field", line)
			}
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimRight(name, " \t")
		if !ok || !isFieldName(name) {
			if strict {
				return nil, false, fmt.Errorf("malformed line %q", line)
			}
			continue
		}
		b = append(b, field{strings.ToLower(name), value})
	}
}

func (b block) clean() block {
	for i := range b {
		b[i].value = cleanText(b[i].value)
	}
	return b
}

// isFieldName checks RFC 5322 §3.6.8 ftext.
func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

var errTooLarge = errors.New("too large")

// readLine reads one line, without its CRLF or LF; io.EOF only when there
// is nothing left.
func readLine(br *bufio.Reader, budget *int) (string, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if *budget -= len(frag); *budget < 0 {
			return "", errTooLarge
		}
		line = append(line, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(line) > 0 {
			break
		}
		if err != nil {
			return "", err
		}
		break
	}
	s := strings.TrimSuffix(string(line), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

// validStatus checks RFC 3463 §2: class "." subject "." detail, class 2, 4
// or 5, subject and detail of one to three digits.
func validStatus(s string) bool {
	if len(s) < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.' {
		return false
	}
	subject, detail, ok := strings.Cut(s[2:], ".")
	return ok && isDigits(subject) && isDigits(detail)
}

func isDigits(s string) bool {
	if len(s) == 0 || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isAtom checks an address or diagnostic type: RFC 3464 §2.1.2 makes them
// atoms; letters, digits and "-" are what registered types use.
func isAtom(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// cleanText makes s fit for a field value: invalid UTF-8 becomes U+FFFD,
// control characters spaces, runs of spaces one, and no space is left at
// either end. This is how a multi-line reply becomes one line.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		if r < ' ' || r == 0x7f || r == ' ' {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
