package imapd

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// bufferedLiteralLimit is the largest literal the library reads into
// memory for an argument (its checkBufferedLiteral); only APPEND's message
// may be larger. It is also RFC 7888 §5's LITERAL- limit.
const bufferedLiteralLimit = 4096

// segmentSize bounds what the guard holds of one line; longer lines pass
// in pieces (the library refuses commands past 50 KiB).
const segmentSize = 4 << 10

// handshakeTimeout bounds a STARTTLS handshake.
const handshakeTimeout = 30 * time.Second

// errLiteralTooBig ends a session that sent a non-synchronizing literal
// over the limit.
var errLiteralTooBig = errors.New("imapd: non-synchronizing literal over the limit")

// guard is a connection as the library sees it. It reads the client's
// lines before the library does and:
//
//   - refuses a synchronizing literal over the limit with NO [TOOBIG]
//     before any "+" (RFC 9051 §4.3, RFC 7889), and closes the connection
//     with BYE on a non-synchronizing one over the limit, whose octets are
//     already on their way (RFC 7888 §4), so they never run as commands;
//   - does STARTTLS (RFC 9051 §6.2.1), dropping any plain text the client
//     sent after the command, so that the rest of the session, TLS
//     included, passes through it;
//   - answers CAPABILITY, and writes the greeting's, before login: they
//     depend on TLS and on the client's address (LOGINDISABLED, RFC 9051
//     §6.2.3), which the library does not know;
//   - bounds each write with Config.WriteTimeout instead of the library's
//     fixed deadlines, so a client that does not read is dropped.
type guard struct {
	srv  *Server
	raw  net.Conn // the TCP connection
	addr netip.Addr
	name string // "[192.0.2.1]:1234", for the logs

	authed atomic.Bool // set by the session at login
	hungUp atomic.Bool // the session reads no more commands

	// Read side: used by one reader at a time.
	br       *bufio.Reader
	out      []byte // the current segment, not yet read by the library
	buf      []byte // out's storage
	literal  int64  // literal octets still to pass through unread
	readErr  error
	lineOpen bool   // the last segment did not end its line
	inCmd    bool   // the next line continues a command (after a literal)
	cmd      string // the current command's name, upper case
	first    bool   // the current line is its command's first
	idle     bool   // the line after IDLE is its DONE
	tail     []byte // the end of the line so far, to find a literal marker
	// drop discards the rest of the current command: the guard refused
	// it, or the library answered it before reading all of it.
	drop bool
	// record holds a mailbox command's octets, for a reply that names
	// the fault in a name the library could not decode.
	record    []byte
	recording bool

	mu          sync.Mutex
	tls         bool
	pendingSync int64 // a synchronizing literal announced; -1 none
	accepted    bool  // a "+" was written since
	greeted     bool
	tag         string // the current command's tag
	answered    bool   // its tagged reply was written
	contReq     bool   // a "+" not for a literal: the next line is no command
	badDone     bool   // IDLE ended with a line other than DONE: its reply is BAD

	wmu     sync.Mutex
	conn    net.Conn // raw, or TLS over it; changed under wmu and mu
	pending []byte   // responses not yet written (see send)
	armed   bool     // a flush of pending is scheduled
	werr    error    // the first write error: every later write fails
}

// Untagged responses in the middle of a command wait up to coalesceDelay,
// or until coalesceSize octets are pending, for those after them: a FETCH
// of a whole mailbox then goes out in a few writes, not one per message
// (here a write costs more than formatting the response). A tagged
// response, a continuation request and the guard's own replies are
// written at once, with whatever waits before them.
const (
	coalesceDelay = time.Millisecond
	coalesceSize  = 32 << 10
)

func newGuard(srv *Server, raw net.Conn, implicitTLS bool) *guard {
	g := &guard{srv: srv, raw: raw, conn: raw, addr: clientAddr(raw),
		name: raw.RemoteAddr().String(), pendingSync: -1}
	if implicitTLS {
		g.conn = tls.Server(raw, srv.cfg.TLS)
		g.tls = true
	}
	g.br = bufio.NewReaderSize(g.conn, segmentSize)
	return g
}

