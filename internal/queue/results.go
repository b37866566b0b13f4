package queue

import (
	"context"
	"strconv"
	"strings"
	"time"

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
	status, text := "sent", res.Text
	switch res.Status {
	case Delivered:
		r.State = envelope.Delivered
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
	return rcptUpdate{id: env.ID, idx: i, state: r.State, nextTry: r.NextTry, lastReply: r.LastReply, attempts: r.Attempts}
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

// logResult writes the Postfix-style delivery line:
// "ID: to=<a>, orig_to=<b>, relay=R, delay=1.2, dsn=2.0.0, status=sent (text)".
func (q *Queue) logResult(env *envelope.Envelope, r *envelope.Recipient, res Result, now time.Time, status, text string) {
	service := r.Transport
	if res.Relay == noTransport.Relay || service == "" {
		service = "qmgr"
	}
	relay := res.Relay
	if relay == "" {
		relay = "none"
	}
	var b strings.Builder
	b.Grow(96 + len(r.Addr) + len(r.ORCPT.Addr) + len(relay) + len(text))
	b.WriteString("to=<")
	b.WriteString(r.Addr)
	b.WriteString(">, ")
	if r.ORCPT.Addr != "" && !strings.EqualFold(r.ORCPT.Addr, r.Addr) {
		b.WriteString("orig_to=<")
		b.WriteString(r.ORCPT.Addr)
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
// final, finishes the message: removed when none bounced; when some did,
// handed to the Bouncer and removed, or kept for `queue list` without one.
func (q *Queue) settle(ctx context.Context, msg *Message, updates []rcptUpdate) error {
	var bounced []*envelope.Recipient
	for _, r := range msg.Env.Recipients {
		if !r.State.Final() {
			return q.commitUpdates(updates, "")
		}
		if r.State == envelope.Bounced {
			bounced = append(bounced, r)
		}
	}
	if len(bounced) == 0 {
		return q.commitUpdates(updates, msg.Env.ID)
	}
	if err := q.commitUpdates(updates, ""); err != nil {
		return err
	}
	if q.opt.Bouncer == nil {
		return nil
	}
	if err := q.opt.Bouncer.Bounce(ctx, msg, bounced); err != nil {
		q.qmgr.Warn("%s: bounce notice not sent, will retry: %v", msg.Env.ID, err)
		return nil
	}
	return q.commitUpdates(nil, msg.Env.ID)
}

// commitUpdates records updates or, when remove is set, the removal of
// that message, with the committer's next transaction: the transport's
// Deliver has returned, so the delivery is durable wherever it went, and
// losing this record in a crash only delivers again (at least once, never
// lost). Until it commits, the rows keep the state from before this pass
// and scans leave the message alone.
func (q *Queue) commitUpdates(updates []rcptUpdate, remove string) error {
	if remove != "" {
		updates = nil
	}
	if len(updates) == 0 && remove == "" {
		return nil
	}
	return q.settleLater(settlement{updates: updates, remove: remove})
}
