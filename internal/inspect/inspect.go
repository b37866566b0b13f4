// Package inspect analyses one message for `facteur inspect`: what its
// envelope said against its header (RFC 5321 §2.3.1: the envelope is not
// the header), its trace path (Return-Path and Received, RFC 5321 §4.4,
// with the protocol names of RFC 3848), its header fields unfolded
// (RFC 5322 §2.2.3) and decoded (RFC 2047, RFC 2231), its MIME structure
// (RFC 2045 to 2049, multipart/report of RFC 6522 with the delivery status
// of RFC 3464), and the problems it holds, each with the rule it breaks.
//
// The message is read once, as a stream: part bodies are decoded as they
// pass and only bounded pieces of them are kept (the first lines of a
// text part, a delivery-status part), so memory does not grow with the
// message and time is linear in its size. Bad input (an unclosed
// boundary, deep nesting, an enormous header, broken encodings, binary
// garbage) is reported as problems, never as a failure.
package inspect

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"facteur/internal/envelope"
)

// Bounds of the analysis. What goes past them is read and counted, not
// kept, and reported as a problem.
const (
	MaxDepth       = 20       // nested multiparts and messages
	MaxParts       = 1000     // parts described in one report
	maxFieldKept   = 16 << 10 // octets of one field value kept
	maxHeaderKept  = 256 << 10
	maxFieldsKept  = 1000 // fields kept of one header section
	maxProblems    = 200  // distinct problems listed
	previewLines   = 5
	previewBytes   = 4 << 10 // decoded octets of a text part kept for its preview
	previewRunes   = 160     // runes of one preview line
	maxStatusBytes = 1 << 20 // a delivery-status part (dsn reads no more)
)

// Options are the inputs of Analyze besides the message.
type Options struct {
	// Envelope is the message's envelope when known (a queued message);
	// nil otherwise, and the envelope is then read from Return-Path and
	// Delivered-To when the message has them.
	Envelope *envelope.Envelope
	// Extract, when set, receives each attachment's decoded body as it
	// is read.
	Extract Extractor
}

// Extractor stores attachments: Create is called once per attachment, when
// its header has been read, and the decoded body is written to w, which is
// closed at the part's end. name is what the report shows as Part.Saved.
type Extractor interface {
	Create(p *Part) (name string, w io.WriteCloser, err error)
}

// Report is the analysis of one message.
type Report struct {
	Size     int64     `json:"size"`               // octets read
	Envelope *Envelope `json:"envelope,omitempty"` // nil when not known
	// Compare says, sentence by sentence, how the envelope and the header
	// agree or differ, and why a difference is normal.
	Compare  []string  `json:"compare"`
	Message  *Message  `json:"message"`
	Problems []Problem `json:"problems"`
}

// Message is a message's header and body: the whole input, or a
// message/rfc822 part inside it.
type Message struct {
	Header    []Field   `json:"header"`
	Addresses Addresses `json:"addresses"`
	Trace     Trace     `json:"trace"`
	Body      *Part     `json:"body"`
}

// Field is one header field, unfolded (RFC 5322 §2.2.3).
type Field struct {
	Name  string `json:"name"`
	Raw   string `json:"raw"`   // the value as written, line breaks of folding removed
	Value string `json:"value"` // RFC 2047 encoded words decoded, UTF-8
	Group string `json:"group"` // one of the Group constants
	// Truncated says that the value was longer than what is kept.
	Truncated bool `json:"truncated,omitempty"`
}

// Groups of header fields.
const (
	GroupTrace         = "trace"         // Return-Path, Received, Delivered-To, Resent-* (RFC 5322 §3.6.6, §3.6.7)
	GroupAddress       = "address"       // From, Sender, Reply-To, To, Cc, Bcc (§3.6.2, §3.6.3)
	GroupInformational = "informational" // Date, Subject, Message-ID, In-Reply-To, References, Comments, Keywords
	GroupMIME          = "mime"          // MIME-Version, Content-* (RFC 2045)
	GroupExtension     = "extension"     // X-... (RFC 822 §4.7.5's user-defined fields)
	GroupOther         = "other"
)

