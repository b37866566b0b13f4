package inspect

import (
	"fmt"
	"strings"

	"facteur/internal/address"
	"facteur/internal/envelope"
)

// envelopeOf is the envelope of the report: the queue's when known, else
// what final delivery wrote of it (Return-Path for MAIL FROM, RFC 5321
// §4.4; Delivered-To for the recipient, RFC 9228); nil when neither.
func envelopeOf(e *envelope.Envelope, m *Message) *Envelope {
	if e != nil {
		env := &Envelope{Source: "queue", QueueID: e.ID, MailFrom: e.Sender, HasFrom: true,
			EnvID: e.EnvID, Ret: string(e.Ret), Body: e.Body, SMTPUTF8: e.SMTPUTF8, Recipients: []EnvelopeRecipient{}}
		for _, r := range e.Recipients {
			env.Recipients = append(env.Recipients, EnvelopeRecipient{
				Addr: r.Addr, Notify: r.Notify.String(), ORCPT: r.ORCPT.String(), State: string(r.State)})
		}
		return env
	}
	env := &Envelope{Source: "header", Recipients: []EnvelopeRecipient{}}
	if rp := m.Trace.ReturnPath; rp != "" {
		env.MailFrom = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(rp), "<"), ">")
		env.HasFrom = true
	}
	for _, f := range m.Header {
		if strings.EqualFold(f.Name, "Delivered-To") {
			env.Recipients = append(env.Recipients, EnvelopeRecipient{Addr: strings.TrimSpace(f.Raw)})
		}
	}
	if !env.HasFrom && len(env.Recipients) == 0 {
		return nil
	}
	return env
}

// sameAddr compares two addresses as SMTP does: the local part as it is
// (RFC 5321 §2.4 leaves its case to the receiver, but no one relies on
// it), the domain normalised.
func sameAddr(a, b string) bool {
	return strings.EqualFold(normAddr(a), normAddr(b))
}

func normAddr(s string) string {
	if a, err := address.Parse(s); err == nil {
		return a.String()
	}
	return s
}

// compare says how the envelope and the header agree, the point being
// that they need not: RFC 5321 §2.3.1, the envelope is not the content.
func compare(env *Envelope, m *Message) []string {
	a := m.Addresses
	var out []string
	say := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if env == nil {
		say("The envelope (MAIL FROM, RCPT TO) is not part of the message (RFC 5321 §2.3.1) and this one records none: " +
			"final delivery writes it as Return-Path and Delivered-To, and inspect queue:ID shows a queued message's.")
	}
	if env != nil && env.HasFrom {
		switch {
		case env.MailFrom == "":
			say("MAIL FROM is <>, the null sender: this is a notification (a bounce, a delivery report), which must never be answered by another (RFC 5321 §4.5.5).")
		case len(a.From) == 0:
		case anySame(env.MailFrom, a.From):
			say("MAIL FROM <%s> is also the From address: the usual case for a person's own mail.", env.MailFrom)
		default:
			say("MAIL FROM <%s> differs from From %s. That is normal: MAIL FROM is where bounces go (a mailing list, a bulk sender or a forwarder sets its own), From is who wrote the message (RFC 5321 §3.3, RFC 5322 §3.6.2).",
				env.MailFrom, addrList(a.From))
		}
	}
	if len(a.Sender) > 0 {
		say("Sender %s is who sent the message for the author in From (RFC 5322 §3.6.2).", addrList(a.Sender))
	}
	if len(a.ReplyTo) > 0 {
		say("Replies go to Reply-To %s, not to From (RFC 5322 §3.6.2).", addrList(a.ReplyTo))
	}
	if len(a.Bcc) > 0 {
		say("A Bcc field is still in the header: the submitting client usually removes it before sending (RFC 5322 §3.6.3).")
	}
	if env == nil || len(env.Recipients) == 0 {
		return out
	}
	header := append(append(append([]Address{}, a.To...), a.Cc...), a.Bcc...)
	var inHeader, notInHeader []string
	for _, r := range env.Recipients {
		if anySame(r.Addr, header) {
			inHeader = append(inHeader, "<"+r.Addr+">")
		} else {
			notInHeader = append(notInHeader, "<"+r.Addr+">")
		}
	}
	if len(inHeader) > 0 {
		say("RCPT TO %s %s in To, Cc or Bcc as well.", strings.Join(inHeader, ", "), verb(len(inHeader), "is", "are"))
	}
	if len(notInHeader) > 0 {
		say("RCPT TO %s %s in neither To nor Cc. That is normal: a Bcc, a mailing list, an alias or a forward; the server delivers to the envelope, never to the header (RFC 5321 §7.2).",
			strings.Join(notInHeader, ", "), verb(len(notInHeader), "is", "are"))
	}
	var other []string
	for _, h := range header {
		found := false
		for _, r := range env.Recipients {
			if sameAddr(r.Addr, h.Addr) {
				found = true
				break
			}
		}
		if !found {
			other = append(other, "<"+h.Addr+">")
		}
	}
	if len(other) > 0 {
		what := "this transaction"
		if env.Source == "header" {
			what = "this copy"
		}
		say("To/Cc %s had no RCPT TO in %s. That is normal: each server gets only the recipients it must deliver to, in its own transaction.",
			strings.Join(other, ", "), what)
	}
	return out
}

func anySame(addr string, list []Address) bool {
	for _, a := range list {
		if sameAddr(addr, a.Addr) {
			return true
		}
	}
	return false
}

func addrList(list []Address) string {
	s := make([]string, len(list))
	for i, a := range list {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
