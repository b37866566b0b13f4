package smtpd

import (
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"facteur/internal/maillog"
	"facteur/internal/sasl"
	"facteur/internal/smtp"
)

// maxSASLLine is RFC 4954 §4's bound on a line of the exchange: 12288
// octets, base64 included.
const maxSASLLine = 12288

// maxSASLSteps bounds the challenges of one exchange; LOGIN needs two.
const maxSASLSteps = 4

// authEnabled reports whether this port offers AUTH at all.
func (ss *session) authEnabled() bool {
	switch {
	case ss.srv.cfg.Auth == nil || ss.port == portLocal:
		return false
	case ss.port == PortSMTP:
		return ss.srv.cfg.AuthOnSMTP
	}
	return true
}

// authOffered reports whether EHLO lists AUTH now: not before TLS when
// smtpd_tls_auth_only is set, as Postfix does.
func (ss *session) authOffered() bool {
	return ss.authEnabled() && (ss.tls || !ss.srv.cfg.TLSAuthOnly) && ss.client.AuthUser == ""
}

// authKeyword is the EHLO line (RFC 4954 §3).
func authKeyword() string { return "AUTH " + strings.Join(sasl.Mechanisms, " ") }

// auth runs an AUTH exchange (RFC 4954 §4). The order of the checks
// matters: credentials sent in plain text where TLS is required are
// refused before anything decodes or checks them.
func (ss *session) auth(arg string) {
	if r := ss.authState(); r != nil {
		ss.reply(r)
		return
	}
	if ss.srv.failures.Blocked(ss.client.Addr) {
		ss.tooManyFailures()
		return
	}
	mech, initial, hasInitial := strings.Cut(arg, " ")
	srv, err := sasl.NewServer(mech)
	if err != nil {
		ss.reply(smtp.NewReply(504, "5.5.4", "Error: unsupported authentication mechanism"))
		return
	}
	var resp []byte // nil: no initial response
	if hasInitial {
		if resp, err = decodeResponse(initial); err != nil {
			ss.reply(smtp.NewReply(501, "5.5.2", "Error: malformed initial response"))
			return
		}
	}
	proceed, deny := ss.exchange(srv, resp)
	if proceed {
		ss.check(strings.ToUpper(mech), srv.Credentials(), deny)
	}
}

// authState refuses AUTH where it may not run: RFC 4954 §4 (503 after a
// successful AUTH, 503 during a transaction) and §6 (538 5.7.11 when the
// mechanism needs TLS).
func (ss *session) authState() *smtp.Reply {
	switch {
	case ss.srv.cfg.Auth == nil:
		return smtp.NewReply(502, "5.5.1", "Error: command not implemented")
	case !ss.authEnabled():
		return smtp.NewReply(503, "5.5.1", "Error: authentication not enabled")
	case !ss.tls && ss.srv.cfg.TLSAuthOnly:
		return smtp.NewReply(538, "5.7.11", "Encryption required for requested authentication mechanism")
	case !ss.greeted || !ss.ehlo:
		return smtp.NewReply(503, "5.5.1", "Error: send EHLO first")
	case ss.client.AuthUser != "":
		return smtp.NewReply(503, "5.5.1", "Error: already authenticated")
	case ss.tx != nil:
		return smtp.NewReply(503, "5.5.1", "Error: MAIL transaction in progress")
	}
	return nil
}