// clientAddr is the connection's remote address, the zero address when it
// has none.
func clientAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

// isTLS reports whether the session runs under TLS.
func (g *guard) isTLS() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.tls
}

// loginAllowed reports whether credentials may be sent on this session:
// under TLS, from loopback, or anywhere when PlaintextLoopbackOnly is off
// (RFC 9051 §11.1; Dovecot's disable_plaintext_auth).
func (g *guard) loginAllowed() bool {
	return g.isTLS() || !g.srv.cfg.PlaintextLoopbackOnly || g.addr.IsLoopback()
}

// preauthCaps are the capabilities before login.
func (g *guard) preauthCaps() string {
	caps := "IMAP4rev1 IMAP4rev2 SASL-IR LITERAL+ ENABLE IDLE"
	if g.srv.cfg.TLS != nil && !g.isTLS() {
		caps += " STARTTLS"
	}
	if g.loginAllowed() {
		caps += " AUTH=PLAIN AUTH=LOGIN"
	} else {
		caps += " LOGINDISABLED"
	}
	return caps
}

// hangup writes BYE; the library then reads the end of the input.
func (g *guard) hangup(text string) {
	g.reply("* BYE " + text + "\r\n")
	g.hungUp.Store(true)
}

func (g *guard) Read(p []byte) (int, error) {
	for {
		if g.hungUp.Load() {
			return 0, io.EOF
		}
		if len(g.out) > 0 {
			n := copy(p, g.out)
			g.out = g.out[n:]
			return n, nil
		}
		if g.literal > 0 {
			if !g.drop && g.isAnswered() {
				g.drop = true
			}
			if g.drop {
				n, err := g.br.Discard(int(min(g.literal, segmentSize)))
				g.literal -= int64(n)
				if err != nil {
					return 0, err
				}
				continue
			}
			n, err := g.br.Read(p[:min(int64(len(p)), g.literal)])
			g.literal -= int64(n)
			g.keep(p[:n])
			return n, err
		}
		if g.readErr != nil {
			return 0, g.readErr
		}
		if err := g.next(); err != nil {
			return 0, err
		}
	}
}

// next reads the next segment of a line into out, or starts a literal
// the library accepted.
func (g *guard) next() error {
	g.mu.Lock()
	sync, accepted, contReq := g.pendingSync, g.accepted, g.contReq
	g.pendingSync, g.accepted = -1, false
	g.mu.Unlock()
	if sync >= 0 {
		if accepted {
			g.literal = sync
			return nil
		}
		g.inCmd = false // refused: the command is over
	}
	seg, err := g.br.ReadSlice('\n')
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
		if len(seg) == 0 {
			return err
		}
		g.readErr = err
	}
	if (g.inCmd || g.lineOpen) && !g.drop && g.isAnswered() {
		// The library answered the command before its end (a name it
		// could not decode, say): the rest must not run as a command.
		g.drop = true
	}
	startLine := !g.lineOpen
	if startLine {
		g.first = !g.inCmd
		g.tail = g.tail[:0]
		if g.first {
			g.drop = false
			g.mu.Lock()
			g.contReq = false
			g.mu.Unlock()
			if g.idle || contReq {
				// IDLE's DONE, or an AUTHENTICATE response.
				if g.idle {
					seg = g.done(seg)
				}
				g.idle, g.first = false, false
			} else if handled, err := g.command(seg); err != nil || handled && !g.drop {
				return err
			}
		}
	}
	if !g.drop {
		g.out = append(g.buf[:0], seg...)
		g.buf = g.out
		g.keep(seg)
	}
	g.lineOpen = !bytes.HasSuffix(seg, []byte("\n"))
	g.tail = append(g.tail, seg[max(0, len(seg)-32):]...)
	g.tail = g.tail[max(0, len(g.tail)-32):]
	if g.lineOpen {
		return nil
	}
	return g.endOfLine(seg)
}

