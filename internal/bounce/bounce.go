// Package bounce is the queue's Notifier, in the manner of Postfix's
// bounce(8): it turns what the queue owes a sender (failures, a delay,
// successes asked for with NOTIFY=SUCCESS) into one RFC 3464 report, built
// by package dsn, and queues it from the null sender to that sender.
//
// A message from the null sender is never answered to the null sender
// (RFC 5321 §4.5.5): its failure goes once to the postmaster, and a notice
// to the postmaster that fails in turn is dropped, as Postfix drops a
// double bounce.
package bounce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"facteur/internal/address"
	"facteur/internal/dsn"
	"facteur/internal/envelope"
	"facteur/internal/maillog"
	"facteur/internal/queue"
	"facteur/internal/smtp"
)

// DefaultSizeLimit is Postfix's bounce_size_limit: how much of the
// original a notice carries, at most.
const DefaultSizeLimit = 50000

// Resolver routes a notice's recipient as the SMTP server would route a
// RCPT TO from a local program (policy.Policy.Recipient, client nil).
type Resolver interface {
	Recipient(ctx context.Context, client *envelope.Client, rcpt address.Address) ([]*envelope.Recipient, *smtp.Reply)
}

// File is a queue file being written (queue.File).
type File interface {
	io.Writer
	ID() string
	Commit(ctx context.Context) error
	Abort()
}

// Queue makes queue files (queue.Queue.Create).
type Queue interface {
	Create(ctx context.Context, env *envelope.Envelope) (File, error)
}

// Options are the notices' parameters.
type Options struct {
	Hostname    string        // myhostname: the Reporting-MTA and Message-ID domain
	Origin      string        // myorigin: notices come from MAILER-DAEMON@Origin
	Postmaster  string        // 2bounce_notice_recipient: where null-sender failures go; "postmaster"
	SizeLimit   int64         // bounce_size_limit; 0 means DefaultSizeLimit
	MaxLifetime time.Duration // maximal_queue_lifetime, for a delay notice's Will-Retry-Until
	Now         func() time.Time
	Log         *maillog.Logger // the bounce service's log
}

// Notifier implements queue.Notifier.
type Notifier struct {
	q   Queue
	r   Resolver
	opt Options
	log *maillog.Logger
}

