package dsn

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Action is what the reporting MTA did with one recipient (RFC 3464 §2.3.3).
type Action string

const (
	ActionFailed    Action = "failed"
	ActionDelayed   Action = "delayed"
	ActionDelivered Action = "delivered"
	ActionRelayed   Action = "relayed"
	ActionExpanded  Action = "expanded"
)

func (a Action) valid() bool {
	switch a {
	case ActionFailed, ActionDelayed, ActionDelivered, ActionRelayed, ActionExpanded:
		return true
	}
	return false
}

// rank orders actions by how bad the news is, for the Subject.
func (a Action) rank() int {
	switch a {
	case ActionFailed:
		return 2
	case ActionDelayed:
		return 1
	}
	return 0
}

// Report is the content of a message/delivery-status part (RFC 3464 §2):
// the per-message fields and one RecipientStatus per recipient.
type Report struct {
	ReportingMTA    string    // host name, written "dns; host" (§2.2.2)
	ReceivedFromMTA string    // host name of the client that sent the original, "" when unknown (§2.2.4)
	EnvID           string    // Original-Envelope-Id, decoded from xtext; "" when none (§2.2.1)
	ArrivalDate     time.Time // zero = omitted (§2.2.5)
	Recipients      []RecipientStatus
}

// RecipientStatus is one per-recipient block (RFC 3464 §2.3).
type RecipientStatus struct {
	// OriginalRecipient is the RFC 3461 ORCPT, zero when the client gave
	// none (§2.3.1: the field is then omitted).
	OriginalRecipient ORCPT
	// FinalRecipient is the address, written "rfc822; addr", or
	// "utf-8; addr" when it is not ASCII (RFC 6533 §3).
	FinalRecipient string
	Action         Action
	Status         string // RFC 3463 code, "5.1.1"
	RemoteMTA      string // host name, written "dns; host"; "" when none
	// DiagnosticCode is the remote reply, "550 5.1.1 user unknown"; a
	// multi-line reply is joined with spaces. DiagnosticType is its type,
	// "" for "smtp" (§2.3.6).
	DiagnosticCode  string
	DiagnosticType  string
	LastAttemptDate time.Time // zero = omitted
	WillRetryUntil  time.Time // written for delayed recipients only; zero = omitted
}

// Notice is a whole notification message: an RFC 6522 multipart/report of
// report-type delivery-status.
type Notice struct {
	From      string    // header From, "MAILER-DAEMON@example.org"; the envelope sender <> is the caller's
	To        string    // the original sender
	Date      time.Time // required
	MessageID string    // without angle brackets; required
	Hostname  string    // named in the human-readable text; "" = Report.ReportingMTA
	Report    Report

	// Ret and the worst action choose what of Original is attached. RFC
	// 3461 §4.3 makes RET govern failure notices only: a notice with a
	// failed recipient attaches the whole message unless Ret is RetHdrs
	// (RetNone returns it whole, as Postfix does); delay and success
	// notices attach the header only, whatever Ret says.
	Ret Ret
	// Original is the message as queued; nil attaches nothing. An
	// io.ReadSeeker (an *os.File) is read twice from its current offset,
	// once to measure it and once to copy it; any other reader is held in
	// memory, up to OriginalLimit plus 1 MiB.
	Original io.Reader
	// OriginalLimit is how many octets of Original may be attached (0 = no
	// limit); a larger message has only its header attached. The header is
	// attached whatever the limit when it is under 1 MiB.
	OriginalLimit int64
	// UTF8 says the original needed SMTPUTF8: the report is then
	// message/global-delivery-status (RFC 6533 §6.2) and the original
	// message/global or message/global-headers (RFC 6532 §3.7, RFC 6533 §6.3).
	UTF8 bool
}

// maxHeaderAttach bounds the header of an original that is attached alone.
const maxHeaderAttach = 1 << 20

