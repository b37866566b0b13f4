package smtpd

import (
	"errors"
	"strconv"
	"strings"

	"facteur/internal/address"
	"facteur/internal/dsn"
	"facteur/internal/envelope"
	"facteur/internal/smtp"
)

// transaction is what MAIL starts and DATA, BDAT LAST or RSET ends.
type transaction struct {
	env       *envelope.Envelope
	rcpts     int     // accepted RCPT commands, for MaxRecipients
	overshoot int     // RCPTs refused past MaxRecipients
	msg       Message // begun by the first BDAT
	size      int64   // BDAT octets so far
	chunked   bool    // a BDAT came: no DATA in this transaction
}

// mail starts a transaction (RFC 5321 §4.1.1.2).
func (ss *session) mail(arg string) {
	switch {
	case !ss.greeted:
		ss.reply(smtp.NewReply(503, "5.5.1", "Error: send HELO/EHLO first"))
		return
	case ss.tx != nil:
		ss.reply(smtp.NewReply(503, "5.5.1", "Error: nested MAIL command"))
		return
	case ss.tlsRequired(): // RFC 3207 §4
		ss.reply(smtp.NewReply(530, "5.7.0", "Must issue a STARTTLS command first"))
		return
	case ss.authEnabled() && ss.port != PortSMTP && ss.client.AuthUser == "": // RFC 6409 §4.3
		ss.reply(smtp.NewReply(530, "5.7.0", "Authentication required"))
		return
	}
	path, params, err := smtp.ParsePathArg(arg, "FROM")
	if err != nil {
		ss.reply(smtp.NewReply(501, "5.5.4", "Syntax: MAIL FROM:<address>"))
		return
	}
	env := &envelope.Envelope{Body: "7BIT", Client: ss.client}
	if r := ss.mailParams(env, params); r != nil {
		ss.reply(r)
		return
	}
	sender, err := address.ParseReversePath("<"+path+">", env.SMTPUTF8)
	if err != nil {
		ss.reply(addressError(err, "5.1.7", "Bad sender address syntax"))
		return
	}
	if !ss.srv.sink.SpaceOK() {
		ss.reply(smtp.NewReply(452, "4.3.1", "Insufficient system storage"))
		return
	}
	env.Sender = sender.String()
	if r := ss.senderOwned(env); r != nil {
		ss.srv.cfg.Log.Event("NOQUEUE", "reject: MAIL from %s: %s; from=<%s> proto=%s helo=<%s>",
			ss.name, r.Error(), env.Sender, env.Client.Protocol, ss.client.Helo)
		ss.reply(r)
		return
	}
	if env.SMTPUTF8 {
		// RFC 6531 §3.7.3: ESMTP becomes UTF8SMTP, ESMTPS UTF8SMTPS...
		env.Client.Protocol = "UTF8" + strings.TrimPrefix(env.Client.Protocol, "E")
	}
	ss.tx = &transaction{env: env}
	ss.reply(smtp.NewReply(250, "2.1.0", "Ok"))
}

// senderOwned asks Senders whether an authenticated client may use the
// sender of env (RFC 6409 §6.1: the submission server may check it). The
// null sender is left alone, as Postfix leaves it.
func (ss *session) senderOwned(env *envelope.Envelope) *smtp.Reply {
	if env.Client.AuthUser == "" || env.Sender == "" || ss.srv.cfg.Senders == nil {
		return nil
	}
	return ss.srv.cfg.Senders.SenderOwned(ss.ctx, &env.Client, env.Sender)
}

// addressError is the reply to an address that does not parse: RFC 6531
// §3.5 553 5.6.7 for UTF-8 without SMTPUTF8, 501 otherwise.
func addressError(err error, enhanced, text string) *smtp.Reply {
	if errors.Is(err, address.ErrNeedsSMTPUTF8) {
		return smtp.NewReply(553, "5.6.7", "Error: non-ASCII address requires SMTPUTF8")
	}
	return smtp.NewReply(501, enhanced, text)
}

// mailParams applies the ESMTP parameters of MAIL to env.
func (ss *session) mailParams(env *envelope.Envelope, params []smtp.Param) *smtp.Reply {
	seen := make(map[string]bool, len(params))
	for _, p := range params {
		if seen[p.Key] {
			return smtp.NewReply(501, "5.5.4", "Error: duplicate parameter "+p.Key)
		}
		seen[p.Key] = true
		if r := ss.mailParam(env, p); r != nil {
			return r
		}
	}
	return nil
}

func (ss *session) mailParam(env *envelope.Envelope, p smtp.Param) *smtp.Reply {
	var err error
	switch p.Key {
	case "SIZE": // RFC 1870 §6
		n, perr := strconv.ParseInt(p.Value, 10, 64)
		if perr != nil || n < 0 {
			return smtp.NewReply(501, "5.5.4", "Bad message size syntax")
		}
		if max := ss.srv.cfg.MaxMessageSize; max > 0 && n > max {
			return smtp.NewReply(552, "5.3.4", "Message size exceeds fixed limit")
		}
	case "BODY": // RFC 6152 §3, RFC 3030 §3
		switch v := upper(p.Value); v {
		case "7BIT", "8BITMIME", "BINARYMIME":
			env.Body = v
		default:
			return smtp.NewReply(501, "5.5.4", "Unsupported BODY parameter value")
		}
	case "SMTPUTF8": // RFC 6531 §3.4: no value
		if p.Value != "" {
			return smtp.NewReply(501, "5.5.4", "Bad SMTPUTF8 parameter syntax")
		}
		env.SMTPUTF8 = true
	case "RET": // RFC 3461 §4.3
		if env.Ret, err = dsn.ParseRet(p.Value); err != nil {
			return smtp.NewReply(501, "5.5.4", "Bad RET parameter syntax")
		}
	case "ENVID": // RFC 3461 §4.4
		if env.EnvID, err = dsn.ParseEnvID(p.Value); err != nil {
			return smtp.NewReply(501, "5.5.4", "Bad ENVID parameter syntax")
		}
	default:
		return smtp.NewReply(555, "5.5.4", "Unsupported option: "+p.Key)
	}
	return nil
}

// upper upper-cases ASCII letters only.
func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
