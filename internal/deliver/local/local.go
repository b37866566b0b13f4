// Package local is facteur's MDA, in the manner of Postfix's local(8): it
// takes the recipients that policy resolved to this machine and delivers
// each one to its destination:
//
//   - an account: into the store, one shared content for every account of
//     the message (a hard link to the fsync'd queue file where possible,
//     not a copy), each with its own Return-Path (RFC 5321 §4.4) and
//     Delivered-To (RFC 9228) prefix;
//   - "|command": piped into /bin/sh -c command, with the environment
//     local(8) sets and sendmail's exit codes (sysexits.h) mapped to
//     RFC 3463 status codes;
//   - "/path": appended to an mbox file (RFC 4155) under an exclusive lock.
//
// It implements queue.Transport: every recipient gets its own result, and
// a fault of the machine (a full disk, a store error) defers, never bounces.
package local

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"time"

	"facteur/internal/envelope"
	"facteur/internal/maillog"
	"facteur/internal/queue"
	"facteur/internal/store"
)

// DefaultCommandTimeout is Postfix's command_time_limit default.
const DefaultCommandTimeout = 1000 * time.Second

// Options are the MDA's parameters.
type Options struct {
	CommandTimeout time.Duration       // command_time_limit; 0 means DefaultCommandTimeout
	Log            *maillog.Logger     // the mail log
	Debug          *slog.Logger        // details of failures
	RunAs          *syscall.Credential // uid and gid for commands; nil runs them as ourselves
	Hostname       string              // myhostname: DOMAIN for an address without one
	// RecipientDelimiter is recipient_delimiter: the characters that
	// separate the EXTENSION from the user in a local part ("" for none).
	RecipientDelimiter string
	Now                func() time.Time // the clock; nil means time.Now
}

// Deliverer delivers to local destinations.
type Deliverer struct {
	st    *store.Store
	opt   Options
	log   *maillog.Logger
	debug *slog.Logger
}

// New returns a Deliverer that writes mailboxes into st.
func New(st *store.Store, opt Options) *Deliverer {
	if opt.CommandTimeout <= 0 {
		opt.CommandTimeout = DefaultCommandTimeout
	}
	if opt.Hostname == "" {
		opt.Hostname = "localhost"
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Log
	if log == nil {
		log = maillog.New(nil)
	}
	debug := opt.Debug
	if debug == nil {
		debug = slog.New(slog.DiscardHandler)
	}
	return &Deliverer{st: st, opt: opt, log: log.Service("local"), debug: debug}
}

// Deliver delivers msg to rcpts and returns one result per recipient, in
// order. It implements queue.Transport.
func (d *Deliverer) Deliver(ctx context.Context, msg *queue.Message, rcpts []*envelope.Recipient) []queue.Result {
	return d.deliver(ctx, message{env: msg.Env, content: msg}, rcpts)
}

// content is what delivery reads of a queued message; *queue.Message
// satisfies it, and so does a test's file.
type content interface {
	Open() (io.ReadCloser, error)
}

// message is a queued message: its envelope and its content.
type message struct {
	env *envelope.Envelope
	content
}

func (d *Deliverer) deliver(ctx context.Context, msg message, rcpts []*envelope.Recipient) []queue.Result {
	results := make([]queue.Result, len(rcpts))
	var boxes []int
	for i, r := range rcpts {
		switch {
		case ctx.Err() != nil:
			results[i] = deferred("delivery interrupted")
		case strings.HasPrefix(r.Dest, "|"):
			results[i] = d.command(ctx, msg, r)
		case strings.HasPrefix(r.Dest, "/"):
			results[i] = d.mbox(ctx, msg, r)
		default:
			boxes = append(boxes, i)
		}
	}
	if len(boxes) > 0 {
		d.mailboxes(ctx, msg, rcpts, boxes, results)
	}
	return results // the queue logs each one
}

// fault records what went wrong on this machine, in the mail log as a
// Postfix warning and in the debug log; the result carries a generic text.
func (d *Deliverer) fault(id, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.log.Warn("%s: %s", id, msg)
	d.debug.Error(msg, "id", id)
}

// deferred is a temporary failure of this machine, with a generic text:
// the detail goes to the logs through fault (STYLE 6).
func deferred(text string) queue.Result {
	return queue.Result{Status: queue.Deferred, DSN: "4.3.0", Text: text, Relay: "local"}
}

func bounced(dsn, text string) queue.Result {
	return queue.Result{Status: queue.Bounced, DSN: dsn, Text: text, Relay: "local"}
}

func delivered(text string) queue.Result {
	return queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: text, Relay: "local"}
}

// deliveredTo is the address written into Delivered-To: the recipient
// after alias expansion (RFC 9228 §4), or the address given at RCPT.
func deliveredTo(r *envelope.Recipient) string {
	if r.Final != "" && !strings.HasPrefix(r.Final, "|") && !strings.HasPrefix(r.Final, "/") {
		return r.Final
	}
	return r.Addr
}

// prefix is the header put before the message for one recipient:
// Return-Path (RFC 5321 §4.4: added at final delivery, "<>" for the null
// sender) then Delivered-To (RFC 9228). eol is "\r\n" or "\n".
func prefix(env *envelope.Envelope, r *envelope.Recipient, eol string) []byte {
	return fmt.Appendf(nil, "Return-Path: <%s>%sDelivered-To: %s%s",
		headerSafe(env.Sender), eol, headerSafe(deliveredTo(r)), eol)
}

// headerSafe drops the control characters that could break a header line.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
