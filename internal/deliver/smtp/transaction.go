package smtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"facteur/internal/address"
	"facteur/internal/dsn"
	"facteur/internal/envelope"
	"facteur/internal/queue"
	wire "facteur/internal/smtp"
)

// outcome is what a transaction leaves to do, beside the results it set.
type outcome struct {
	carry []rcpt       // refused as too many (452): for the next transaction
	retry []rcpt       // the connection failed before the end of data: for the next address
	fail  queue.Result // why, when retry is set
	stale bool         // a cached connection was found dead at its first command: nothing was done
}

// transaction sends msg to batch over s: MAIL, RCPT, DATA and the
// message, pipelined when the next hop allows (RFC 2920). It sets the
// result of each recipient it settles. first says that s is a cached
// connection not used yet for this delivery, whose failure at the first
// command means only that it went stale.
func (s *session) transaction(ctx context.Context, msg message, batch []rcpt, results []queue.Result, first bool) outcome {
	batch = s.precheck(msg.env, batch, results)
	if len(batch) == 0 {
		return outcome{}
	}
	body, err := msg.Open()
	if err != nil {
		s.c.debug.Error("opening queue file", "id", msg.env.ID, "err", err)
		s.settle(batch, results, deferred("4.3.0", "error reading queue file"))
		return outcome{}
	}
	defer body.Close()
	if s.needRset {
		r, err := s.command(min(maxRsetTimeout, s.c.opt.MailTimeout), "RSET")
		if err != nil || r.Code/100 != 2 {
			if first {
				s.close()
				return outcome{stale: true}
			}
			if err == nil {
				err = fmt.Errorf("RSET refused: %s", r.Error())
			}
			return outcome{retry: batch, fail: s.ioFailure(ctx, err, "sending RSET")}
		}
		s.needRset, first = false, false
	}
	if s.ext.pipelining {
		return s.pipelined(ctx, msg, body, batch, results, first)
	}
	return s.lockstep(ctx, msg, body, batch, results, first)
}

// precheck settles the recipients that cannot go to this next hop at
// all: a message that needs SMTPUTF8 to a next hop without it (RFC 6531
// §3.2), and one larger than the next hop's SIZE (RFC 1870 §6). It
// returns the others.
func (s *session) precheck(env *envelope.Envelope, batch []rcpt, results []queue.Result) []rcpt {
	if env.SMTPUTF8 && !s.ext.smtputf8 {
		s.settle(batch, results, s.local(queue.Bounced, "5.6.7",
			fmt.Sprintf("SMTPUTF8 is required, but was not offered by host %s", s.t.name())))
		return nil
	}
	if s.ext.sizeLimit > 0 && env.Size > s.ext.sizeLimit {
		s.settle(batch, results, s.local(queue.Bounced, "5.3.4",
			fmt.Sprintf("message size %d exceeds size limit %d of server %s", env.Size, s.ext.sizeLimit, s.t.name())))
		return nil
	}
	if s.ext.smtputf8 {
		return batch
	}
	var ok []rcpt
	for _, r := range batch {
		if isASCII(r.addr.Local) {
			ok = append(ok, r)
			continue
		}
		results[r.i] = s.local(queue.Bounced, "5.6.7",
			fmt.Sprintf("SMTPUTF8 is required for <%s>, but was not offered by host %s", r.addr, s.t.name()))
	}
	return ok
}

// local is a result decided here, with the session's relay.
func (s *session) local(st queue.Status, dsn, text string) queue.Result {
	return queue.Result{Status: st, DSN: dsn, Text: text, Relay: s.relay()}
}

func (s *session) settle(rs []rcpt, results []queue.Result, res queue.Result) {
	for _, r := range rs {
		results[r.i] = res
	}
}

// pipelined writes MAIL, every RCPT and DATA at once (RFC 2920 §3.1),
// then reads their replies in order.
func (s *session) pipelined(ctx context.Context, msg message, body io.Reader, batch []rcpt, results []queue.Result, first bool) outcome {
	s.send(s.c.opt.MailTimeout, s.mailCommand(msg.env))
	for _, r := range batch {
		s.send(s.c.opt.RcptTimeout, s.rcptCommand(r))
	}
	s.send(s.c.opt.DataInitTimeout, "DATA")
	if err := s.flush(); err != nil {
		return s.mailFailed(ctx, err, batch, first)
	}
	mr, err := s.reply(s.c.opt.MailTimeout)
	if err != nil || first && mr.Code == 421 {
		return s.mailFailed(ctx, err, batch, first)
	}
	replies := make([]*wire.Reply, 0, len(batch))
	for range batch {
		var r *wire.Reply
		if r, err = s.reply(s.c.opt.RcptTimeout); err != nil {
			break
		}
		replies = append(replies, r)
	}
	var dr *wire.Reply
	what := "sending RCPT TO"
	if err == nil {
		dr, err = s.reply(s.c.opt.DataInitTimeout)
		what = "sending DATA command"
	}
	if mr.Code/100 != 2 {
		s.settle(batch, results, s.said(mr, "MAIL FROM"))
		if err != nil {
			s.close() // out of step, but nothing more to learn
			return outcome{}
		}
		return s.noData(dr)
	}
	if err != nil {
		return s.rcptFailed(ctx, err, what, batch, replies, results)
	}
	accepted, carry := s.rcptResults(batch, replies, results)
	if len(accepted) == 0 {
		return s.noData(dr)
	}
	out := s.data(ctx, msg.env, body, dr, accepted, results)
	out.carry = carry
	return out
}

