package pop3d

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"facteur/internal/smtp"
)

// maxLine bounds a command line. RFC 2449 §4 allows 255 octets; the extra
// room is for AUTH's initial response (RFC 5034 §4).
const maxLine = 8192

// maxErrors bad commands end a session.
const maxErrors = 20

// state is RFC 1939 §3's session state.
type state int

const (
	stateAuthorization state = iota
	stateTransaction
	stateUpdate
)

// session is one POP3 connection.
type session struct {
	srv     *Server
	raw     net.Conn // the TCP connection
	conn    net.Conn // raw or TLS over it
	r       *smtp.Reader
	w       *bufio.Writer
	copyBuf []byte // RETR's and TOP's copy buffer, made at the first use
	ctx     context.Context
	tls     bool
	name    string // "[192.0.2.1]:1234", for the log
	state   state
	user    string // USER's argument, waiting for PASS
	rest    string // the current command's text after its name
	errors  int
	done    bool

	account string // authenticated and locked
	drop    *maildrop
}

// writeBuffer is the size of a session's output buffer: a typical message
// goes out in one or two writes rather than one per kilobyte.
const writeBuffer = 16 << 10

// run is a session from greeting to close.
func (s *Server) run(conn net.Conn, implicitTLS bool) {
	defer s.removeConn(conn)
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	ss := &session{srv: s, raw: conn, conn: conn, ctx: ctx, name: conn.RemoteAddr().String()}
	defer func() {
		if p := recover(); p != nil {
			s.mu.Lock()
			s.panics++
			s.mu.Unlock()
			s.cfg.Debug.Error("pop3d: session panic", "client", ss.name, "panic", p, "stack", string(debug.Stack()))
		}
		if ss.account != "" {
			s.unlock(ss.account)
		}
		conn.Close()
	}()
	if implicitTLS {
		ss.extend()
		tc := tls.Server(conn, s.cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			s.cfg.Debug.Info("pop3d: TLS handshake failed", "client", ss.name, "err", err)
			return
		}
		ss.conn, ss.tls = tc, true
	}
	ss.r = smtp.NewReader(ss.conn)
	ss.w = bufio.NewWriterSize(ss.conn, writeBuffer)
	ss.ok(s.cfg.Hostname + " POP3 facteur ready")
	for ss.flush() && !ss.done {
		ss.extend()
		line, err := ss.r.ReadLine(maxLine)
		switch {
		case errors.Is(err, smtp.ErrLineTooLong):
			ss.bad("line too long")
			continue
		case err != nil && !errors.Is(err, smtp.ErrBareNewline):
			if ss.state == stateTransaction {
				s.cfg.Log.Event("", "disconnected without QUIT: user=%s, client=%s, nothing deleted", ss.account, ss.name)
			}
			return
		}
		ss.command(string(line))
	}
}

// extend moves the connection's deadline a Timeout ahead, or to now once
// Close has begun, so that a session never outlives Close by a timeout.
func (ss *session) extend() {
	ss.srv.mu.Lock()
	defer ss.srv.mu.Unlock()
	d := time.Now()
	if !ss.srv.closed {
		d = d.Add(ss.srv.cfg.Timeout)
	}
	ss.raw.SetDeadline(d)
}

// command runs one command line.
func (ss *session) command(line string) {
	cmd, err := ParseCommand(line)
	if err != nil {
		ss.bad(err.Error())
		return
	}
	h, ok := handlers[cmd.Name]
	if !ok {
		ss.bad("unknown command " + cmd.Name)
		return
	}
	if h.states&(1<<ss.state) == 0 {
		ss.bad(cmd.Name + " not allowed in this state")
		return
	}
	ss.rest = cmd.Rest
	h.run(ss, cmd.Args)
}

// handler is one command's code and the states it runs in.
type handler struct {
	states int // bit set of 1<<state
	run    func(ss *session, args []string)
}

const (
	inAuth  = 1 << stateAuthorization
	inTrans = 1 << stateTransaction
)

// handlers is RFC 1939's commands, with RFC 2449's CAPA, RFC 2595's STLS
// and RFC 5034's AUTH.
var handlers = map[string]handler{
	"CAPA": {inAuth | inTrans, (*session).capa},
	"QUIT": {inAuth | inTrans, (*session).quit},
	"NOOP": {inTrans, func(ss *session, _ []string) { ss.ok("") }},
	"STLS": {inAuth, (*session).stls},
	"USER": {inAuth, (*session).userCmd},
	"PASS": {inAuth, (*session).pass},
	"AUTH": {inAuth, (*session).auth},
	"STAT": {inTrans, (*session).stat},
	"LIST": {inTrans, (*session).list},
	"UIDL": {inTrans, (*session).uidl},
	"RETR": {inTrans, (*session).retr},
	"TOP":  {inTrans, (*session).top},
	"DELE": {inTrans, (*session).dele},
	"RSET": {inTrans, (*session).rset},
}

