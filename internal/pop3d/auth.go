package pop3d

import (
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"facteur/internal/maillog"
	"facteur/internal/sasl"
)

// mechanisms are the SASL mechanisms offered (RFC 5034).
var mechanisms = sasl.Mechanisms

// maxSASLSteps bounds the challenges of one exchange; LOGIN needs two.
const maxSASLSteps = 4

// loginAllowed reports whether credentials may be sent on this session:
// under TLS, from loopback, or anywhere when PlaintextLoopbackOnly is off
// (RFC 2595 §2.1).
func (ss *session) loginAllowed() bool {
	return ss.tls || !ss.srv.cfg.PlaintextLoopbackOnly || clientAddr(ss.raw).IsLoopback()
}

// refuseLogin answers a login that may not happen here; true when it did.
func (ss *session) refuseLogin() bool {
	switch {
	case !ss.loginAllowed():
		ss.fail("AUTH", "Plaintext authentication disallowed on non-secure connections")
	case ss.srv.cfg.Failures.Blocked(clientAddr(ss.raw)):
		ss.tooManyFailures()
	default:
		return false
	}
	return true
}

// userCmd is RFC 1939 §7 USER.
func (ss *session) userCmd(args []string) {
	if len(args) != 1 {
		ss.bad("USER takes one argument")
		return
	}
	if ss.refuseLogin() {
		return
	}
	ss.user = args[0]
	ss.ok("send PASS")
}

// pass is RFC 1939 §7 PASS. The password is the rest of the line, spaces
// included, as clients send it.
func (ss *session) pass(args []string) {
	if ss.user == "" {
		ss.bad("send USER first")
		return
	}
	user := ss.user
	ss.user = ""
	if ss.refuseLogin() {
		return
	}
	ss.login("USER", user, ss.rest, false)
}

// auth is RFC 5034 §4 AUTH, with an optional initial response; without
// an argument, it lists the mechanisms, as older clients expect.
func (ss *session) auth(args []string) {
	if len(args) == 0 {
		ss.ok("")
		for _, m := range mechanisms {
			ss.w.WriteString(m + "\r\n")
		}
		ss.w.WriteString(".\r\n")
		return
	}
	if len(args) > 2 {
		ss.bad("AUTH takes a mechanism and an initial response")
		return
	}
	if ss.refuseLogin() {
		return
	}
	srv, err := sasl.NewServer(args[0])
	if err != nil {
		ss.fail("", "unsupported authentication mechanism")
		return
	}
	var resp []byte // nil: no initial response
	if len(args) == 2 {
		if resp, err = decodeResponse(args[1]); err != nil {
			ss.fail("", "malformed initial response")
			return
		}
	}
	if proceed, deny := ss.exchange(srv, resp); proceed {
		cred := srv.Credentials()
		ss.login(strings.ToUpper(args[0]), cred.Username, cred.Password, deny)
	}
}

// exchange runs the challenges of srv. proceed false means it ended with
// a reply; deny means the login must fail whatever the password (another
// authorization identity was asked for).
func (ss *session) exchange(srv sasl.Server, resp []byte) (proceed, deny bool) {
	for range maxSASLSteps {
		challenge, done, err := srv.Next(resp)
		switch {
		case errors.Is(err, sasl.ErrMalformed):
			ss.fail("", "malformed authentication response")
			return false, false
		case err != nil:
			return true, true
		case done:
			return true, false
		}
		ss.w.WriteString("+ " + base64.StdEncoding.EncodeToString(challenge) + "\r\n")
		if ss.w.Flush() != nil {
			ss.done = true
			return false, false
		}
		ss.extend()
		line, err := ss.r.ReadLine(maxLine)
		switch {
		case err != nil:
			ss.fail("", "authentication exchange failed")
			return false, false
		case string(line) == "*": // RFC 5034 §4: the client cancels
			ss.fail("", "authentication cancelled")
			return false, false
		}
		if resp, err = decodeResponse(string(line)); err != nil {
			ss.fail("", "cannot decode response")
			return false, false
		}
	}
	ss.fail("", "too many authentication steps")
	return false, false
}

// decodeResponse decodes a client response: "=" is the empty one (RFC
// 5034 §4).
func decodeResponse(s string) ([]byte, error) {
	if s == "=" {
		return []byte{}, nil
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if b == nil && err == nil {
		b = []byte{}
	}
	return b, err
}

// login checks credentials, locks the maildrop and lists it: the move to
// the TRANSACTION state (RFC 1939 §4). The password goes nowhere else.
func (ss *session) login(mech, user, password string, deny bool) {
	account, ok, err := ss.srv.drops.Authenticate(ss.ctx, user, password)
	if err != nil {
		ss.internal("authenticate", err)
		return
	}
	if !ok || deny || account == "" {
		ss.loginFailed(mech, user)
		return
	}
	// RFC 2449 §8.1.1: [IN-USE] when another session holds the maildrop.
	if !ss.srv.lock(account) {
		ss.srv.cfg.Log.Warn("login refused, maildrop in use: user=%s, client=%s", account, ss.name)
		ss.fail("IN-USE", "another POP3 session holds this maildrop")
		return
	}
	validity, msgs, err := ss.srv.drops.List(ss.ctx, account)
	if err != nil {
		ss.srv.unlock(account)
		ss.internal("list", err)
		return
	}
	ss.account, ss.state = account, stateTransaction
	ss.drop = newMaildrop(validity, msgs)
	ss.srv.cfg.Log.Event("", "login: user=%s, method=%s, client=%s, messages=%d", account, mech, ss.name, len(msgs))
	ss.ok("maildrop locked and ready")
}

// loginFailed counts a failure against the client's address, pauses
// longer for each, answers [AUTH] (RFC 3206 §4), and ends the session
// past the limit. An unknown user and a wrong password get the same reply.
func (ss *session) loginFailed(mech, user string) {
	n := ss.srv.cfg.Failures.Add(clientAddr(ss.raw))
	ss.srv.cfg.Log.Warn("%s authentication failed: user=%s, client=%s", mech, maillog.Safe(user), ss.name)
	if d := ss.srv.cfg.FailureDelay; d > 0 && n > 0 {
		if ss.w.Flush() != nil {
			ss.done = true
			return
		}
		ss.srv.sleep(ss.ctx, d*time.Duration(n))
	}
	if n >= ss.srv.cfg.Failures.Limit() {
		ss.tooManyFailures()
		return
	}
	ss.fail("AUTH", "authentication failed")
}

// tooManyFailures ends a session from an address past the limit.
func (ss *session) tooManyFailures() {
	ss.srv.cfg.Log.Warn("too many failed logins: client=%s", ss.name)
	ss.fail("AUTH", "too many failed logins, try again later")
	ss.done = true
}