// New returns a Notifier queueing notices into q, routed by r.
func New(q Queue, r Resolver, opt Options) *Notifier {
	if opt.Postmaster == "" {
		opt.Postmaster = "postmaster"
	}
	if opt.SizeLimit <= 0 {
		opt.SizeLimit = DefaultSizeLimit
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Hostname == "" {
		opt.Hostname = "localhost"
	}
	if opt.Origin == "" {
		opt.Origin = opt.Hostname
	}
	log := opt.Log
	if log == nil {
		log = maillog.New(nil)
	}
	return &Notifier{q: q, r: r, opt: opt, log: log}
}

// Notify implements queue.Notifier: it queues the notice for rcpts of msg
// and returns nil once it is durably queued, or dropped on purpose.
func (n *Notifier) Notify(ctx context.Context, msg *queue.Message, delay bool, rcpts []*envelope.Recipient) error {
	env := msg.Env
	to, kind := env.Sender, envelope.NoticeSender
	if to == "" {
		if delay || env.Notice == envelope.NoticePostmaster {
			n.log.Event(env.ID, "undeliverable postmaster notification discarded")
			return nil
		}
		to, kind = n.opt.Postmaster, envelope.NoticePostmaster
	}
	dest, err := n.route(ctx, to)
	if errors.Is(err, errNoRoute) && kind == envelope.NoticeSender {
		// The sender cannot be reached at all: tell the postmaster, once.
		n.log.Warn("%s: sender <%s> unreachable (%v): notifying the postmaster", env.ID, to, err)
		to, kind = n.opt.Postmaster, envelope.NoticePostmaster
		dest, err = n.route(ctx, to)
	}
	if err != nil {
		return err
	}
	id, err := n.queue(ctx, msg, delay, rcpts, to, kind, dest)
	if err != nil {
		return err
	}
	n.log.Event(env.ID, "%s: %s", describe(delay, rcpts, kind), id)
	return nil
}

// errNoRoute: the notice's recipient is refused for good.
var errNoRoute = errors.New("no route to the notice's recipient")

// route resolves where a notice to addr goes.
func (n *Notifier) route(ctx context.Context, addr string) ([]*envelope.Recipient, error) {
	a, err := address.ParseForwardPath("<"+addr+">", true)
	if err != nil {
		return nil, fmt.Errorf("%w: <%s>: %v", errNoRoute, addr, err)
	}
	dest, reply := n.r.Recipient(ctx, nil, a)
	switch {
	case reply == nil && len(dest) > 0:
		return dest, nil
	case reply != nil && reply.Temporary():
		return nil, fmt.Errorf("routing notice to <%s>: %v", addr, reply)
	}
	return nil, fmt.Errorf("%w: <%s>: %v", errNoRoute, addr, reply)
}

// queue writes the notice into a new queue file and commits it.
func (n *Notifier) queue(ctx context.Context, msg *queue.Message, delay bool, rcpts []*envelope.Recipient,
	to, kind string, dest []*envelope.Recipient) (string, error) {
	now := n.opt.Now()
	for _, d := range dest {
		d.State = envelope.Pending
	}
	env := &envelope.Envelope{
		Sender: "", Recipients: dest, Body: "8BITMIME", SMTPUTF8: msg.Env.SMTPUTF8,
		Arrival: now, Notice: kind,
		Client: envelope.Client{Helo: n.opt.Hostname, Protocol: "local", Local: true},
	}
	f, err := n.q.Create(ctx, env)
	if err != nil {
		return "", fmt.Errorf("queueing notice: %w", err)
	}
	defer f.Abort()
	orig, err := msg.Open()
	if err != nil {
		return "", fmt.Errorf("reading the original: %w", err)
	}
	defer orig.Close()
	notice := &dsn.Notice{
		From:          "MAILER-DAEMON@" + n.opt.Origin,
		To:            to,
		Date:          now,
		MessageID:     f.ID() + "." + now.Format("20060102150405") + "@" + n.opt.Hostname,
		Hostname:      n.opt.Hostname,
		Report:        n.report(msg.Env, delay, rcpts, now),
		Ret:           msg.Env.Ret,
		Original:      orig,
		OriginalLimit: n.opt.SizeLimit,
		UTF8:          msg.Env.SMTPUTF8,
	}
	if err := dsn.WriteNotice(f, notice); err != nil {
		return "", fmt.Errorf("writing notice: %w", err)
	}
	if err := f.Commit(ctx); err != nil {
		return "", fmt.Errorf("queueing notice: %w", err)
	}
	return f.ID(), nil
}

// report is the delivery-status part for rcpts of env.
func (n *Notifier) report(env *envelope.Envelope, delay bool, rcpts []*envelope.Recipient, now time.Time) dsn.Report {
	rep := dsn.Report{
		ReportingMTA:    n.opt.Hostname,
		ReceivedFromMTA: env.Client.Helo,
		EnvID:           env.EnvID,
		ArrivalDate:     env.Arrival,
	}
	for _, r := range rcpts {
		status, text, _ := strings.Cut(r.LastReply, " ")
		rs := dsn.RecipientStatus{
			OriginalRecipient: r.ORCPT,
			FinalRecipient:    r.Addr,
			Action:            action(r, delay),
			Status:            status,
			LastAttemptDate:   now,
		}
		if r.Reply != "" {
			rs.RemoteMTA = remoteHost(r.Relay)
			rs.DiagnosticCode = r.Reply
		} else if text != "" {
			// This system decided: its own words, as Postfix's "X-Postfix;".
			rs.DiagnosticType, rs.DiagnosticCode = "X-Facteur", text
		}
		if delay && n.opt.MaxLifetime > 0 {
			rs.WillRetryUntil = env.Arrival.Add(n.opt.MaxLifetime)
		}
		rep.Recipients = append(rep.Recipients, rs)
	}
	return rep
}

func action(r *envelope.Recipient, delay bool) dsn.Action {
	switch {
	case delay:
		return dsn.ActionDelayed
	case r.State == envelope.Bounced:
		return dsn.ActionFailed
	case r.Action == "relayed":
		return dsn.ActionRelayed
	}
	return dsn.ActionDelivered
}

// remoteHost is the host name of a relay written "host[addr]:port".
func remoteHost(relay string) string {
	if i := strings.IndexByte(relay, '['); i > 0 {
		return relay[:i]
	}
	return relay
}

// describe names the notice in the log, as Postfix does.
func describe(delay bool, rcpts []*envelope.Recipient, kind string) string {
	who := "sender"
	if kind == envelope.NoticePostmaster {
		who = "postmaster"
	}
	if delay {
		return who + " delay notification"
	}
	for _, r := range rcpts {
		if r.State == envelope.Bounced {
			return who + " non-delivery notification"
		}
	}
	return who + " delivery status notification"
}
