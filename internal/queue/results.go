package queue

import (
	"context"
	"strconv"
	"strings"
	"time"

	"facteur/internal/dsn"
	"facteur/internal/envelope"
)

// record applies result res to recipient i of env, logs it and returns the
// recipient's new state.
func (q *Queue) record(env *envelope.Envelope, i int, res Result) rcptUpdate {
	now := q.now()
	r := env.Recipients[i]
	r.Attempts++
	r.LastReply = strings.TrimSpace(res.DSN + " " + res.Text)
	r.NextTry = time.Time{}
	r.Relay, r.Reply, r.Action = res.Relay, res.Reply, ""
	status, text := "sent", res.Text
	switch res.Status {
	case Delivered:
		r.State = envelope.Delivered
		r.Action = successAction(r, res)
	case Bounced:
		r.State, status = envelope.Bounced, "bounced"
	default:
		r.State, status = envelope.Deferred, "deferred"
		r.NextTry = now.Add(q.backoff(r.Attempts))
		// Postfix maximal_queue_lifetime (bounce_queue_lifetime for
		// null-sender mail); RFC 5321 §4.5.4.1.
		if now.Sub(env.Arrival) >= q.lifetime(env) {
			r.State, r.NextTry, status = envelope.Bounced, time.Time{}, "bounced"
			text = "message expired: " + res.Text
		}
	}
	q.logResult(env, r, res, now, status, text)
	return rcptUpdate{id: env.ID, idx: i, state: r.State, nextTry: r.NextTry, lastReply: r.LastReply,
		attempts: r.Attempts, relay: r.Relay, reply: r.Reply, action: r.Action}
}

// successAction is the success notice owed for r, delivered with res:
// none unless the sender asked NOTIFY=SUCCESS; "relayed" to a next hop
// without DSN, "delivered" here, none when the next hop took the request
// on and reports itself (RFC 3461 §5.2.2, §6.2).
func successAction(r *envelope.Recipient, res Result) string {
	switch {
	case r.Notify&dsn.NotifySuccess == 0:
		return ""
	case res.Relayed:
		return "relayed"
	case res.Reply == "":
		return "delivered"
	}
	return ""
}

// wantsFailure reports whether r's sender is to hear of its failure: an
// absent NOTIFY means FAILURE (RFC 3461 §4.1).
func wantsFailure(r *envelope.Recipient) bool {
	return r.Notify == 0 || r.Notify&dsn.NotifyFailure != 0
}

// wantsDelay reports whether r's sender may hear of its delay: an absent
// NOTIFY leaves it to the MTA (RFC 3461 §4.1), and Postfix sends them.
func wantsDelay(r *envelope.Recipient) bool {
	return r.Notify == 0 || r.Notify&dsn.NotifyDelay != 0
}

func (q *Queue) lifetime(env *envelope.Envelope) time.Duration {
	if env.Sender == "" {
		return q.opt.BounceLifetime
	}
	return q.opt.MaxLifetime
}

// backoff is the wait after the given number of attempts: MinBackoff,
// doubling with each attempt up to MaxBackoff, as Postfix's qmgr does.
func (q *Queue) backoff(attempts int) time.Duration {
	d := q.opt.MinBackoff
	for n := 1; n < attempts && d < q.opt.MaxBackoff; n++ {
		d *= 2
	}
	return min(d, q.opt.MaxBackoff)
}

// logResult writes the Postfix-style delivery line, under the
// transport's name: "ID: to=<final>, orig_to=<rcpt>, relay=R, delay=1.2,
// dsn=2.0.0, status=sent (text)". to is the address after alias expansion;
// orig_to the one the client gave (or its ORCPT) when it differs.
func (q *Queue) logResult(env *envelope.Envelope, r *envelope.Recipient, res Result, now time.Time, status, text string) {
	service := r.Transport
	if res == noTransport || res == noResult || service == "" {
		service = "qmgr"
	}
	relay := res.Relay
	if relay == "" {
		relay = "none"
	}
	to, orig := r.Addr, r.ORCPT.Addr
	if r.Final != "" && !strings.HasPrefix(r.Final, "|") && !strings.HasPrefix(r.Final, "/") &&
		!strings.EqualFold(r.Final, r.Addr) {
		to, orig = r.Final, r.Addr
	}
	var b strings.Builder
	b.Grow(96 + len(to) + len(orig) + len(relay) + len(text))
	b.WriteString("to=<")
	b.WriteString(to)
	b.WriteString(">, ")
	if orig != "" && !strings.EqualFold(orig, to) {
		b.WriteString("orig_to=<")
		b.WriteString(orig)
		b.WriteString(">, ")
	}
	for _, s := range []string{"relay=", relay, ", delay=", formatDelay(now.Sub(env.Arrival)),
		", dsn=", res.DSN, ", status=", status, " (", text, ")"} {
		b.WriteString(s)
	}
	q.opt.Log.Service(service).Event(env.ID, "%s", b.String())
}