// Groups lists the groups in the order a report shows them.
var Groups = []string{GroupTrace, GroupAddress, GroupInformational, GroupMIME, GroupExtension, GroupOther}

// Addresses are a message's address fields, parsed (RFC 5322 §3.4).
type Addresses struct {
	From    []Address `json:"from,omitempty"`
	Sender  []Address `json:"sender,omitempty"`
	ReplyTo []Address `json:"reply_to,omitempty"`
	To      []Address `json:"to,omitempty"`
	Cc      []Address `json:"cc,omitempty"`
	Bcc     []Address `json:"bcc,omitempty"`
}

// Address is one mailbox of an address field.
type Address struct {
	Name string `json:"name,omitempty"` // display name, decoded
	Addr string `json:"addr"`
}

// String formats a as in a header field.
func (a Address) String() string {
	if a.Name == "" {
		return "<" + a.Addr + ">"
	}
	return fmt.Sprintf("%q <%s>", a.Name, a.Addr)
}

// Envelope is what the SMTP transaction said (RFC 5321 §3.3), or what
// final delivery recorded of it.
type Envelope struct {
	// Source is where the envelope comes from: "queue" or "header"
	// (Return-Path and Delivered-To, written at final delivery).
	Source     string              `json:"source"`
	QueueID    string              `json:"queue_id,omitempty"`
	MailFrom   string              `json:"mail_from"`       // "" for the null sender <>
	HasFrom    bool                `json:"mail_from_known"` // MailFrom is known: "" is then the null sender
	Recipients []EnvelopeRecipient `json:"recipients"`
	EnvID      string              `json:"envid,omitempty"` // RFC 3461 ENVID
	Ret        string              `json:"ret,omitempty"`   // RFC 3461 RET
	Body       string              `json:"body,omitempty"`  // 7BIT, 8BITMIME, BINARYMIME
	SMTPUTF8   bool                `json:"smtputf8,omitempty"`
}

// EnvelopeRecipient is one RCPT TO with its RFC 3461 parameters.
type EnvelopeRecipient struct {
	Addr   string `json:"addr"`
	Notify string `json:"notify,omitempty"` // NOTIFY, "" when not given
	ORCPT  string `json:"orcpt,omitempty"`  // ORCPT, "rfc822;addr"
	State  string `json:"state,omitempty"`  // the queue's delivery state
}

// Trace is the trace path of a message (RFC 5321 §4.4).
type Trace struct {
	ReturnPath string `json:"return_path,omitempty"` // as written, "<>" for the null sender
	Hops       []Hop  `json:"hops"`                  // oldest first
	// Total is the time from the oldest stamped hop to the newest, nil
	// when fewer than two hops have a date.
	Total *Duration `json:"total,omitempty"`
}

// Hop is one Received field (RFC 5321 §4.4, RFC 5322 §3.6.7).
type Hop struct {
	From     string    `json:"from,omitempty"`      // the name the client gave (HELO or EHLO)
	FromName string    `json:"from_name,omitempty"` // the client's name as the receiver found it
	FromAddr string    `json:"from_addr,omitempty"` // the client's IP address
	By       string    `json:"by,omitempty"`
	Via      string    `json:"via,omitempty"`
	With     string    `json:"with,omitempty"` // protocol, "ESMTPS" (RFC 3848)
	ID       string    `json:"id,omitempty"`
	For      string    `json:"for,omitempty"`
	TLS      string    `json:"tls,omitempty"`    // "TLSv1.3", when stated
	Cipher   string    `json:"cipher,omitempty"` // when stated
	Date     time.Time `json:"date,omitzero"`
	// Delay is the time since the previous hop, nil when either has no
	// date. Skew says it is negative: the clocks disagree.
	Delay *Duration `json:"delay,omitempty"`
	Skew  bool      `json:"skew,omitempty"`
	Raw   string    `json:"raw"`
}