// WriteNotice writes n as a complete RFC 5322 message, CRLF line ends and no
// line over 998 octets: the header fields, then the three parts of RFC 6522
// §3 (a text/plain explanation, the message/delivery-status report, the
// original or its header). The original's lines are copied as they are,
// but a bare CR or LF becomes CRLF; an original with NUL octets or a line
// over 998 octets has only its header attached.
//
// The notice is 8-bit, and says so in its Content-Transfer-Encoding, when
// the original is or when a UTF-8 address or reply is written out: the
// caller then sends it with BODY=8BITMIME (and SMTPUTF8 when UTF8).
func WriteNotice(w io.Writer, n *Notice) error {
	if err := n.check(); err != nil {
		return err
	}
	worst := worstAction(n.Report.Recipients)
	att, err := prepareOriginal(n, worst)
	if err != nil {
		return err
	}
	boundary, err := newBoundary()
	if err != nil {
		return err
	}
	head, err := n.head(worst, att, boundary)
	if err != nil {
		return err
	}
	if _, err := w.Write(head); err != nil {
		return fmt.Errorf("dsn: writing notice: %w", err)
	}
	end := "--" + boundary + "--\r\n"
	if att != nil {
		if err := att.copyTo(w); err != nil {
			return err
		}
		// RFC 2046 §5.1.1: the CRLF before a boundary belongs to it, so
		// one more keeps the original's last line end in the part.
		end = "\r\n" + end
	}
	if _, err := io.WriteString(w, end); err != nil {
		return fmt.Errorf("dsn: writing notice: %w", err)
	}
	return nil
}

// head renders the notice up to the content of the original: the header
// fields, the text part, the report part and the original's part header.
func (n *Notice) head(worst Action, att *attachment, boundary string) ([]byte, error) {
	text := noticeText(n, att)
	var ds bytes.Buffer
	if err := WriteDeliveryStatus(&ds, &n.Report, n.UTF8); err != nil {
		return nil, err
	}
	// RFC 2045 §6.4: a multipart is 8bit when a part of it is.
	eightBit := !isASCII(text) || !isASCII(ds.String()) || att != nil && att.eightBit

	var b bytes.Buffer
	writeHeader(&b, n, worst, boundary, eightBit)
	b.WriteString("This is a MIME-encapsulated message.\r\n\r\n")

	b.WriteString("--" + boundary + "\r\n")
	b.WriteString("Content-Description: Notification\r\n")
	if isASCII(text) {
		b.WriteString("Content-Type: text/plain; charset=us-ascii\r\n")
	} else {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
		b.WriteString("Content-Transfer-Encoding: 8bit\r\n")
	}
	b.WriteString("\r\n" + text + "\r\n")

	b.WriteString("--" + boundary + "\r\n")
	b.WriteString("Content-Description: Delivery report\r\n")
	if n.UTF8 {
		b.WriteString("Content-Type: message/global-delivery-status\r\n")
		if !isASCII(ds.String()) {
			b.WriteString("Content-Transfer-Encoding: 8bit\r\n") // RFC 6533 §6.2
		}
	} else {
		b.WriteString("Content-Type: message/delivery-status\r\n")
	}
	b.WriteString("\r\n")
	b.Write(ds.Bytes())
	b.WriteString("\r\n")
	if att != nil {
		b.WriteString("--" + boundary + "\r\n")
		b.WriteString("Content-Description: " + att.description() + "\r\n")
		b.WriteString("Content-Type: " + att.typ + "\r\n")
		b.WriteString("Content-Transfer-Encoding: " + att.cte() + "\r\n\r\n")
	}
	return b.Bytes(), nil
}

func (n *Notice) check() error {
	if n == nil {
		return errors.New("dsn: nil notice")
	}
	for _, f := range []struct{ name, v string }{{"From", n.From}, {"To", n.To}, {"Message-ID", n.MessageID}} {
		if f.v == "" {
			return fmt.Errorf("dsn: notice has no %s", f.name)
		}
		if len(f.v) > 900 || strings.ContainsFunc(f.v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return fmt.Errorf("dsn: bad %s %q", f.name, f.v)
		}
	}
	if strings.ContainsAny(n.MessageID, "<> ") {
		return fmt.Errorf("dsn: bad Message-ID %q", n.MessageID)
	}
	if n.Date.IsZero() {
		return errors.New("dsn: notice has no Date")
	}
	return n.Report.check()
}

