// Package cleanup is what happens to a message on its way into the queue,
// after smtpd or sendmail has received it and before it is acknowledged:
//
//   - a Received trace field is prepended (RFC 5321 §4.4, RFC 5322 §3.6.7);
//   - Received fields are counted and a message that went through more
//     hops than hopcount_limit is refused (RFC 5321 §6.3, loop detection);
//   - a local or authenticated submission gets the Message-ID and Date it
//     lacks (RFC 5322 §3.6.1, §3.6.4; RFC 6409 §8.2, §8.3);
//   - an authenticated client's From addresses must be its own (RFC 6409
//     §6.1 lets the submission server check them): cleanup sees the
//     header as it streams by, asks Senders, and a refusal is the reply
//     that Commit returns, so that smtpd gives it at the end of DATA;
//   - the message size is counted as queued.
//
// The message streams through: only the header is held in memory, and at
// most header_size_limit of it. cleanup does not talk SMTP; its one refusal is an
// *smtp.Reply that the session writes unchanged.
package cleanup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"time"

	"facteur/internal/envelope"
	"facteur/internal/maillog"
	"facteur/internal/smtp"
)

// DefaultHopLimit is Postfix's hopcount_limit default.
const DefaultHopLimit = 50

// Queue creates queue files. cmd/facteur adapts internal/queue to it.
type Queue interface {
	Create(ctx context.Context, env *envelope.Envelope) (QueueFile, error)
}

// QueueFile is one message being written into the queue: nothing of it is
// visible to delivery until Commit returns nil.
type QueueFile interface {
	ID() string
	Write(p []byte) (int, error)
	Commit(ctx context.Context) error
	Abort()
}

// Options are cleanup's parameters.
type Options struct {
	Hostname string // myhostname, for Received and Message-ID
	HopLimit int    // hopcount_limit; 0 means DefaultHopLimit
	// HeaderLimit is header_size_limit; 0 means DefaultHeaderLimit.
	HeaderLimit int
	Now         func() time.Time
	Log         *maillog.Logger
	// HideClient is smtpd_received_hide_client: Received leaves out the
	// name and address of an authenticated client.
	HideClient bool
	// Senders checks each From address of an authenticated client's
	// message; nil checks nothing.
	Senders Senders
}

// Senders decides whether an authenticated client may use an address as
// its own. A nil reply means yes. policy.Policy satisfies it.
type Senders interface {
	SenderOwned(ctx context.Context, client *envelope.Client, sender string) *smtp.Reply
}

// Cleanup turns received messages into queue files.
type Cleanup struct {
	q   Queue
	opt Options
	log *maillog.Logger
}

