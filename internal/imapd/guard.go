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
)

// bufferedLiteralLimit is the largest literal the library reads into
// memory for an argument (its checkBufferedLiteral); only APPEND's message
// may be larger. It is also RFC 7888 §5's LITERAL- limit.
const bufferedLiteralLimit = 4096

// segmentSize bounds what the guard holds of one line; longer lines pass
// in pieces (the library refuses commands past 50 KiB).
const segmentSize = 16 << 10

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

	mu          sync.Mutex
	tls         bool
	pendingSync int64 // a synchronizing literal announced; -1 none
	accepted    bool  // a "+" was written since
	greeted     bool

	wmu  sync.Mutex
	conn net.Conn // raw, or TLS over it; changed under wmu and mu
}

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
	if g.hungUp.Load() {
		return 0, io.EOF
	}
	for {
		if len(g.out) > 0 {
			n := copy(p, g.out)
			g.out = g.out[n:]
			return n, nil
		}
		if g.literal > 0 {
			n, err := g.br.Read(p[:min(int64(len(p)), g.literal)])
			g.literal -= int64(n)
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
	sync, accepted := g.pendingSync, g.accepted
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
	startLine := !g.lineOpen
	if startLine {
		g.first = !g.inCmd
		g.tail = g.tail[:0]
		if g.first {
			if g.idle {
				g.idle, g.first = false, false
			} else if handled, err := g.command(seg); handled || err != nil {
				return err
			}
		}
	}
	g.out = append(g.buf[:0], seg...)
	g.buf = g.out
	g.lineOpen = !bytes.HasSuffix(seg, []byte("\n"))
	g.tail = append(g.tail, seg[max(0, len(seg)-32):]...)
	g.tail = g.tail[max(0, len(g.tail)-32):]
	if g.lineOpen {
		return nil
	}
	return g.endOfLine(seg)
}

// command looks at the first line of a command: the guard answers
// STARTTLS and, before login, CAPABILITY itself.
func (g *guard) command(line []byte) (handled bool, err error) {
	tag, rest, _ := strings.Cut(strings.TrimRight(string(line), "\r\n"), " ")
	name, args, _ := strings.Cut(rest, " ")
	name = strings.ToUpper(name)
	if name == "UID" {
		sub, _, _ := strings.Cut(args, " ")
		name += " " + strings.ToUpper(sub)
	}
	g.cmd = name
	g.idle = name == "IDLE" && args == "" && g.authed.Load()
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
		g.inCmd = false
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
	g.mu.Lock()
	if g.pendingSync >= 0 && bytes.HasPrefix(p, []byte("+")) {
		g.accepted = true
	}
	greet := !g.greeted
	g.greeted = true
	g.mu.Unlock()
	if greet && bytes.HasPrefix(p, []byte("* OK [CAPABILITY ")) {
		_, err := g.write([]byte("* OK [CAPABILITY " + g.preauthCaps() + "] " +
			g.srv.cfg.Hostname + " IMAP facteur ready\r\n"))
		if err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return g.write(p)
}

// write sends p with a deadline of WriteTimeout.
func (g *guard) write(p []byte) (int, error) {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	g.raw.SetWriteDeadline(time.Now().Add(g.srv.cfg.WriteTimeout))
	return g.conn.Write(p)
}

// Close closes the connection; the server forgets it.
func (g *guard) Close() error {
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