// done returns the line the library gets for the one that ends IDLE:
// DONE whatever the client sent. The library (go-imap v2 beta.8) answers
// any other line at once, without waiting for the session's Idle to
// return, so the next command would run beside it; given DONE, it waits.
// A line that is not DONE (RFC 2177: the client sends DONE) turns the
// reply into BAD (see Write), and the rest of a long one is discarded.
func (g *guard) done(seg []byte) []byte {
	line := bytes.TrimSuffix(bytes.TrimSuffix(seg, []byte("\n")), []byte("\r"))
	if bytes.HasSuffix(seg, []byte("\n")) && bytes.EqualFold(line, []byte("DONE")) {
		return []byte("DONE\r\n")
	}
	for open := !bytes.HasSuffix(seg, []byte("\n")); open; {
		_, err := g.br.ReadSlice('\n')
		open = errors.Is(err, bufio.ErrBufferFull)
		if err != nil && !open {
			g.readErr = err
		}
	}
	g.mu.Lock()
	g.badDone = true
	g.mu.Unlock()
	return []byte("DONE\r\n")
}

// command looks at the first line of a command: the guard refuses a line
// that does not start with a tag and a command name, and answers STARTTLS
// and, before login, CAPABILITY itself.
func (g *guard) command(line []byte) (handled bool, err error) {
	tag, name, ok := commandStart(line)
	g.mu.Lock()
	g.tag, g.answered = tag, false
	g.mu.Unlock()
	g.cmd = name
	g.recording = mailboxCommands[name]
	g.record = g.record[:0]
	if !ok {
		return true, g.refuse(tag)
	}
	_, rest, _ := strings.Cut(strings.TrimRight(string(line), "\r\n"), " ")
	_, args, _ := strings.Cut(rest, " ")
	if strings.HasPrefix(name, "UID ") {
		_, args, _ = strings.Cut(args, " ")
	}
	// Only the line the library takes as IDLE (the tag, IDLE, CRLF) makes
	// the next line its DONE: a refused "IDLE\t" must leave the next
	// command alone.
	after := strings.ToUpper(string(line[min(len(tag)+1, len(line)):]))
	g.idle = name == "IDLE" && (after == "IDLE\r\n" || after == "IDLE\n") && g.authed.Load()
	if args != "" || !validTag(tag) || g.authed.Load() {
		return false, nil
	}
	switch name {
	case "CAPABILITY":
		return true, g.reply("* CAPABILITY " + g.preauthCaps() + "\r\n" + tag + " OK CAPABILITY completed\r\n")
	case "STARTTLS":
		if g.srv.cfg.TLS == nil {
			return false, nil
		}
		if g.isTLS() {
			return true, g.reply(tag + " BAD TLS is already active\r\n")
		}
		return true, g.startTLS(tag)
	}
	return false, nil
}

// commandStart parses what the library reads first (RFC 9051 §2.2.1):
// a tag and a command name, atoms separated by a space, and a second name
// after UID. Not ok when the library would fail there: it would drop the
// connection without a word.
func commandStart(line []byte) (tag, name string, ok bool) {
	tag, rest := atomPrefix(line)
	if tag == "" || len(rest) < 2 || rest[0] != ' ' || rest[1] == '\r' || rest[1] == '\n' {
		return tag, "", false
	}
	name, rest = atomPrefix(rest[1:])
	name = strings.ToUpper(name)
	if name == "UID" {
		var sub string
		if len(rest) >= 2 && rest[0] == ' ' {
			sub, _ = atomPrefix(rest[1:])
		}
		if sub == "" {
			return tag, name, false
		}
		name += " " + strings.ToUpper(sub)
	}
	return tag, name, name != ""
}

// atomPrefix splits b after its leading atom characters, as the library
// reads them (imapwire.IsAtomChar).
func atomPrefix(b []byte) (atom string, rest []byte) {
	i := 0
	for i < len(b) && isAtomChar(b[i]) {
		i++
	}
	return string(b[:i]), b[i:]
}

func isAtomChar(c byte) bool {
	return c > ' ' && c != 0x7f && !(c >= 0x80 && c < 0xa0) && strings.IndexByte(`(){%*"\]`, c) < 0
}