// New returns a Cleanup writing into q.
func New(q Queue, opt Options) *Cleanup {
	if opt.Hostname == "" {
		opt.Hostname = "localhost"
	}
	if opt.HopLimit <= 0 {
		opt.HopLimit = DefaultHopLimit
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Log
	if log == nil {
		log = maillog.New(nil)
	}
	return &Cleanup{q: q, opt: opt, log: log.Service("cleanup")}
}

// Begin starts a message with envelope env. The caller writes the message
// as received (CRLF line endings, not dot-stuffed), then calls Commit, or
// Abort to drop it.
func (c *Cleanup) Begin(ctx context.Context, env *envelope.Envelope) (*Message, error) {
	qf, err := c.q.Create(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("creating queue file: %w", err)
	}
	if env.ID == "" {
		env.ID = qf.ID()
	}
	return &Message{c: c, ctx: ctx, env: env, qf: qf, inHeader: true, scan: headerScanner{limit: c.opt.HeaderLimit}}, nil
}

// Message is one message passing through cleanup. It is used by one
// goroutine.
type Message struct {
	c    *Cleanup
	ctx  context.Context // Begin's, for the Senders check
	env  *envelope.Envelope
	qf   QueueFile
	scan headerScanner

	head     []byte // the header, buffered until its end is known
	inHeader bool
	size     int64 // bytes written to the queue file
	err      error // sticky: the refusal or the write error
	done     bool  // committed or aborted
}

// ID returns the queue ID.
func (m *Message) ID() string { return m.qf.ID() }

// Write passes p on to the queue file, holding back only the header.
//
// A message refused for too many hops is discarded as it keeps coming, so
// that the session can read DATA to its end; Commit returns the refusal.
func (m *Message) Write(p []byte) (int, error) {
	if m.err != nil {
		if m.refused() {
			return len(p), nil
		}
		return 0, m.err
	}
	if m.done {
		return 0, errDone
	}
	if !m.inHeader {
		if err := m.out(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	m.head = append(m.head, p...)
	if n, ok := m.scan.scan(m.head, false); ok {
		if err := m.endHeader(n, false); err != nil && !m.refused() {
			return 0, err
		}
	}
	return len(p), nil
}

// Commit completes the message and commits the queue file, after setting
// env.Size. A message over the hop limit gets the RFC 5321 §6.3 refusal,
// 554 5.4.6, and its queue file is gone.
func (m *Message) Commit(ctx context.Context) error {
	if m.err == nil && m.done {
		return errDone
	}
	if m.err == nil && m.inHeader {
		n, _ := m.scan.scan(m.head, true)
		m.endHeader(n, true)
	}
	if m.err != nil {
		return m.err
	}
	m.env.Size = m.size
	m.done = true
	if err := m.qf.Commit(ctx); err != nil {
		m.err = fmt.Errorf("committing queue file: %w", err)
		return m.err
	}
	return nil
}

// Abort drops the message. It may be called at any time, more than once.
func (m *Message) Abort() {
	if !m.done {
		m.done = true
		m.qf.Abort()
	}
}

// fail records err, drops the queue file and returns err.
func (m *Message) fail(err error) error {
	m.err = err
	m.Abort()
	return err
}

// out writes p to the queue file and counts it.
func (m *Message) out(p []byte) error {
	n, err := m.qf.Write(p)
	m.size += int64(n)
	if err != nil {
		return m.fail(fmt.Errorf("writing queue file: %w", err))
	}
	return nil
}

// randomToken returns 12 hex digits for a Message-ID.
func randomToken() string {
	var b [6]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// errDone is returned by Write and Commit after Commit or Abort.
var errDone = errors.New("message already committed or aborted")

// checkFrom asks Senders about each address of the From fields of an
// authenticated client's message (RFC 5322 §3.6.2). A From that does not
// parse cannot be shown to be the client's own and is refused too.
func (m *Message) checkFrom(from []string) *smtp.Reply {
	c := &m.env.Client
	if c.AuthUser == "" || m.c.opt.Senders == nil {
		return nil
	}
	for _, v := range from {
		list, err := mail.ParseAddressList(v)
		if err != nil {
			return smtp.NewReply(553, "5.7.1", "Sender address rejected: From header does not parse, not owned by user "+clean(c.AuthUser))
		}
		for _, a := range list {
			if r := m.c.opt.Senders.SenderOwned(m.ctx, c, a.Address); r != nil {
				return r
			}
		}
	}
	return nil
}

// refused reports whether the message was refused (too many hops, a From
// not the client's own).
func (m *Message) refused() bool {
	var r *smtp.Reply
	return errors.As(m.err, &r)
}

// endHeader writes out the buffered message now that the header is known
// to be its first n bytes: the Received field, the header, the fields it
// lacks, then what came after the header. atEOF tells that the message is
// complete.
func (m *Message) endHeader(n int, atEOF bool) error {
	hdr, body := m.head[:n], m.head[n:]
	m.inHeader = false
	m.head = nil
	info := parseHeader(hdr)
	// RFC 5321 §6.3: a loop shows as too many Received fields.
	if info.received > m.c.opt.HopLimit {
		m.c.log.Event(m.env.ID, "reject: too many hops (%d Received fields, limit %d); from=<%s>",
			info.received, m.c.opt.HopLimit, m.env.Sender)
		return m.fail(smtp.NewReply(554, "5.4.6", "Error: too many hops"))
	}
	if r := m.checkFrom(info.from); r != nil {
		m.c.log.Event(m.env.ID, "reject: header From: %s; from=<%s> sasl_username=%s", r.Error(), m.env.Sender, clean(m.env.Client.AuthUser))
		return m.fail(r)
	}
	now := m.c.opt.Now()
	renv := m.env
	if m.c.opt.HideClient && renv.Client.AuthUser != "" {
		renv = hideClient(renv)
	}
	out := []byte(Received(renv, m.c.opt.Hostname, now))
	out = append(out, hdr...)
	if len(hdr) > 0 && hdr[len(hdr)-1] != '\n' {
		out = append(out, "\r\n"...) // header-only message without a final line ending
	}
	out = m.addFields(out, info, now)
	// The body is separated from the header by an empty line (RFC 5322
	// §2.1); when the header ended at a line that is not a field or at the
	// size bound, supply it.
	if len(body) > 0 || !atEOF {
		if !bytes.HasPrefix(body, []byte("\r\n")) && !bytes.HasPrefix(body, []byte("\n")) {
			out = append(out, "\r\n"...)
		}
	}
	out = append(out, body...)
	return m.out(out)
}

// addFields appends the Message-ID and Date a local submission lacks
// (RFC 6409 §8.2, §8.3) and logs the message ID as Postfix's cleanup does.
func (m *Message) addFields(out []byte, info headerInfo, now time.Time) []byte {
	id := info.messageID
	local := m.env.Client.Local || m.env.Client.AuthUser != ""
	if !info.hasMsgID && local {
		// RFC 5322 §3.6.4: unique, with a domain on the right.
		id = "<" + m.env.ID + "." + randomToken() + "@" + clean(m.c.opt.Hostname) + ">"
		out = append(out, "Message-ID: "+id+"\r\n"...)
	}
	if !info.hasDate && local {
		// RFC 5322 §3.6.1: the origination date is required.
		out = append(out, "Date: "+now.Format(DateLayout)+"\r\n"...)
	}
	if id == "" {
		id = "<>"
	}
	m.c.log.Event(m.env.ID, "message-id=%s", id)
	return out
}