func (r *Report) check() error {
	if cleanText(r.ReportingMTA) == "" {
		return errors.New("dsn: report has no Reporting-MTA")
	}
	if len(r.Recipients) == 0 {
		return errors.New("dsn: report has no recipients")
	}
	for i := range r.Recipients {
		rs := &r.Recipients[i]
		switch {
		case cleanText(rs.FinalRecipient) == "":
			return fmt.Errorf("dsn: recipient %d has no Final-Recipient", i+1)
		case !rs.Action.valid():
			return fmt.Errorf("dsn: recipient %s: bad action %q", rs.FinalRecipient, rs.Action)
		case !validStatus(rs.Status):
			return fmt.Errorf("dsn: recipient %s: bad status %q", rs.FinalRecipient, rs.Status)
		case rs.OriginalRecipient.Type != "" && (!isAtom(rs.OriginalRecipient.Type) || cleanText(rs.OriginalRecipient.Addr) == ""):
			return fmt.Errorf("dsn: recipient %s: bad original recipient %q", rs.FinalRecipient, rs.OriginalRecipient)
		case rs.DiagnosticType != "" && !isAtom(rs.DiagnosticType):
			return fmt.Errorf("dsn: recipient %s: bad diagnostic type %q", rs.FinalRecipient, rs.DiagnosticType)
		}
	}
	return nil
}

func worstAction(rs []RecipientStatus) Action {
	worst := rs[0].Action
	for _, r := range rs[1:] {
		if r.Action.rank() > worst.rank() {
			worst = r.Action
		}
	}
	return worst
}

// newBoundary returns 128 random bits: no original can hold it by chance,
// and no sender can guess it in advance (RFC 2046 §5.1.1).
func newBoundary() (string, error) {
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("dsn: making a boundary: %w", err)
	}
	return "=_dsn_" + hex.EncodeToString(rnd[:]), nil
}

