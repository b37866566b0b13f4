package smtpd

import (
	"facteur/internal/address"
	"facteur/internal/dsn"
	"facteur/internal/smtp"
)

// rcptOvershootLimit is Postfix's smtpd_recipient_overshoot_limit: RCPTs
// refused for MaxRecipients that do not count as errors, so that a client
// sending a long list in one pipeline is not cut off.
const rcptOvershootLimit = 1000

// rcpt adds a recipient (RFC 5321 §4.1.1.3). A refused RCPT leaves the
// transaction as it was.
func (ss *session) rcpt(arg string) {
	tx := ss.tx
	if tx == nil {
		ss.reply(smtp.NewReply(503, "5.5.1", "Error: need MAIL command"))
		return
	}
	if tx.chunked {
		ss.reply(smtp.NewReply(503, "5.5.1", "Error: RCPT after BDAT"))
		return
	}
	// RFC 5321 §4.5.3.1.8: MaxRecipients is at least 100 unless an
	// operator wants less; past it, nothing more is kept.
	if tx.rcpts >= ss.srv.cfg.MaxRecipients {
		ss.tooManyRecipients()
		return
	}
	path, params, err := smtp.ParsePathArg(arg, "TO")
	if err != nil {
		ss.reply(smtp.NewReply(501, "5.5.4", "Syntax: RCPT TO:<address>"))
		return
	}
	var notify dsn.Notify
	var orcpt dsn.ORCPT
	if r := rcptParams(params, &notify, &orcpt); r != nil {
		ss.reply(r)
		return
	}
	addr, err := address.ParseForwardPath("<"+path+">", tx.env.SMTPUTF8)
	if err != nil {
		ss.reply(addressError(err, "5.1.3", "Bad recipient address syntax"))
		return
	}
	rcpts, r := ss.srv.policy.Recipient(ss.ctx, &tx.env.Client, addr)
	if r != nil {
		ss.rejectRcpt(addr, r)
		return
	}
	for _, rc := range rcpts {
		rc.Notify, rc.ORCPT = notify, orcpt
	}
	tx.env.Recipients = append(tx.env.Recipients, rcpts...)
	tx.rcpts++
	ss.reply(smtp.NewReply(250, "2.1.5", "Ok"))
}

// rejectRcpt logs and sends a policy refusal, as Postfix logs it.
func (ss *session) rejectRcpt(addr address.Address, r *smtp.Reply) {
	env := ss.tx.env
	ss.srv.cfg.Log.Event("NOQUEUE", "reject: RCPT from %s: %s; from=<%s> to=<%s> proto=%s helo=<%s>",
		ss.name, r.Error(), env.Sender, addr.String(), env.Client.Protocol, ss.client.Helo)
	ss.reply(r)
}

// tooManyRecipients refuses a RCPT past MaxRecipients: RFC 5321
// §4.5.3.1.10, 452 and the client sends the rest in another transaction.
func (ss *session) tooManyRecipients() {
	r := smtp.NewReply(452, "4.5.3", "Error: too many recipients")
	if ss.tx.overshoot < rcptOvershootLimit {
		ss.tx.overshoot++
		ss.replyUncounted(r)
		return
	}
	ss.reply(r)
}

// rcptParams reads NOTIFY and ORCPT (RFC 3461 §4.1, §4.2).
func rcptParams(params []smtp.Param, notify *dsn.Notify, orcpt *dsn.ORCPT) *smtp.Reply {
	var seenN, seenO bool
	for _, p := range params {
		var err error
		switch p.Key {
		case "NOTIFY":
			if seenN {
				return smtp.NewReply(501, "5.5.4", "Error: duplicate parameter NOTIFY")
			}
			seenN = true
			if *notify, err = dsn.ParseNotify(p.Value); err != nil {
				return smtp.NewReply(501, "5.5.4", "Bad NOTIFY parameter syntax")
			}
		case "ORCPT":
			if seenO {
				return smtp.NewReply(501, "5.5.4", "Error: duplicate parameter ORCPT")
			}
			seenO = true
			if *orcpt, err = dsn.ParseORCPT(p.Value); err != nil {
				return smtp.NewReply(501, "5.5.4", "Bad ORCPT parameter syntax")
			}
		default:
			return smtp.NewReply(555, "5.5.4", "Unsupported option: "+p.Key)
		}
	}
	return nil
}