// Part is one MIME entity (RFC 2045 §2.4).
type Part struct {
	// ID is the part's number as IMAP names it (RFC 3501 §6.4.5): "1",
	// "1.2"; a multipart that is a message's body is "TEXT", or "2.TEXT"
	// inside message/rfc822 part 2.
	ID          string            `json:"id"`
	Header      []Field           `json:"header,omitempty"` // a body part's own header; a message's is in Message
	Type        string            `json:"type"`             // "text/plain", lower case
	Params      map[string]string `json:"params,omitempty"` // decoded (RFC 2231)
	Charset     string            `json:"charset,omitempty"`
	Encoding    string            `json:"encoding"` // Content-Transfer-Encoding, lower case, "7bit" when absent
	Disposition string            `json:"disposition,omitempty"`
	Filename    string            `json:"filename,omitempty"` // RFC 2231 or RFC 2047 decoded
	Description string            `json:"description,omitempty"`
	RawSize     int64             `json:"raw_size"`          // octets of the body as written
	Size        int64             `json:"size"`              // octets of the body decoded (leaf parts)
	Preview     []string          `json:"preview,omitempty"` // first lines of a text part, UTF-8
	Parts       []*Part           `json:"parts,omitempty"`   // of a multipart
	Message     *Message          `json:"message,omitempty"` // of message/rfc822
	Status      *DeliveryStatus   `json:"delivery_status,omitempty"`
	Saved       string            `json:"saved,omitempty"` // name given by the Extractor
}

// IsAttachment reports whether p is an attachment: a leaf part with
// disposition attachment or a file name.
func (p *Part) IsAttachment() bool {
	if p.Parts != nil || p.Message != nil || isComposite(p.Type) {
		return false
	}
	return p.Disposition == "attachment" || p.Filename != ""
}

// DeliveryStatus is a message/delivery-status part parsed (RFC 3464 §2).
type DeliveryStatus struct {
	ReportingMTA    string            `json:"reporting_mta,omitempty"`
	ReceivedFromMTA string            `json:"received_from_mta,omitempty"`
	EnvID           string            `json:"envid,omitempty"`
	ArrivalDate     time.Time         `json:"arrival_date,omitzero"`
	Recipients      []RecipientStatus `json:"recipients"`
}

// RecipientStatus is one recipient's block of a delivery status.
type RecipientStatus struct {
	OriginalRecipient string    `json:"original_recipient,omitempty"`
	FinalRecipient    string    `json:"final_recipient"`
	Action            string    `json:"action"`
	Status            string    `json:"status"`
	RemoteMTA         string    `json:"remote_mta,omitempty"`
	DiagnosticCode    string    `json:"diagnostic_code,omitempty"`
	LastAttemptDate   time.Time `json:"last_attempt_date,omitzero"`
}

// Problem is something in the message that breaks a rule.
type Problem struct {
	Where string `json:"where"` // "header", "part 1.2", "header of part 2.TEXT", "Received 3"
	Line  int    `json:"line,omitempty"`
	Rule  string `json:"rule"` // "RFC 5322 §3.6"
	Text  string `json:"text"`
	Count int    `json:"count"` // occurrences; Line is the first
}

func (p Problem) String() string {
	s := p.Where + ": " + p.Text
	if p.Count > 1 {
		s += fmt.Sprintf(" (%d times)", p.Count)
	}
	if p.Line > 0 {
		s += fmt.Sprintf(" [line %d]", p.Line)
	}
	return s + " (" + p.Rule + ")"
}

// Duration is a time.Duration written in JSON as "1m30s".
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// Analyze reads the message from r to its end and returns its analysis.
// The error is only that of reading r or of the Extractor: whatever the
// message holds is in the report.
func Analyze(r io.Reader, opt Options) (*Report, error) {
	w := newWalker(r, opt)
	msg, _, err := w.message("", 0)
	if err != nil {
		return nil, err
	}
	rep := &Report{Size: w.lr.Offset(), Message: msg}
	rep.Envelope = envelopeOf(opt.Envelope, msg)
	rep.Compare = compare(rep.Envelope, msg)
	if w.mbox != "" {
		rep.Compare = append([]string{fmt.Sprintf("The first line, %q, is the separator of an mbox file, not part of the message: it was skipped.", w.mbox)}, rep.Compare...)
	}
	rep.Problems = w.probs.list()
	if rep.Compare == nil {
		rep.Compare = []string{}
	}
	return rep, nil
}