func writeHeader(b *bytes.Buffer, n *Notice, worst Action, boundary string, eightBit bool) {
	subject := "Successful Mail Delivery Report"
	switch worst {
	case ActionFailed:
		subject = "Undelivered Mail Returned to Sender"
	case ActionDelayed:
		subject = "Delayed Mail (still being retried)"
	}
	b.WriteString("From: Mail Delivery System <" + n.From + ">\r\n")
	b.WriteString("To: <" + n.To + ">\r\n")
	b.WriteString("Subject: " + subject + "\r\n")
	b.WriteString("Date: " + n.Date.Format(time.RFC1123Z) + "\r\n")
	b.WriteString("Message-ID: <" + n.MessageID + ">\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	// RFC 3834 §5: a notice generated in reply to a message.
	b.WriteString("Auto-Submitted: auto-replied\r\n")
	b.WriteString("Content-Type: multipart/report; report-type=delivery-status;\r\n")
	b.WriteString("\tboundary=\"" + boundary + "\"\r\n")
	if eightBit {
		b.WriteString("Content-Transfer-Encoding: 8bit\r\n")
	}
	b.WriteString("\r\n")
}

// WriteDeliveryStatus writes r as the body of a message/delivery-status
// part (RFC 3464 §2.1): the per-message fields, then a blank line before
// each recipient's block. With utf8, it is the body of a
// message/global-delivery-status part, where values may hold UTF-8 (RFC
// 6533 §6.2); without, non-ASCII characters are written as RFC 6533
// \x{HEX} escapes. Control characters become spaces and runs of white
// space one space; fields are folded to stay within 998 octets a line.
func WriteDeliveryStatus(w io.Writer, r *Report, utf8 bool) error {
	if err := r.check(); err != nil {
		return err
	}
	var b bytes.Buffer
	ascii := !utf8
	if v := cleanText(r.EnvID); v != "" {
		writeField(&b, "Original-Envelope-Id", escapeText(v, ascii))
	}
	writeField(&b, "Reporting-MTA", "dns; "+escapeText(cleanText(r.ReportingMTA), ascii))
	if v := cleanText(r.ReceivedFromMTA); v != "" {
		writeField(&b, "Received-From-MTA", "dns; "+escapeText(v, ascii))
	}
	writeDate(&b, "Arrival-Date", r.ArrivalDate)
	for i := range r.Recipients {
		b.WriteString("\r\n")
		writeRecipient(&b, &r.Recipients[i], ascii)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("dsn: writing delivery status: %w", err)
	}
	return nil
}

func writeRecipient(b *bytes.Buffer, rs *RecipientStatus, ascii bool) {
	if o := rs.OriginalRecipient; o.Type != "" {
		writeField(b, "Original-Recipient", addrField(strings.ToLower(o.Type), o.Addr, ascii))
	}
	writeField(b, "Final-Recipient", addrField("rfc822", rs.FinalRecipient, ascii))
	writeField(b, "Action", string(rs.Action))
	writeField(b, "Status", rs.Status)
	if v := cleanText(rs.RemoteMTA); v != "" {
		writeField(b, "Remote-MTA", "dns; "+escapeText(v, ascii))
	}
	if v := cleanText(rs.DiagnosticCode); v != "" {
		typ := strings.ToLower(rs.DiagnosticType)
		if typ == "" {
			typ = "smtp"
		}
		writeField(b, "Diagnostic-Code", typ+"; "+escapeText(v, ascii))
	}
	writeDate(b, "Last-Attempt-Date", rs.LastAttemptDate)
	// RFC 3464 §2.3.8: Will-Retry-Until belongs to delayed recipients.
	if rs.Action == ActionDelayed {
		writeDate(b, "Will-Retry-Until", rs.WillRetryUntil)
	}
}

func writeDate(b *bytes.Buffer, name string, t time.Time) {
	if !t.IsZero() {
		writeField(b, name, t.Format(time.RFC1123Z))
	}
}

// Folding limits: RFC 5322 §2.1.1 asks for lines of at most 78 octets and
// requires at most 998. A word longer than maxWord is cut to fit, which
// adds a space to the value when it is unfolded.
const (
	foldWidth = 78
	maxWord   = 900
)

// writeField writes "Name: value" CRLF, folded at spaces (RFC 5322 §2.2.3).
// value must come from cleanText: no control characters, single spaces.
func writeField(b *bytes.Buffer, name, value string) {
	fold(b, name+": ", " ", value, foldWidth)
}

// fold writes the words of s from first, breaking the line before a word
// that would take it past width, and starting each new line with next.
func fold(b *bytes.Buffer, first, next, s string, width int) {
	b.WriteString(first)
	col, words := len(first), 0
	for _, word := range splitWords(s, maxWord) {
		switch {
		case words > 0 && col+1+len(word) > width:
			b.WriteString("\r\n" + next)
			col = len(next)
		case words > 0:
			b.WriteString(" ")
			col++
		}
		b.WriteString(word)
		col += len(word)
		words++
	}
	b.WriteString("\r\n")
}

// splitWords splits s at spaces, and cuts words longer than max at a
// character boundary.
func splitWords(s string, max int) []string {
	var words []string
	for _, w := range strings.Split(s, " ") {
		if w == "" {
			continue
		}
		for len(w) > max {
			cut := max
			for cut > 0 && !utf8.RuneStart(w[cut]) {
				cut--
			}
			words = append(words, w[:cut])
			w = w[cut:]
		}
		words = append(words, w)
	}
	return words
}

// Paragraphs of the human-readable part, one per action, in the order they
// are written.
var actionOrder = []Action{ActionFailed, ActionDelayed, ActionDelivered, ActionRelayed, ActionExpanded}

var actionIntro = map[Action]string{
	ActionFailed: "Your message could not be delivered to the recipients below, " +
		"and the mail system has stopped trying. Each address is followed by " +
		"the reason it was given.",
	ActionDelayed: "Your message has not reached the recipients below yet. The " +
		"mail system keeps trying, so you do not need to send it again; if it " +
		"has to give up, you will get another notice.",
	ActionDelivered: "Your message was delivered to the recipients below. You " +
		"asked to be told when it arrived, and this is that notice.",
	ActionRelayed: "Your message was passed on, for the recipients below, to a " +
		"mail system that does not report deliveries. No further notice will " +
		"come for them.",
	ActionExpanded: "Your message reached the recipients below, which are lists " +
		"or aliases, and was passed on to their members.",
}

const failedAdvice = "Check each address for mistakes before you send the " +
	"message again. If an address looks right, the trouble is at the " +
	"receiving end: reach the recipient some other way, or forward this " +
	"notice to your postmaster, who can read the technical report attached."

// textWidth is where the human-readable text is wrapped.
const textWidth = 72

// noticeText says in plain words what happened to each recipient and what
// the sender can do.
func noticeText(n *Notice, att *attachment) string {
	host := cleanText(n.Hostname)
	if host == "" {
		host = cleanText(n.Report.ReportingMTA)
	}
	var b bytes.Buffer
	wrap(&b, "This is the mail system at host "+host+".", "")
	for _, a := range actionOrder {
		first := true
		for i := range n.Report.Recipients {
			rs := &n.Report.Recipients[i]
			if rs.Action != a {
				continue
			}
			if first {
				b.WriteString("\r\n")
				wrap(&b, actionIntro[a], "")
				first = false
			}
			b.WriteString("\r\n")
			recipientText(&b, rs)
		}
		if !first && a == ActionFailed {
			b.WriteString("\r\n")
			wrap(&b, failedAdvice, "")
		}
	}
	if att != nil {
		b.WriteString("\r\n")
		wrap(&b, att.sentence(), "")
	}
	return b.String()
}

func recipientText(b *bytes.Buffer, rs *RecipientStatus) {
	final := cleanText(rs.FinalRecipient)
	line := "<" + final + ">"
	if o := cleanText(rs.OriginalRecipient.Addr); o != "" && !strings.EqualFold(o, final) {
		line += " (you wrote <" + o + ">)"
	}
	wrap(b, line, "")
	diag, remote := cleanText(rs.DiagnosticCode), cleanText(rs.RemoteMTA)
	switch {
	case diag != "" && remote != "":
		wrap(b, "The server "+remote+" said: "+diag, "    ")
	case diag != "":
		wrap(b, "Reason: "+diag, "    ")
	case rs.Action == ActionFailed || rs.Action == ActionDelayed:
		wrap(b, "Status: "+rs.Status, "    ")
	}
	if rs.Action == ActionDelayed && !rs.WillRetryUntil.IsZero() {
		wrap(b, "Still trying until "+rs.WillRetryUntil.Format(time.RFC1123Z)+".", "    ")
	}
}

// wrap writes s as lines of at most textWidth octets where its words allow,
// each starting with indent.
func wrap(b *bytes.Buffer, s, indent string) {
	fold(b, indent, indent, cleanText(s), textWidth)
}

// attachment is what of the original goes into the third part.
type attachment struct {
	rs       io.ReadSeeker
	start    int64 // offset of the original in rs
	size     int64 // octets to copy, counted after line ends are made CRLF
	typ      string
	eightBit bool
	whole    bool // the whole message, not its header
	cut      bool // the header only, though the whole was asked for
}

func (a *attachment) cte() string {
	if a.eightBit {
		return "8bit"
	}
	return "7bit"
}

func (a *attachment) description() string {
	if a.whole {
		return "Original message"
	}
	return "Original message header"
}

func (a *attachment) sentence() string {
	switch {
	case a.whole:
		return "A copy of your message is attached."
	case a.cut:
		return "Your message could not be returned whole (it is too large, " +
			"or holds lines too long for mail); only its header is attached."
	}
	return "The header of your message is attached."
}

// prepareOriginal reads the original once to choose what to attach and how
// to label it (RFC 2045 §6: 7bit or 8bit by its content). It returns nil
// when nothing is to be attached.
func prepareOriginal(n *Notice, worst Action) (*attachment, error) {
	if n.Original == nil {
		return nil, nil
	}
	rs, start, err := seekable(n.Original, n.OriginalLimit)
	if err != nil {
		return nil, err
	}
	// RFC 3461 §4.3: RET chooses for failure notices; the others carry the
	// header alone.
	sc := &scanner{limit: n.OriginalLimit, hdrsOnly: worst != ActionFailed || n.Ret == RetHdrs}
	if err := copyNormalised(sc, rs); err != nil && !errors.Is(err, errEnough) {
		return nil, fmt.Errorf("dsn: reading original: %w", err)
	}
	if sc.hdrEnd == 0 {
		sc.hdrEnd = sc.n // no body: the whole is header
	}
	if sc.n == 0 || sc.hdrBad {
		return nil, nil
	}
	a := &attachment{rs: rs, start: start}
	global := n.UTF8 || sc.hdr8 // RFC 6532 §3.7
	a.whole = !sc.hdrsOnly && !sc.bodyBad && (sc.limit <= 0 || sc.n <= sc.limit)
	if a.whole {
		a.typ, a.size, a.eightBit = "message/rfc822", sc.n, sc.hdr8 || sc.body8
		if global {
			a.typ = "message/global"
		}
	} else {
		a.typ, a.size, a.eightBit = "text/rfc822-headers", sc.hdrEnd, sc.hdr8
		if global {
			a.typ = "message/global-headers"
		}
	}
	a.cut = !a.whole && !sc.hdrsOnly
	return a, nil
}

// seekable returns r as an io.ReadSeeker and the offset to read it from.
// A reader that cannot seek (a pipe, even as an *os.File) is read into
// memory, as far as the attachment could need.
func seekable(r io.Reader, limit int64) (io.ReadSeeker, int64, error) {
	if rs, ok := r.(io.ReadSeeker); ok {
		if start, err := rs.Seek(0, io.SeekCurrent); err == nil {
			return rs, start, nil
		}
	}
	if limit > 0 {
		// Enough to tell that it is over the limit, and to hold a header
		// of the size that is attached alone.
		r = io.LimitReader(r, limit+maxHeaderAttach+1)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, 0, fmt.Errorf("dsn: reading original: %w", err)
	}
	return bytes.NewReader(data), 0, nil
}

// copyTo writes the attached octets, with CRLF line ends, to w.
func (a *attachment) copyTo(w io.Writer) error {
	if _, err := a.rs.Seek(a.start, io.SeekStart); err != nil {
		return fmt.Errorf("dsn: rereading original: %w", err)
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	lw := &limitWriter{w: bw, n: a.size}
	if err := copyNormalised(lw, a.rs); err != nil && !errors.Is(err, errEnough) {
		return fmt.Errorf("dsn: copying original: %w", err)
	}
	if lw.n > 0 {
		return errors.New("dsn: original changed while it was being read")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("dsn: writing notice: %w", err)
	}
	return nil
}

// errEnough stops a copy that has what it needs.
var errEnough = errors.New("enough")

// copyNormalised copies src to dst with every line ended by CRLF: a bare
// CR or LF becomes CRLF, and a last line without an end gets one, so the
// boundary after it starts a line (RFC 2046 §5.1.1).
func copyNormalised(dst io.Writer, src io.Reader) error {
	nw := &normWriter{w: dst}
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if werr := nw.write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nw.flush()
		}
		if err != nil {
			return err
		}
	}
}

