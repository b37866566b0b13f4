package smtpd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"facteur/internal/envelope"
	"facteur/internal/smtp"
)

// writeBufferSize is small: replies are short, and an idle session keeps
// its buffers.
const writeBufferSize = 1024

// session is one SMTP connection.
type session struct {
	srv    *Server
	raw    net.Conn // the TCP connection, under TLS when there is TLS
	conn   net.Conn // what r and w use: raw or TLS, with the timeouts
	port   Port
	tls    bool   // TLS is on: after STARTTLS, or from the start on submissions
	mech   string // the SASL mechanism that authenticated the client
	r      *smtp.Reader
	w      *bufio.Writer
	ctx    context.Context
	cancel context.CancelFunc

	client  envelope.Client
	name    string // "mail.example.org[192.0.2.1]" or "unknown[192.0.2.1]", for the log
	greeted bool   // HELO or EHLO seen
	ehlo    bool   // enhanced status codes in replies
	tx      *transaction
	errors  int
	done    bool   // QUIT, or a reply that closes
	refused bool   // the reply that closed was a refusal: linger
	failed  bool   // the current command was refused
	last    string // verb of the last command, for "lost connection after"
	counts  counters

	idle   atomic.Bool // waiting for a command outside a transaction
	kicked atomic.Bool // Shutdown asked an idle session to stop
	hard   atomic.Bool // Shutdown's context is done: stop now
}

// run is a session from greeting to close.
func (s *Server) run(ctx context.Context, conn net.Conn, port Port) {
	ctx, cancel := context.WithCancel(ctx)
	ss := &session{srv: s, cancel: cancel, ctx: ctx, raw: conn, port: port}
	ss.conn = timeoutConn{Conn: conn, ss: ss}
	ss.r = smtp.NewReader(ss.conn)
	ss.w = bufio.NewWriterSize(ss.conn, writeBufferSize)
	ss.client.Addr = remoteAddr(conn)
	defer cancel()
	defer conn.Close()
	if !s.register(ss) {
		refuse(conn, s.cfg.Timeout, smtp.NewReply(421, "4.3.2", s.cfg.Hostname+" Service shutting down"))
		return
	}
	defer s.unregister(ss)
	ss.name = clientName("", ss.client.Addr)
	defer func() {
		s.cfg.Log.Event("", "disconnect from %s%s", ss.name, ss.counts.String())
	}()
	defer ss.recoverPanic()
	// Postfix names the client before the greeting, for every log line.
	ss.client.Name = s.peerName(ctx, ss.client.Addr)
	ss.name = clientName(ss.client.Name, ss.client.Addr)
	s.cfg.Log.Event("", "connect from %s", ss.name)
	// A session without a network address is ServeConn's: a local program
	// (sendmail -bs), trusted as mynetworks is.
	ss.client.Local = !ss.client.Addr.IsValid() || s.policy.ClientTrusted(ss.client.Addr)
	if port == PortSubmissions && !ss.handshake() {
		return
	}
	ss.reply(&smtp.Reply{Code: 220, Lines: []string{s.cfg.Banner}})
	ss.loop()
	if ss.tx != nil {
		ss.reset()
	}
	ss.w.Flush()
	ss.linger(conn)
}

// Bounds of the lingering close after a refusal.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 1 << 20
)

// linger ends a session that a refusal closed (421, 554) while the client
// may still be sending pipelined commands (RFC 2920 §3.1). Closing with
// its input unread would make the kernel reset the connection, and the
// client could lose the replies it has not read yet, the 421 among them;
// so the write side is shut first and the input drained for a moment.
// The session counts as idle meanwhile, so that Shutdown cuts it short.
func (ss *session) linger(conn net.Conn) {
	cw, ok := conn.(interface{ CloseWrite() error })
	if !ss.refused || !ok || cw.CloseWrite() != nil {
		return
	}
	ss.idle.Store(true)
	conn.SetReadDeadline(time.Now().Add(min(lingerTime, ss.srv.cfg.Timeout)))
	// Shutdown sets closing before it kicks idle sessions: either it is
	// seen here or its kick comes after our deadline and ends the read.
	if ss.srv.closing.Load() {
		return
	}
	io.Copy(io.Discard, io.LimitReader(conn, lingerBytes))
}

