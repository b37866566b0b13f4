package smtpd

import (
	"errors"
	"io"
	"os"
	"time"

	"facteur/internal/maillog"
	"facteur/internal/smtp"
)

// data receives the message text (RFC 5321 §4.1.1.4).
func (ss *session) data(arg string) {
	if arg != "" {
		ss.reply(smtp.NewReply(501, "5.5.4", "Syntax: DATA"))
		return
	}
	if r := ss.readyForData(); r != nil {
		ss.reply(r)
		return
	}
	switch {
	case ss.tx.chunked: // RFC 3030 §2: not both in one transaction
		ss.reply(smtp.NewReply(503, "5.5.1", "Error: DATA after BDAT"))
		return
	case ss.tx.env.Body == "BINARYMIME": // RFC 3030 §3: needs BDAT
		ss.reply(smtp.NewReply(503, "5.5.1", "Error: BDAT required with BODY=BINARYMIME"))
		return
	}
	msg, r := ss.begin()
	if r != nil {
		ss.reply(r)
		return
	}
	ss.tx.msg = msg
	ss.reply(smtp.NewReply(354, "", "End data with <CR><LF>.<CR><LF>"))
	if !ss.flush() {
		msg.Abort()
		ss.tx = nil
		return
	}
	dr := smtp.NewDataReader(ss.r, ss.srv.cfg.MaxMessageSize, ss.srv.cfg.ForbidBareNewline)
	w := &messageWriter{msg: msg}
	_, err := io.Copy(w, dr)
	ss.finish(err, w.err)
}

// readyForData checks that a transaction has recipients: RFC 5321 §3.3,
// 503 without MAIL, 554 with no valid RCPT.
func (ss *session) readyForData() *smtp.Reply {
	switch {
	case ss.tx == nil:
		return smtp.NewReply(503, "5.5.1", "Error: need MAIL command")
	case len(ss.tx.env.Recipients) == 0:
		ss.reset()
		return smtp.NewReply(554, "5.5.1", "Error: no valid recipients")
	}
	return nil
}

// begin hands the envelope to the sink. A refusal ends the transaction.
func (ss *session) begin() (Message, *smtp.Reply) {
	env := ss.tx.env
	env.Arrival = time.Now()
	msg, err := ss.srv.sink.Begin(ss.ctx, env)
	if err != nil {
		ss.reset()
		return nil, ss.errorReply("begin", err)
	}
	if ss.client.AuthUser != "" {
		// Postfix's words, so that log tools find the account.
		ss.srv.cfg.Log.Event(msg.ID(), "client=%s, sasl_method=%s, sasl_username=%s", ss.name, ss.mech, maillog.Safe(ss.client.AuthUser))
	} else {
		ss.srv.cfg.Log.Event(msg.ID(), "client=%s", ss.name)
	}
	return msg, nil
}

// finish ends a message after its last octet: readErr from the data,
// writeErr from the sink. It commits and replies, or aborts and replies.
// The transaction is over either way.
func (ss *session) finish(readErr, writeErr error) {
	msg := ss.tx.msg
	ss.tx.msg = nil
	defer ss.reset()
	switch {
	case readErr == nil && writeErr == nil:
	case errors.Is(readErr, smtp.ErrTooLarge):
		msg.Abort()
		ss.reply(smtp.NewReply(552, "5.3.4", "Error: message file too big"))
		return
	case errors.Is(readErr, smtp.ErrBareNewline):
		msg.Abort()
		ss.replyClose(bareNewlineReply())
		return
	case readErr != nil:
		msg.Abort()
		ss.readFailed(readErr)
		return
	default:
		msg.Abort()
		ss.reply(ss.errorReply("write", writeErr))
		return
	}
	if err := msg.Commit(ss.ctx); err != nil {
		msg.Abort()
		if ss.hard.Load() {
			ss.readFailed(os.ErrDeadlineExceeded)
			return
		}
		ss.reply(ss.errorReply("commit", err))
		return
	}
	ss.reply(smtp.NewReply(250, "2.0.0", "Ok: queued as "+msg.ID()))
}

// errorReply is the reply to a sink error: a *smtp.Reply as it is, any
// other error 451 4.3.0 with the detail in the log only (STYLE 6).
func (ss *session) errorReply(op string, err error) *smtp.Reply {
	var r *smtp.Reply
	if errors.As(err, &r) {
		return r
	}
	ss.srv.cfg.Log.Warn("%s: queue file %s error: %v", ss.name, op, err)
	return smtp.NewReply(451, "4.3.0", "Error: queue file write error")
}

// messageWriter passes data to a Message and, after its first error,
// swallows the rest, so that the data is still read to its end and the
// session stays in step.
type messageWriter struct {
	msg Message
	err error
}

func (w *messageWriter) Write(p []byte) (int, error) {
	if w.err == nil {
		_, w.err = w.msg.Write(p)
	}
	return len(p), nil
}