type normWriter struct {
	w    io.Writer
	cr   bool // the last input octet was a CR
	last byte // the last octet written
}

func (nw *normWriter) emit(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	nw.last = p[len(p)-1]
	_, err := nw.w.Write(p)
	return err
}

var crlf = []byte("\r\n")

func (nw *normWriter) write(p []byte) error {
	for len(p) > 0 {
		if nw.cr {
			nw.cr = false
			if err := nw.emit(crlf); err != nil {
				return err
			}
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			return nw.emit(p)
		}
		if err := nw.emit(p[:i]); err != nil {
			return err
		}
		if p[i] == '\r' {
			nw.cr = true
		} else if err := nw.emit(crlf); err != nil {
			return err
		}
		p = p[i+1:]
	}
	return nil
}

func (nw *normWriter) flush() error {
	if nw.cr || nw.last != 0 && nw.last != '\n' {
		nw.cr = false
		return nw.emit(crlf)
	}
	return nil
}

// scanner measures an original as copyNormalised writes it: its size, where
// its header ends, whether header and body hold 8-bit octets, and whether
// either breaks the rules of 8bit content (RFC 2045 §2.8: no NUL, lines of
// at most 998 octets). It stops the copy once the choice is made.
type scanner struct {
	limit    int64 // Notice.OriginalLimit
	hdrsOnly bool  // only the header is wanted

	n       int64 // octets seen
	line    int   // octets of the current line, CR included
	hdrEnd  int64 // offset past the blank line after the header; 0 until seen
	hdr8    bool
	body8   bool
	hdrBad  bool // the header cannot be attached at all
	bodyBad bool
}

func (s *scanner) Write(p []byte) (int, error) {
	for _, c := range p {
		s.n++
		inHdr := s.hdrEnd == 0
		if c == '\n' {
			if inHdr && s.line == 1 {
				s.hdrEnd = s.n
			}
			s.line = 0
			if s.done() {
				return len(p), errEnough
			}
			continue
		}
		s.line++
		bad := c == 0 || s.line > 999
		switch {
		case inHdr && (bad || s.n > maxHeaderAttach):
			s.hdrBad = true
			return len(p), errEnough
		case bad:
			s.bodyBad = true
		case c >= utf8.RuneSelf && inHdr:
			s.hdr8 = true
		case c >= utf8.RuneSelf:
			s.body8 = true
		}
	}
	if s.done() {
		return len(p), errEnough
	}
	return len(p), nil
}

// done reports whether the rest of the original can change nothing.
func (s *scanner) done() bool {
	if s.hdrEnd == 0 {
		return false
	}
	return s.hdrsOnly || s.bodyBad || s.limit > 0 && s.n > s.limit
}

// limitWriter passes on n octets, then stops the copy.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.w.Write(p)
	l.n -= int64(n)
	if err == nil && l.n == 0 {
		err = errEnough
	}
	return n, err
}
