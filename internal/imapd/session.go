package imapd

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gosasl "github.com/emersion/go-sasl"

	"facteur/internal/maillog"
	"facteur/internal/sasl"
)

// session is one IMAP connection's state. The library calls its methods
// from one goroutine at a time (Idle runs while the reader waits).
type session struct {
	srv   *Server
	conn  *imapserver.Conn
	guard *guard
	// ctx is the connection's context (STYLE 12): cancelled at Close.
	ctx    context.Context
	cancel context.CancelFunc

	// idleMu is held by Idle while it works on the view, and by Poll and
	// Close: the library (go-imap v2 beta.8) may call them while Idle
	// still runs, for it ends IDLE on a read error (a client that hangs
	// up) without waiting for Idle to return.
	idleMu sync.Mutex
	closed bool // under idleMu

	account string
	sel     *view // the selected mailbox, nil when none
	// saved is the last SEARCH result kept with RETURN (SAVE), in UIDs
	// (RFC 5182).
	saved []uint32
}

var (
	_ imapserver.SessionIMAP4rev2   = (*session)(nil)
	_ imapserver.SessionSASL        = (*session)(nil)
	_ imapserver.SessionAppendLimit = (*session)(nil)
	_ imapserver.SessionNamespace   = (*session)(nil)
	_ imapserver.SessionMove        = (*session)(nil)
)

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	g, ok := c.NetConn().(*guard)
	if !ok {
		return nil, nil, errors.New("imapd: connection without a guard")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "server shutting down"}
	}
	s.sessions++
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(s.ctx)
	return &session{srv: s, conn: c, guard: g, ctx: ctx, cancel: cancel}, nil, nil
}

// Close ends the session: the selected mailbox's watch stops.
func (ss *session) Close() error {
	ss.idleMu.Lock()
	ss.closed = true
	ss.unselect()
	ss.idleMu.Unlock()
	ss.cancel()
	if ss.account != "" {
		ss.srv.cfg.Log.Event("", "logout: user=%s, client=%s", ss.account, ss.guard.name)
	}
	ss.srv.mu.Lock()
	ss.srv.sessions--
	ss.srv.idle.Broadcast()
	ss.srv.mu.Unlock()
	return nil
}

// Login is RFC 9051 §6.2.3 LOGIN, and the end of every AUTHENTICATE.
func (ss *session) Login(user, password string) error {
	return ss.login("LOGIN", user, password)
}

// AuthenticateMechanisms lists the SASL mechanisms (RFC 9051 §6.2.2).
func (ss *session) AuthenticateMechanisms() []string { return sasl.Mechanisms }

// Authenticate starts an AUTHENTICATE exchange with facteur's SASL
// mechanisms; the credentials go to login at its end.
func (ss *session) Authenticate(mech string) (gosasl.Server, error) {
	if err := ss.refuseLogin(); err != nil {
		return nil, err
	}
	srv, err := sasl.NewServer(mech)
	if err != nil {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unsupported authentication mechanism"}
	}
	return &saslExchange{ss: ss, mech: mech, srv: srv}, nil
}

// saslExchange adapts facteur's SASL server to the library's.
type saslExchange struct {
	ss   *session
	mech string
	srv  sasl.Server
}

func (x *saslExchange) Next(resp []byte) ([]byte, bool, error) {
	challenge, done, err := x.srv.Next(resp)
	switch {
	case errors.Is(err, sasl.ErrMalformed):
		return nil, false, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Malformed authentication response"}
	case err != nil: // another authorization identity: a failure
		return nil, false, x.ss.loginFailed(x.mech, x.srv.Credentials().Username)
	case !done:
		return challenge, false, nil
	}
	cred := x.srv.Credentials()
	if err := x.ss.login(x.mech, cred.Username, cred.Password); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}

// refuseLogin returns the error for a login that may not happen here.
func (ss *session) refuseLogin() error {
	if !ss.guard.loginAllowed() {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodePrivacyRequired,
			Text: "Plaintext authentication disallowed on non-secure connections"}
	}
	if ss.srv.cfg.Failures.Blocked(ss.guard.addr) {
		return ss.tooManyFailures()
	}
	return nil
}

// login checks credentials. The password goes nowhere else.
func (ss *session) login(mech, user, password string) error {
	if err := ss.refuseLogin(); err != nil {
		return err
	}
	account, ok, err := ss.srv.store.Authenticate(ss.ctx, user, password)
	if err != nil {
		return ss.internal("authenticate", err)
	}
	if !ok || account == "" {
		return ss.loginFailed(mech, user)
	}
	ss.account = account
	ss.guard.authed.Store(true)
	ss.srv.cfg.Log.Event("", "login: user=%s, method=%s, client=%s", account, mech, ss.guard.name)
	return nil
}

// loginFailed counts a failure against the client's address, pauses
// longer for each, answers [AUTHENTICATIONFAILED] (RFC 5530), and ends the
// session past the limit. An unknown user and a wrong password get the
// same reply.
func (ss *session) loginFailed(mech, user string) error {
	n := ss.srv.cfg.Failures.Add(ss.guard.addr)
	ss.srv.cfg.Log.Warn("%s authentication failed: user=%s, client=%s", mech, maillog.Safe(user), ss.guard.name)
	if d := ss.srv.cfg.FailureDelay; d > 0 && n > 0 {
		ss.srv.sleep(ss.ctx, d*time.Duration(n))
	}
	if n >= ss.srv.cfg.Failures.Limit() {
		return ss.tooManyFailures()
	}
	return imapserver.ErrAuthFailed
}

// tooManyFailures ends a session from an address past the limit: BYE,
// the tagged NO, and the connection reads nothing more.
func (ss *session) tooManyFailures() error {
	ss.srv.cfg.Log.Warn("too many failed logins: client=%s", ss.guard.name)
	ss.guard.hangup("Too many failed logins, try again later")
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
		Text: "Too many failed logins, try again later"}
}

// AppendLimit is APPENDLIMIT (RFC 7889).
func (ss *session) AppendLimit() uint32 { return uint32(ss.srv.cfg.AppendLimit) }

// Namespace is RFC 2342: one personal namespace, "/" as separator.
func (ss *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: '/'}}}, nil
}

// internal logs an unclassified error and answers a generic NO: the
// detail stays in the log (STYLE 6).
func (ss *session) internal(what string, err error) error {
	ss.srv.cfg.Debug.Error("imapd: "+what, "client", ss.guard.name, "user", ss.account, "err", err)
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug,
		Text: "Internal error, try again later"}
}