// refuse answers a line without a tag and a command name with BAD,
// untagged when there is no usable tag, and drops it. Before login it
// also ends the session, as the library does for an unknown command: a
// client that sends garbage first may be another protocol's.
func (g *guard) refuse(tag string) error {
	g.drop = true
	if !validTag(tag) {
		tag = "*"
	}
	err := g.reply(tag + " BAD [CLIENTBUG] Syntax error: a command is a tag, a space and a command name\r\n")
	if err == nil && !g.authed.Load() {
		g.hangup("Syntax error before login")
	}
	return err
}

// isAnswered reports whether the library wrote the current command's
// tagged reply.
func (g *guard) isAnswered() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.answered
}

// maxRecord bounds what is kept of a mailbox command's octets.
const maxRecord = 8 << 10

// keep records octets of a mailbox command.
func (g *guard) keep(b []byte) {
	if !g.recording {
		return
	}
	if len(g.record)+len(b) > maxRecord {
		g.recording, g.record = false, g.record[:0]
		return
	}
	g.record = append(g.record, b...)
}

// mailboxCommands take mailbox names or LIST patterns, which the library
// decodes as modified UTF-7 or UTF-8 (RFC 3501 §5.1.3, RFC 9051 §5.1).
var mailboxCommands = map[string]bool{"CREATE": true, "DELETE": true, "RENAME": true,
	"SUBSCRIBE": true, "UNSUBSCRIBE": true, "SELECT": true, "EXAMINE": true, "STATUS": true,
	"APPEND": true, "COPY": true, "MOVE": true, "UID COPY": true, "UID MOVE": true,
	"LIST": true, "LSUB": true}

// libInternalError is the library's reply to an error that is not an
// *imap.Error: one of its own, such as a name it cannot decode, for the
// session's errors always are.
const libInternalError = "NO [SERVERBUG] Internal server error\r\n"

// badName says what is wrong with a name in the current mailbox
// command, "" when all are fine or the command was not recorded.
func (g *guard) badName() string {
	if !g.recording {
		return ""
	}
	for _, s := range commandStrings(g.record) {
		if why := nameFault(s); why != "" {
			return why
		}
	}
	return ""
}

// commandStrings returns the quoted strings and literals of a command
// (RFC 9051 §4.3), unquoted.
func commandStrings(cmd []byte) []string {
	var out []string
	for i := 0; i < len(cmd); i++ {
		switch cmd[i] {
		case '"':
			var sb strings.Builder
			for i++; i < len(cmd) && cmd[i] != '"'; i++ {
				if cmd[i] == '\\' && i+1 < len(cmd) {
					i++
				}
				sb.WriteByte(cmd[i])
			}
			out = append(out, sb.String())
		case '{':
			end := bytes.Index(cmd[i:], []byte("}\r\n"))
			if end < 0 {
				return out
			}
			size, _, ok := literalMarker(cmd[i : i+end+3])
			start := i + end + 3
			if !ok || size > int64(len(cmd)-start) {
				return out
			}
			out = append(out, string(cmd[start:start+int(size)]))
			i = start + int(size) - 1
		}
	}
	return out
}

// nameFault says why the library refuses a name: the octets its modified
// UTF-7 decoder takes are printable US-ASCII and UTF-8 (RFC 3501 §5.1.3,
// RFC 9051 §5.1).
func nameFault(s string) string {
	if !utf8.ValidString(s) {
		return "not UTF-8"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return "control character"
		}
	}
	if strings.Contains(s, "&") {
		return "malformed modified UTF-7 (&...-)"
	}
	return ""
}