// ok sends a positive status line.
func (ss *session) ok(text string) {
	if text == "" {
		ss.w.WriteString("+OK\r\n")
		return
	}
	ss.w.WriteString("+OK " + text + "\r\n")
}

// fail sends a negative status line; code is an RFC 2449 §8 response
// code ("IN-USE", "AUTH", "SYS/TEMP") or "".
func (ss *session) fail(code, text string) {
	if code != "" {
		text = "[" + code + "] " + text
	}
	ss.w.WriteString("-ERR " + text + "\r\n")
}

// bad refuses a command the session could not run; too many end it.
func (ss *session) bad(text string) {
	ss.errors++
	if ss.errors >= maxErrors {
		ss.fail("", "too many bad commands, closing")
		ss.done = true
		return
	}
	ss.fail("", text)
}

// internal answers a store failure: the detail goes to the log, the
// client gets [SYS/TEMP] (RFC 2449 §8.1.2).
func (ss *session) internal(what string, err error) {
	ss.srv.cfg.Log.Warn("%s: %s failed: user=%s, client=%s", what, what, ss.account, ss.name)
	ss.srv.cfg.Debug.Warn("pop3d: store failed", "op", what, "client", ss.name, "err", err)
	ss.fail("SYS/TEMP", "temporary failure, try again later")
}

// flush sends what is buffered when the client waits for it: RFC 2449
// §6.6 PIPELINING lets it send several commands at once.
func (ss *session) flush() bool {
	if ss.r != nil && ss.r.Buffered() > 0 && !ss.done {
		return true
	}
	return ss.w.Flush() == nil
}

// capa is RFC 2449 §5. Login mechanisms are listed only where a login is
// allowed.
func (ss *session) capa([]string) {
	ss.ok("Capability list follows")
	caps := []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"}
	if ss.state == stateAuthorization {
		if ss.srv.cfg.TLS != nil && !ss.tls {
			caps = append(caps, "STLS")
		}
		if ss.loginAllowed() {
			caps = append(caps, "USER", "SASL "+strings.Join(mechanisms, " "))
		}
	}
	caps = append(caps, "EXPIRE NEVER", "IMPLEMENTATION facteur")
	for _, c := range caps {
		ss.w.WriteString(c + "\r\n")
	}
	ss.w.WriteString(".\r\n")
}

// stls is RFC 2595 §4: TLS starts after the +OK, and the session forgets
// what it knew (RFC 2595 §3.1: here, USER's name).
func (ss *session) stls([]string) {
	if ss.srv.cfg.TLS == nil || ss.tls {
		ss.bad("STLS not available")
		return
	}
	ss.ok("Begin TLS negotiation")
	if ss.w.Flush() != nil {
		ss.done = true
		return
	}
	if ss.r.Buffered() > 0 {
		// Plain text sent after STLS would be taken as if it came
		// through TLS: a command injection (CVE-2011-0411).
		ss.done = true
		return
	}
	tc := tls.Server(ss.raw, ss.srv.cfg.TLS)
	if err := tc.HandshakeContext(ss.ctx); err != nil {
		ss.srv.cfg.Debug.Info("pop3d: STLS handshake failed", "client", ss.name, "err", err)
		ss.done = true
		return
	}
	ss.conn, ss.tls, ss.user = tc, true, ""
	ss.r = smtp.NewReader(tc)
	ss.w = bufio.NewWriterSize(tc, writeBuffer)
}

// quit is RFC 1939 §5 (QUIT in AUTHORIZATION) and §6 (the UPDATE state:
// the messages marked deleted are removed).
func (ss *session) quit([]string) {
	ss.done = true
	if ss.state != stateTransaction {
		ss.ok(ss.srv.cfg.Hostname + " POP3 server signing off")
		return
	}
	ss.state = stateUpdate
	uids := ss.drop.deleted()
	if len(uids) > 0 {
		if err := ss.srv.drops.Delete(ss.ctx, ss.account, uids); err != nil {
			ss.internal("delete", err)
			return
		}
	}
	ss.srv.cfg.Log.Event("", "logout: user=%s, client=%s, deleted=%d", ss.account, ss.name, len(uids))
	// The update is done: the maildrop is free before the client hears
	// so, and may log in again at once.
	ss.srv.unlock(ss.account)
	ss.account = ""
	ss.ok(fmt.Sprintf("%s POP3 server signing off (%d messages deleted)", ss.srv.cfg.Hostname, len(uids)))
}