// formatDelay formats seconds as Postfix does: two significant digits
// below ten seconds, whole seconds above.
func formatDelay(d time.Duration) string {
	s := max(d.Seconds(), 0)
	switch {
	case s >= 10:
		return strconv.FormatFloat(s, 'f', 0, 64)
	case s >= 1:
		return strconv.FormatFloat(s, 'f', 1, 64)
	}
	return strconv.FormatFloat(s, 'f', 2, 64)
}

// settle commits the new recipient states and, when every recipient is
// final, finishes the message: the notice owed for it (failures its
// senders are to hear of, successes asked for) goes to the Notifier, then
// the message leaves the queue. Without a Notifier, a message with bounced
// recipients stays for `queue list`. A notice that cannot be sent now is
// tried again at the next pass.
func (q *Queue) settle(ctx context.Context, msg *Message, updates []rcptUpdate, warned bool) error {
	var notice []*envelope.Recipient
	bounced := false
	for _, r := range msg.Env.Recipients {
		if !r.State.Final() {
			return q.commitUpdates(settlement{id: msg.Env.ID, updates: updates, warned: warned})
		}
		switch {
		case r.State == envelope.Bounced:
			bounced = true
			if wantsFailure(r) {
				notice = append(notice, r)
			}
		case r.Action != "":
			notice = append(notice, r)
		}
	}
	done := settlement{id: msg.Env.ID, remove: true}
	if len(notice) == 0 || q.opt.Notifier == nil && !bounced {
		return q.commitUpdates(done)
	}
	if err := q.commitUpdates(settlement{id: msg.Env.ID, updates: updates}); err != nil {
		return err
	}
	if q.opt.Notifier == nil {
		return nil
	}
	if err := q.opt.Notifier.Notify(ctx, msg, false, notice); err != nil {
		q.qmgr.Warn("%s: delivery status notice not sent, will retry: %v", msg.Env.ID, err)
		return nil
	}
	return q.commitUpdates(done)
}

// warnDelay sends the one delay notice of msg (delay_warning_time) once it
// has waited that long, for the deferred recipients whose sender may hear
// of it; it reports whether the notice went out. Null-sender mail gets none.
func (q *Queue) warnDelay(ctx context.Context, msg *Message) bool {
	env := msg.Env
	if q.opt.DelayWarning <= 0 || q.opt.Notifier == nil || env.DelayWarned || env.Sender == "" ||
		q.now().Sub(env.Arrival) < q.opt.DelayWarning {
		return false
	}
	var rcpts []*envelope.Recipient
	for _, r := range env.Recipients {
		if r.State == envelope.Deferred && wantsDelay(r) {
			rcpts = append(rcpts, r)
		}
	}
	if len(rcpts) == 0 {
		return false
	}
	if err := q.opt.Notifier.Notify(ctx, msg, true, rcpts); err != nil {
		q.qmgr.Warn("%s: delay notice not sent, will retry: %v", env.ID, err)
		return false
	}
	env.DelayWarned = true
	return true
}

// commitUpdates records s with the committer's next transaction: the
// transport's Deliver has returned, so the delivery is durable wherever it
// went, and losing this record in a crash only delivers again (at least
// once, never lost). Until it commits, the rows keep the state from before
// this pass and scans leave the message alone.
func (q *Queue) commitUpdates(s settlement) error {
	if s.remove {
		s.updates, s.warned = nil, false
	}
	if len(s.updates) == 0 && !s.remove && !s.warned {
		return nil
	}
	return q.settleLater(s)
}