// decodeResponse decodes a client response: "=" is the empty response
// (RFC 4954 §4).
func decodeResponse(s string) ([]byte, error) {
	if s == "=" {
		return []byte{}, nil
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// exchange runs the challenges of mechanism srv from the response resp.
// proceed false means it ended with a reply already given; deny means the
// credentials must fail whatever their check says (another authorization
// identity was asked for).
func (ss *session) exchange(srv sasl.Server, resp []byte) (proceed, deny bool) {
	for range maxSASLSteps {
		challenge, done, err := srv.Next(resp)
		switch {
		case errors.Is(err, sasl.ErrMalformed):
			ss.reply(smtp.NewReply(501, "5.5.2", "Error: malformed authentication response"))
			return false, false
		case err != nil:
			return true, true
		case done:
			return true, false
		}
		ss.reply(&smtp.Reply{Code: 334, Lines: []string{base64.StdEncoding.EncodeToString(challenge)}})
		if !ss.flush() {
			return false, false
		}
		if resp, done = ss.readResponse(); done {
			return false, false
		}
	}
	ss.reply(smtp.NewReply(501, "5.5.2", "Error: too many authentication steps"))
	return false, false
}

// readResponse reads one response line of the exchange; done means the
// exchange ended with a reply (or the session with an error).
func (ss *session) readResponse() (resp []byte, done bool) {
	line, err := ss.r.ReadLine(maxSASLLine)
	switch {
	case errors.Is(err, smtp.ErrLineTooLong):
		ss.reply(smtp.NewReply(500, "5.5.6", "Error: authentication exchange line is too long"))
		return nil, true
	case err != nil && !errors.Is(err, smtp.ErrBareNewline):
		ss.readFailed(err)
		return nil, true
	case string(line) == "*": // RFC 4954 §4: the client cancels
		ss.reply(smtp.NewReply(501, "5.7.0", "Error: authentication aborted"))
		return nil, true
	}
	resp, err = decodeResponse(string(line))
	if err != nil {
		ss.reply(smtp.NewReply(501, "5.5.2", "Error: cannot decode response"))
		return nil, true
	}
	return resp, false
}

// check asks the Authenticator. The password goes nowhere else: not to
// the log, not into an error.
func (ss *session) check(mech string, cred sasl.Credentials, deny bool) {
	ok, err := ss.srv.cfg.Auth.Authenticate(ss.ctx, cred.Username, cred.Password)
	ok = ok && !deny
	if err != nil {
		ss.srv.cfg.Log.Warn("%s: SASL %s authentication failed: temporary failure, sasl_username=%s", ss.name, mech, maillog.Safe(cred.Username))
		ss.srv.cfg.Debug.Warn("smtpd: authenticator failed", "client", ss.name, "err", err)
		ss.reply(smtp.NewReply(454, "4.7.0", "Temporary authentication failure"))
		return
	}
	if !ok {
		ss.authFailed(mech, cred.Username)
		return
	}
	ss.client.AuthUser = cred.Username
	ss.client.Local = true // RFC 6409 §8: cleanup completes its header
	ss.mech = mech
	if ss.greeted {
		ss.client.Protocol = ss.protocol()
	}
	ss.srv.cfg.Log.Event("", "%s: sasl_method=%s, sasl_username=%s", ss.name, mech, maillog.Safe(cred.Username))
	ss.reply(smtp.NewReply(235, "2.7.0", "Authentication successful"))
}

// authFailed counts a failure against the client's address, pauses longer
// for each one, and answers 535 5.7.8 (RFC 4954 §6), or 421 4.7.0 and the
// end of the session past the limit. An unknown user and a wrong password
// get the same reply after the same work.
func (ss *session) authFailed(mech, user string) {
	n := ss.srv.failures.Add(ss.client.Addr)
	ss.srv.cfg.Log.Warn("%s: SASL %s authentication failed: authentication failure, sasl_username=%s", ss.name, mech, maillog.Safe(user))
	if d := ss.srv.cfg.AuthFailureDelay; d > 0 && n > 0 {
		if !ss.flush() {
			return
		}
		ss.srv.sleep(ss.ctx, d*time.Duration(n))
	}
	if n >= ss.srv.cfg.AuthFailureLimit {
		ss.tooManyFailures()
		return
	}
	ss.reply(smtp.NewReply(535, "5.7.8", "Error: authentication failed"))
}

// tooManyFailures ends a session from an address past the limit.
func (ss *session) tooManyFailures() {
	ss.srv.cfg.Log.Warn("%s: too many failed AUTH attempts", ss.name)
	ss.replyClose(smtp.NewReply(421, "4.7.0", ss.srv.cfg.Hostname+" Error: too many failed authentication attempts"))
}

// protocol is RFC 3848's name of the session's protocol for Received:
// ESMTP, ESMTPS (TLS), ESMTPA (AUTH), ESMTPSA (both); SMTP after HELO.
func (ss *session) protocol() string {
	if !ss.ehlo {
		return "SMTP"
	}
	p := "ESMTP"
	if ss.tls {
		p += "S"
	}
	if ss.client.AuthUser != "" {
		p += "A"
	}
	return p
}