// recoverPanic turns a panic in a session into a log line and a closed
// connection (STYLE 8); the server counts them so tests can fail on one.
func (ss *session) recoverPanic() {
	v := recover()
	if v == nil {
		return
	}
	ss.srv.panics.Add(1)
	ss.srv.cfg.Log.Warn("panic in session with %s: %v", ss.name, v)
	ss.srv.cfg.Debug.Error("smtpd: session panic", "client", ss.name, "panic", v, "stack", string(debug.Stack()))
	if ss.tx != nil && ss.tx.msg != nil {
		ss.tx.msg.Abort()
	}
	// The replies already given stand; the client learns why we stop.
	ss.replyClose(smtp.NewReply(421, "4.3.0", ss.srv.cfg.Hostname+" Error: internal error"))
}

// loop reads and runs commands until the session ends.
func (ss *session) loop() {
	for !ss.done {
		if ss.errors >= ss.srv.cfg.HardErrorLimit {
			// RFC 5321 §4.2.3: "421 <domain> ...", as Postfix does.
			ss.replyClose(smtp.NewReply(421, "4.7.0", ss.srv.cfg.Hostname+" Error: too many errors"))
			return
		}
		if ss.r.Buffered() == 0 {
			// RFC 2920 §3.1: the client waits for these replies.
			if ss.w.Flush() != nil {
				return
			}
		}
		ss.idle.Store(ss.tx == nil)
		if ss.tx == nil && ss.srv.closing.Load() {
			ss.replyClose(smtp.NewReply(421, "4.3.2", ss.srv.cfg.Hostname+" Service shutting down"))
			return
		}
		line, err := ss.r.ReadLine(maxAuthCommand)
		ss.idle.Store(false)
		if err == nil && len(line) > smtp.MaxCommandLine && !isAuth(line) {
			err = smtp.ErrLineTooLong // only AUTH may be that long
		}
		if err != nil && !ss.lineError(line, err) {
			return
		}
		if err == nil || !errors.Is(err, smtp.ErrLineTooLong) {
			ss.command(string(line))
		}
	}
}

// maxAuthCommand is how long an AUTH command line may be: RFC 4954 §4
// raises the line limit to 12288 octets for the AUTH command with its
// initial response, and for the responses after it.
const maxAuthCommand = len("AUTH ") + 20 + 1 + maxSASLLine

// isAuth reports whether line is an AUTH command.
func isAuth(line []byte) bool {
	return len(line) >= 5 && strings.EqualFold(string(line[:5]), "AUTH ")
}

// lineError answers a failed command read; false ends the session.
func (ss *session) lineError(line []byte, err error) bool {
	switch {
	case errors.Is(err, smtp.ErrLineTooLong):
		ss.reply(smtp.NewReply(500, "5.5.2", "Error: line too long"))
		return true
	case errors.Is(err, smtp.ErrBareNewline):
		if ss.srv.cfg.ForbidBareNewline {
			ss.replyClose(bareNewlineReply())
			return false
		}
		return true // Postfix's default: take the line as it is
	}
	ss.readFailed(err)
	return false
}

func bareNewlineReply() *smtp.Reply {
	return smtp.NewReply(554, "5.5.2", "Error: bare <LF> received")
}

// readFailed ends the session after a read error: a timeout, Shutdown, or
// a client gone.
func (ss *session) readFailed(err error) {
	switch {
	case ss.hard.Load() || ss.kicked.Load():
		ss.replyClose(smtp.NewReply(421, "4.3.2", ss.srv.cfg.Hostname+" Service shutting down"))
	case errors.Is(err, os.ErrDeadlineExceeded):
		ss.srv.cfg.Log.Event("", "timeout after %s from %s", ss.lastVerb(), ss.name)
		ss.replyClose(smtp.NewReply(421, "4.4.2", ss.srv.cfg.Hostname+" Error: timeout exceeded"))
	default:
		if !errors.Is(err, io.EOF) || ss.last != "QUIT" {
			ss.srv.cfg.Log.Event("", "lost connection after %s from %s", ss.lastVerb(), ss.name)
		}
		ss.done = true
	}
}

func (ss *session) lastVerb() string {
	if ss.last == "" {
		return "CONNECT"
	}
	return ss.last
}

// reply writes r, counting refusals toward HardErrorLimit. Replies carry
// an enhanced status code after EHLO (RFC 2034 §3).
func (ss *session) reply(r *smtp.Reply) {
	if r.Code >= 400 {
		ss.errors++
	}
	ss.replyUncounted(r)
}