// lockstep sends one command at a time and waits for its reply.
func (s *session) lockstep(ctx context.Context, msg message, body io.Reader, batch []rcpt, results []queue.Result, first bool) outcome {
	mr, err := s.command(s.c.opt.MailTimeout, s.mailCommand(msg.env))
	if err != nil || first && mr.Code == 421 {
		return s.mailFailed(ctx, err, batch, first)
	}
	if mr.Code/100 != 2 {
		s.settle(batch, results, s.said(mr, "MAIL FROM"))
		s.needRset = true
		return outcome{}
	}
	s.needRset = true
	var replies []*wire.Reply
	accepted := 0
	for _, r := range batch {
		rr, err := s.command(s.c.opt.RcptTimeout, s.rcptCommand(r))
		if err != nil {
			return s.rcptFailed(ctx, err, "sending RCPT TO", batch, replies, results)
		}
		replies = append(replies, rr)
		if rr.Code/100 == 2 {
			accepted++
		} else if accepted > 0 && tooMany(rr) {
			break // RFC 5321 §4.5.3.1.10: the rest go in the next transaction
		}
	}
	acc, carry := s.rcptResults(batch[:len(replies)], replies, results)
	carry = append(carry, batch[len(replies):]...)
	if len(acc) == 0 {
		return outcome{carry: carry}
	}
	dr, err := s.command(s.c.opt.DataInitTimeout, "DATA")
	if err != nil {
		return outcome{retry: append(acc, carry...), fail: s.ioFailure(ctx, err, "sending DATA command")}
	}
	out := s.data(ctx, msg.env, body, dr, acc, results)
	out.carry = carry
	return out
}

// mailFailed handles a connection that failed at MAIL: a cached one is
// stale and nothing was done; a fresh one leaves every recipient to the
// next address.
func (s *session) mailFailed(ctx context.Context, err error, batch []rcpt, first bool) outcome {
	if first && ctx.Err() == nil {
		s.c.debug.Debug("cached connection went stale", "relay", s.relay(), "err", err)
		s.close()
		return outcome{stale: true}
	}
	if err == nil {
		err = errors.New("421 at MAIL FROM")
	}
	return outcome{retry: batch, fail: s.ioFailure(ctx, err, "sending MAIL FROM")}
}

// rcptFailed handles a connection that failed while RCPT replies were
// read: the recipients that got a refusal keep it, the others are left
// to the next address.
func (s *session) rcptFailed(ctx context.Context, err error, what string, batch []rcpt, replies []*wire.Reply, results []queue.Result) outcome {
	fail := s.ioFailure(ctx, err, what)
	var retry []rcpt
	for i, r := range batch {
		if i < len(replies) && replies[i].Code/100 != 2 && !tooMany(replies[i]) {
			results[r.i] = s.said(replies[i], "RCPT TO")
			continue
		}
		retry = append(retry, r)
	}
	return outcome{retry: retry, fail: fail}
}

// rcptResults settles the refused recipients and returns the accepted
// ones, and those refused as too many while others were accepted
// (RFC 5321 §4.5.3.1.10), for the next transaction.
func (s *session) rcptResults(batch []rcpt, replies []*wire.Reply, results []queue.Result) (accepted, carry []rcpt) {
	for i, r := range batch {
		if replies[i].Code/100 == 2 {
			accepted = append(accepted, r)
		}
	}
	for i, r := range batch {
		switch {
		case replies[i].Code/100 == 2:
		case len(accepted) > 0 && tooMany(replies[i]):
			carry = append(carry, r)
		default:
			results[r.i] = s.said(replies[i], "RCPT TO")
		}
	}
	return accepted, carry
}

// tooMany reports a refusal for too many recipients: 452, or a status
// code x.5.3 (RFC 3463; RFC 5321 §4.5.3.1.10 asks to take an old 552 as
// temporary).
func tooMany(r *wire.Reply) bool {
	return r.Code == 452 || strings.HasSuffix(r.Enhanced, ".5.3") && r.Code/100 != 2
}