// validTag reports a tag the guard may answer (RFC 9051 §9 tag: atom
// characters but "+").
func validTag(tag string) bool {
	if tag == "" {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]+`, c) >= 0 {
			return false
		}
	}
	return true
}

// startTLS is STARTTLS (RFC 9051 §6.2.1). Plain text the client sent
// after the command is dropped: it must not count as protected.
func (g *guard) startTLS(tag string) error {
	if err := g.reply(tag + " OK Begin TLS negotiation now\r\n"); err != nil {
		return err
	}
	g.br.Discard(g.br.Buffered())
	tc := tls.Server(g.raw, g.srv.cfg.TLS)
	g.raw.SetDeadline(time.Now().Add(handshakeTimeout))
	err := tc.Handshake()
	g.raw.SetDeadline(time.Time{})
	if err != nil {
		g.srv.cfg.Debug.Info("imapd: TLS handshake failed", "client", g.name, "err", err)
		return err
	}
	g.wmu.Lock()
	g.mu.Lock()
	g.conn, g.tls = tc, true
	g.mu.Unlock()
	g.wmu.Unlock()
	g.br.Reset(tc)
	return nil
}

// endOfLine looks for a literal announced at the end of the line just
// read (RFC 9051 §4.3: "{" number ["+"] "}" CRLF, with "~" for literal8).
func (g *guard) endOfLine(seg []byte) error {
	size, nonSync, ok := literalMarker(g.tail)
	if !ok {
		g.inCmd, g.drop = false, false
		return nil
	}
	limit := int64(bufferedLiteralLimit)
	if g.cmd == "APPEND" && !(g.first && appendMailboxLiteral(g.out)) {
		limit = g.srv.cfg.AppendLimit
	}
	switch {
	case size > limit && nonSync:
		g.out = g.out[:0]
		g.srv.cfg.Debug.Info("imapd: literal over the limit", "client", g.name, "size", size, "limit", limit)
		g.reply("* BYE [TOOBIG] Literal of " + strconv.FormatInt(size, 10) + " octets over the limit of " +
			strconv.FormatInt(limit, 10) + "\r\n")
		g.readErr = errLiteralTooBig
		return g.readErr
	case size > limit && g.first:
		tag, _, _ := strings.Cut(string(g.out), " ")
		g.out = g.out[:0]
		g.inCmd = false
		if !validTag(tag) {
			tag = "*"
		}
		return g.reply(tag + " NO [TOOBIG] Literal of " + strconv.FormatInt(size, 10) +
			" octets over the limit of " + strconv.FormatInt(limit, 10) + "\r\n")
	case nonSync:
		g.literal = size
		g.inCmd = true
	case g.drop:
		// No "+" comes: the client sends no literal, the command is over.
		g.inCmd, g.drop = false, false
	default:
		g.mu.Lock()
		g.pendingSync, g.accepted = size, false
		g.mu.Unlock()
		g.inCmd = true
	}
	return nil
}

// appendMailboxLiteral reports an APPEND first line whose only argument
// is a literal: the mailbox name, not the message.
func appendMailboxLiteral(line []byte) bool {
	f := strings.Fields(string(line))
	return len(f) == 3 && strings.HasPrefix(f[2], "{")
}

// literalMarker parses a line end "{N}\r\n" or "{N+}\r\n". A number too
// large to parse counts as the largest.
func literalMarker(tail []byte) (size int64, nonSync, ok bool) {
	s, found := bytes.CutSuffix(tail, []byte("}\r\n"))
	if !found {
		return 0, false, false
	}
	s, nonSync = bytes.CutSuffix(s, []byte("+"))
	i := bytes.LastIndexByte(s, '{')
	if i < 0 || i == len(s)-1 {
		return 0, false, false
	}
	digits := s[i+1:]
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false, false
		}
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		n = 1<<63 - 1
	}
	return n, nonSync, true
}

// reply writes the guard's own response.
func (g *guard) reply(s string) error {
	_, err := g.write([]byte(s))
	return err
}

func (g *guard) Write(p []byte) (int, error) {
	n := len(p) // what the library wrote, whatever goes out instead
	g.mu.Lock()
	if g.pendingSync >= 0 && bytes.HasPrefix(p, []byte("+")) {
		g.accepted = true
	}
	greet := !g.greeted
	g.greeted = true
	if bytes.HasPrefix(p, []byte("+")) && g.pendingSync < 0 {
		g.contReq = true
	}
	tag := g.tag
	tagged := tag != "" && bytes.HasPrefix(p, []byte(tag+" ")) && bytes.HasSuffix(p, []byte("\r\n"))
	if tagged {
		g.answered = true
	}
	if tagged && g.badDone {
		g.badDone = false
		p = []byte(tag + " BAD Expected DONE to end IDLE\r\n")
	}
	g.mu.Unlock()
	if tagged && string(p[len(tag)+1:]) == libInternalError {
		if why := g.badName(); why != "" {
			_, err := g.write([]byte(tag + " NO [CANNOT] Invalid mailbox name: " + why + "\r\n"))
			if err != nil {
				return 0, err
			}
			return n, nil
		}
	}
	if greet && bytes.HasPrefix(p, []byte("* OK [CAPABILITY ")) {
		_, err := g.write([]byte("* OK [CAPABILITY " + g.preauthCaps() + "] " +
			g.srv.cfg.Hostname + " IMAP facteur ready\r\n"))
		if err != nil {
			return 0, err
		}
		return n, nil
	}
	now := bytes.HasPrefix(p, []byte("+")) || endsTagged(p, tag)
	if _, err := g.send(oneLiteralCap(p), now); err != nil {
		return 0, err
	}
	return n, nil
}

// oneLiteralCap takes LITERAL- out of a capability list that has LITERAL+:
// the library lists both once logged in, and RFC 7888 §5 says a server
// must not advertise both (LITERAL+ allows all that LITERAL- does).
// Only a write's first line is looked at (CAPABILITY and the login's OK
// [CAPABILITY ...] are one line each), not the message bodies that FETCH
// writes through here.
func oneLiteralCap(p []byte) []byte {
	first := p
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		first = p[:i]
	}
	if !bytes.Contains(first, []byte("CAPABILITY ")) || !bytes.Contains(first, []byte(" LITERAL+")) {
		return p
	}
	return bytes.Replace(p, []byte(" LITERAL-"), nil, 1)
}

// endsTagged reports whether the last line of p is the tagged response
// to the command tagged tag.
func endsTagged(p []byte, tag string) bool {
	if tag == "" || !bytes.HasSuffix(p, []byte("\r\n")) {
		return false
	}
	last := p[bytes.LastIndex(p[:len(p)-2], []byte("\n"))+1:]
	return bytes.HasPrefix(last, []byte(tag+" "))
}

// write sends p at once, after whatever is pending.
func (g *guard) write(p []byte) (int, error) {
	return g.send(p, true)
}

// send queues p, and writes what is queued when now is set or enough is
// queued; otherwise a flush within coalesceDelay is scheduled.
func (g *guard) send(p []byte, now bool) (int, error) {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	if g.werr != nil {
		return 0, g.werr
	}
	g.pending = append(g.pending, p...)
	if now || len(g.pending) >= coalesceSize {
		if err := g.flushLocked(); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if !g.armed {
		g.armed = true
		time.AfterFunc(coalesceDelay, func() {
			g.wmu.Lock()
			defer g.wmu.Unlock()
			g.armed = false
			g.flushLocked()
		})
	}
	return len(p), nil
}

// flushLocked writes what is pending, with a deadline of WriteTimeout.
// The caller holds wmu.
func (g *guard) flushLocked() error {
	if len(g.pending) == 0 || g.werr != nil {
		return g.werr
	}
	g.raw.SetWriteDeadline(time.Now().Add(g.srv.cfg.WriteTimeout))
	_, err := g.conn.Write(g.pending)
	g.pending = g.pending[:0]
	if cap(g.pending) > 4<<10 {
		g.pending = nil // an idle session keeps no large buffer
	}
	if err != nil {
		g.werr = err
	}
	return err
}

// Close writes what is pending (a BYE, say), closes the connection, and
// the server forgets it.
func (g *guard) Close() error {
	g.wmu.Lock()
	g.flushLocked()
	g.wmu.Unlock()
	g.srv.forget(g)
	return g.raw.Close()
}

func (g *guard) LocalAddr() net.Addr  { return g.raw.LocalAddr() }
func (g *guard) RemoteAddr() net.Addr { return g.raw.RemoteAddr() }

// SetDeadline sets the read deadline only: writes have the guard's own.
func (g *guard) SetDeadline(t time.Time) error { return g.raw.SetReadDeadline(t) }

func (g *guard) SetReadDeadline(t time.Time) error { return g.raw.SetReadDeadline(t) }

// SetWriteDeadline is ignored: each write gets WriteTimeout.
func (g *guard) SetWriteDeadline(time.Time) error { return nil }