// replyUncounted writes r without counting it toward HardErrorLimit.
func (ss *session) replyUncounted(r *smtp.Reply) {
	if r.Code >= 400 {
		ss.failed = true
	}
	ss.write(r)
}

func (ss *session) write(r *smtp.Reply) {
	if err := smtp.WriteReply(ss.w, r, ss.ehlo); err != nil {
		ss.done = true
	}
}

// replyClose writes r, flushes it and ends the session.
func (ss *session) replyClose(r *smtp.Reply) {
	ss.refused = r.Code >= 400
	ss.write(r)
	ss.w.Flush()
	ss.done = true
}

// flush sends the pending replies now: before a reply the client waits
// for in the middle of a command (RFC 2920 §3.1: 354).
func (ss *session) flush() bool {
	if err := ss.w.Flush(); err != nil {
		ss.done = true
		return false
	}
	return true
}

// command dispatches one command line.
func (ss *session) command(line string) {
	cmd, err := smtp.ParseCommand(line)
	if err != nil {
		ss.counts.add("unknown", false)
		ss.reply(smtp.NewReply(500, "5.5.2", "Error: command not recognized"))
		return
	}
	h := handler(cmd.Verb)
	if h == nil {
		ss.counts.add("unknown", false)
		ss.reply(smtp.NewReply(500, "5.5.2", "Error: command not recognized"))
		return
	}
	ss.last = cmd.Verb
	ss.failed = false
	h(ss, cmd.Arg)
	ss.counts.add(strings.ToLower(cmd.Verb), !ss.failed)
}

// handler returns the handler of verb, nil for an unknown one.
func handler(verb string) func(*session, string) {
	switch verb {
	case "HELO":
		return (*session).helo
	case "EHLO":
		return (*session).ehloCmd
	case "MAIL":
		return (*session).mail
	case "RCPT":
		return (*session).rcpt
	case "DATA":
		return (*session).data
	case "BDAT":
		return (*session).bdat
	case "RSET":
		return (*session).rset
	case "NOOP":
		return (*session).noop
	case "QUIT":
		return (*session).quit
	case "VRFY":
		return (*session).vrfy
	case "EXPN":
		return (*session).expn
	case "HELP":
		return (*session).help
	case "STARTTLS":
		return (*session).starttls
	case "AUTH":
		return (*session).auth
	case "ETRN", "TURN", "ATRN", "SEND", "SOML", "SAML", "XCLIENT", "XFORWARD":
		return (*session).notImplemented
	}
	return nil
}

// containsCtl reports CR, LF or NUL, which never go further than here.
func containsCtl(s string) bool { return strings.ContainsAny(s, "\r\n\x00") }

// counters are Postfix's per-command tallies for the disconnect line.
type counters struct {
	ok, total [len(counterNames)]int
}

var counterNames = [...]string{"helo", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "bdat", "rset", "noop", "vrfy", "expn", "help", "quit", "unknown"}

// add counts a command; one without a counter of its own counts as
// "unknown", so that commands= stays the sum of them all.
func (c *counters) add(name string, ok bool) {
	i := slices.Index(counterNames[:], name)
	if i < 0 {
		i = len(counterNames) - 1
	}
	c.total[i]++
	if ok {
		c.ok[i]++
	}
}

// String formats " ehlo=1 mail=1 rcpt=0/1 ... commands=2/3" as Postfix
// does: ok/total when some failed, ok alone otherwise.
func (c *counters) String() string {
	var b strings.Builder
	var ok, total int
	for i, n := range counterNames {
		if c.total[i] == 0 {
			continue
		}
		ok += c.ok[i]
		total += c.total[i]
		b.WriteString(" " + n + "=" + ratio(c.ok[i], c.total[i]))
	}
	b.WriteString(" commands=" + ratio(ok, total))
	return b.String()
}

func ratio(ok, total int) string {
	if ok == total {
		return fmt.Sprint(ok)
	}
	return fmt.Sprintf("%d/%d", ok, total)
}

// kickIfIdle interrupts a session that waits for a command outside a
// transaction; it then answers 421 4.3.2.
func (ss *session) kickIfIdle() {
	if ss.idle.Load() {
		ss.kick(false)
	}
}

// kick interrupts the session's read; hard also cancels its context, for
// a session in a transaction once Shutdown's context is done.
func (ss *session) kick(hard bool) {
	if hard {
		ss.hard.Store(true)
		ss.cancel()
	}
	ss.kicked.Store(true)
	ss.raw.SetReadDeadline(time.Now())
}