// noData ends a pipelined transaction in which no recipient was taken:
// the DATA sent ahead must have been refused. A server that said 354
// all the same waits for a message: the connection cannot be used again.
func (s *session) noData(dr *wire.Reply) outcome {
	s.needRset = true
	if dr.Code == 354 {
		s.c.debug.Info("DATA accepted without recipients", "relay", s.relay())
		s.close()
	}
	return outcome{}
}

// data sends the message after the reply dr to DATA, and settles the
// accepted recipients with the reply to the end of data.
func (s *session) data(ctx context.Context, env *envelope.Envelope, body io.Reader, dr *wire.Reply, accepted []rcpt, results []queue.Result) outcome {
	if dr.Code != 354 {
		s.needRset = true
		s.settle(accepted, results, s.said(dr, "DATA"))
		return outcome{}
	}
	s.needRset = false
	s.wt = s.c.opt.DataXferTimeout
	dw := wire.NewDotWriter(s.w)
	if s.buf == nil {
		s.buf = make([]byte, 16<<10)
	}
	err := copyBody(dw, body, s.buf, s.c.converter(env.Body, s.ext))
	if err == nil {
		err = dw.Close()
	}
	if err == nil {
		err = s.flush()
	}
	var se *sourceError
	if errors.As(err, &se) {
		// The message is cut: the connection must not carry it on.
		s.c.debug.Error("reading queue file", "err", err)
		s.close()
		s.settle(accepted, results, deferred("4.3.0", "error reading queue file"))
		return outcome{}
	}
	if err != nil {
		return outcome{retry: accepted, fail: s.ioFailure(ctx, err, "sending message body")}
	}
	r, err := s.reply(s.c.opt.DataDoneTimeout)
	if err != nil {
		// The message may have been taken: another try could send it
		// twice, so this is a deferral, not a retry elsewhere.
		s.settle(accepted, results, s.ioFailure(ctx, err, "sending end of data -- message may be sent more than once"))
		return outcome{}
	}
	if r.Code/100 != 2 {
		s.settle(accepted, results, s.said(r, "end of DATA"))
		return outcome{}
	}
	res := queue.Result{Status: queue.Delivered, DSN: replyDSN(r), Text: r.Error(), Relay: s.relay(),
		Reply: r.Error(), Relayed: !s.ext.dsn}
	s.settle(accepted, results, res)
	return outcome{}
}

// mailCommand is MAIL FROM with the parameters the next hop takes.
func (s *session) mailCommand(env *envelope.Envelope) string {
	var b strings.Builder
	b.WriteString("MAIL FROM:<")
	b.WriteString(s.path(env.Sender))
	b.WriteString(">")
	if s.ext.size && env.Size > 0 {
		b.WriteString(" SIZE=" + strconv.FormatInt(env.Size, 10))
	}
	if env.Body == "8BITMIME" && s.ext.eightBit {
		b.WriteString(" BODY=8BITMIME")
	}
	if env.SMTPUTF8 && s.ext.smtputf8 {
		b.WriteString(" SMTPUTF8")
	}
	if s.ext.dsn {
		// RFC 3461 §4.3, §4.4: passed on as received.
		if env.Ret != dsn.RetNone {
			b.WriteString(" RET=" + string(env.Ret))
		}
		if env.EnvID != "" {
			b.WriteString(" ENVID=" + dsn.EncodeXtext(env.EnvID))
		}
	}
	return b.String()
}

// rcptCommand is RCPT TO with the DSN parameters when the next hop takes
// them (RFC 3461 §4.1, §4.2; §4.2 lets an MTA add an ORCPT that the
// client did not give: the address as it was received).
func (s *session) rcptCommand(r rcpt) string {
	line := "RCPT TO:<" + s.addrString(r.addr) + ">"
	if !s.ext.dsn {
		return line
	}
	if r.r.Notify != 0 {
		line += " NOTIFY=" + r.r.Notify.String()
	}
	orcpt := r.r.ORCPT
	if orcpt.Type == "" && r.r.Addr != "" {
		orcpt = dsn.ORCPT{Type: "rfc822", Addr: r.r.Addr}
	}
	if orcpt.Type != "" {
		line += " ORCPT=" + orcpt.String()
	}
	return line
}

// path writes an address of the envelope for this session: as is with
// SMTPUTF8, else with its domain in A-labels.
func (s *session) path(addr string) string {
	if addr == "" {
		return ""
	}
	a, err := address.Parse(addr)
	if err != nil {
		return addr
	}
	return s.addrString(a)
}

func (s *session) addrString(a address.Address) string {
	if !s.ext.smtputf8 {
		a.Domain = a.ASCIIDomain()
	}
	return a.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
