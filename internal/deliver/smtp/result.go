package smtp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"

	"facteur/internal/queue"
	wire "facteur/internal/smtp"
)

// relayNone is the relay of a result reached without a connection.
const relayNone = "none"

func deferred(dsn, text string) queue.Result {
	return queue.Result{Status: queue.Deferred, DSN: dsn, Text: text, Relay: relayNone}
}

func bounced(dsn, text string) queue.Result {
	return queue.Result{Status: queue.Bounced, DSN: dsn, Text: text, Relay: relayNone}
}

// interrupted is the result of a delivery whose context ended.
var interrupted = deferred("4.3.0", "delivery interrupted")

// postponed is the result of a recipient not tried because its next hop
// had too many sessions and waiters.
var postponed = queue.Result{Status: queue.Postponed, DSN: "4.4.5",
	Text: "delivery postponed: too many concurrent deliveries to this destination", Relay: relayNone}

// replyDSN is the RFC 3463 code of a reply: its enhanced code, or one
// derived from the reply code as Postfix does ("4.0.0", "5.0.0").
func replyDSN(r *wire.Reply) string {
	if r.Enhanced != "" {
		return r.Enhanced
	}
	return strconv.Itoa(r.Code/100) + ".0.0"
}

// replyStatus is the result status a reply stands for.
func replyStatus(r *wire.Reply) queue.Status {
	switch {
	case r.Code < 400:
		return queue.Delivered
	case r.Code < 500:
		return queue.Deferred
	}
	return queue.Bounced
}

// said is the result of a remote reply to cmd, as Postfix logs it:
// "host mx.example.org[192.0.2.1] said: 550 5.1.1 <x@y>: user unknown
// (in reply to RCPT TO command)".
func (s *session) said(r *wire.Reply, cmd string) queue.Result {
	if r.Code == 421 {
		s.broken = true // RFC 5321 §3.8: the server closes the connection
	}
	return queue.Result{Status: replyStatus(r), DSN: replyDSN(r), Relay: s.relay(), Reply: r.Error(),
		Text: fmt.Sprintf("host %s said: %s (in reply to %s command)", s.t.name(), r.Error(), cmd)}
}

// refused is the result of a greeting or HELO refusal: "host X refused
// to talk to me: 554 ...".
func (s *session) refused(r *wire.Reply) queue.Result {
	return queue.Result{Status: replyStatus(r), DSN: replyDSN(r), Relay: s.relay(), Reply: r.Error(),
		Text: fmt.Sprintf("host %s refused to talk to me: %s", s.t.name(), r.Error())}
}

// ioFailure is the result of a failed read or write while doing what:
// a timeout, a lost connection, a reply that cannot be parsed, or the
// end of the delivery's context.
func (s *session) ioFailure(ctx context.Context, err error, what string) queue.Result {
	s.broken = true
	var text string
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		text = fmt.Sprintf("delivery interrupted while %s with %s", what, s.t.name())
	case errors.As(err, &ne) && ne.Timeout():
		text = fmt.Sprintf("conversation with %s timed out while %s", s.t.name(), what)
	case malformed(err):
		text = fmt.Sprintf("malformed reply from %s while %s", s.t.name(), what)
	default:
		text = fmt.Sprintf("lost connection with %s while %s", s.t.name(), what)
	}
	s.c.debug.Info("smtp session failed", "relay", s.relay(), "while", what, "err", err)
	return queue.Result{Status: queue.Deferred, DSN: "4.4.2", Text: text, Relay: s.relay()}
}

// malformed reports an error of wire.ReadReply about the reply itself,
// not the connection.
func malformed(err error) bool {
	return errors.Is(err, wire.ErrSyntax) || errors.Is(err, wire.ErrLineTooLong) ||
		errors.Is(err, wire.ErrBareNewline)
}

// connectFailure is the result of a failed connection: "connect to
// mx.example.org[192.0.2.1]:25: Connection refused".
func connectFailure(ctx context.Context, t target, err error) queue.Result {
	if ctx.Err() != nil {
		return interrupted
	}
	reason := err.Error()
	var ne net.Error
	var errno syscall.Errno
	var se *os.SyscallError
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		reason = "Connection timed out"
	case errors.As(err, &errno):
		reason = capitalize(errno.Error())
	case errors.As(err, &se):
		reason = capitalize(se.Err.Error())
	}
	return deferred("4.4.1", fmt.Sprintf("connect to %s: %s", t.relay(), reason))
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
