package pop3d

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"facteur/internal/smtp"
)

// maildrop is the listing a session took at login: message numbers are
// fixed for the session (RFC 1939 §4), and deletions are marks until QUIT.
type maildrop struct {
	validity uint32
	msgs     []Message
	gone     []bool // marked deleted
	left     int    // messages not marked
	size     int64  // their octets
}

func newMaildrop(validity uint32, msgs []Message) *maildrop {
	d := &maildrop{validity: validity, msgs: msgs, gone: make([]bool, len(msgs)), left: len(msgs)}
	for _, m := range msgs {
		d.size += m.Size
	}
	return d
}

// deleted returns the UIDs marked deleted.
func (d *maildrop) deleted() []uint32 {
	var uids []uint32
	for i, g := range d.gone {
		if g {
			uids = append(uids, d.msgs[i].UID)
		}
	}
	return uids
}

// uidl is a message's unique-id (RFC 1939 §7: 1 to 70 characters in
// 0x21..0x7E): UIDVALIDITY and UID, never reused for another message.
func (d *maildrop) uidl(i int) string {
	return fmt.Sprintf("%d.%d", d.validity, d.msgs[i].UID)
}

// message finds the message an argument names, answering -ERR when there
// is none or it is marked deleted; i is its index.
func (ss *session) message(arg string) (i int, ok bool) {
	n, ok := parseMsgNum(arg)
	switch {
	case !ok:
		ss.bad("invalid message number")
	case n > len(ss.drop.msgs):
		ss.fail("", "no such message")
	case ss.drop.gone[n-1]:
		ss.fail("", "message "+arg+" already deleted")
	default:
		return n - 1, true
	}
	return 0, false
}

// stat is RFC 1939 §5 STAT.
func (ss *session) stat(args []string) {
	if len(args) != 0 {
		ss.bad("STAT takes no argument")
		return
	}
	ss.ok(fmt.Sprintf("%d %d", ss.drop.left, ss.drop.size))
}

// list is RFC 1939 §5 LIST: "n size" lines.
func (ss *session) list(args []string) {
	ss.scanListing(args, "LIST", func(i int) string { return strconv.FormatInt(ss.drop.msgs[i].Size, 10) })
}

// uidl is RFC 1939 §7 UIDL: "n unique-id" lines.
func (ss *session) uidl(args []string) {
	ss.scanListing(args, "UIDL", ss.drop.uidl)
}

// scanListing answers LIST and UIDL: one message with an argument, every
// message not marked deleted, as a multi-line reply, without.
func (ss *session) scanListing(args []string, name string, value func(i int) string) {
	switch len(args) {
	case 0:
		ss.ok(fmt.Sprintf("%d messages (%d octets)", ss.drop.left, ss.drop.size))
		for i := range ss.drop.msgs {
			if !ss.drop.gone[i] {
				ss.w.WriteString(strconv.Itoa(i+1) + " " + value(i) + "\r\n")
			}
		}
		ss.w.WriteString(".\r\n")
	case 1:
		if i, ok := ss.message(args[0]); ok {
			ss.ok(strconv.Itoa(i+1) + " " + value(i))
		}
	default:
		ss.bad(name + " takes at most one argument")
	}
}

// retr is RFC 1939 §5 RETR.
func (ss *session) retr(args []string) {
	if len(args) != 1 {
		ss.bad("RETR takes one argument")
		return
	}
	if i, ok := ss.message(args[0]); ok {
		ss.send(i, -1)
	}
}

// top is RFC 1939 §7 TOP: the header, the blank line and n lines of body.
func (ss *session) top(args []string) {
	if len(args) != 2 {
		ss.bad("TOP takes a message number and a line count")
		return
	}
	i, ok := ss.message(args[0])
	if !ok {
		return
	}
	n, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil || n < 0 || args[1][0] == '+' {
		ss.bad("invalid line count")
		return
	}
	ss.send(i, n)
}

// send writes message i dot-stuffed, whole (lines < 0) or its header and
// that many body lines. A message that cannot be opened gets -ERR; one
// that fails in the middle ends the session, since the reply cannot be
// taken back.
func (ss *session) send(i int, lines int64) {
	m := ss.drop.msgs[i]
	rc, err := ss.srv.drops.Open(ss.ctx, ss.account, m)
	if err != nil {
		ss.internal("open", err)
		return
	}
	defer rc.Close()
	ss.ok(strconv.FormatInt(m.Size, 10) + " octets")
	dw := smtp.NewDotWriter(ss.w)
	var w io.Writer = dw
	if lines >= 0 {
		w = &topWriter{w: dw, lines: lines}
	}
	if ss.copyBuf == nil {
		ss.copyBuf = make([]byte, 8<<10)
	}
	if _, err := io.CopyBuffer(w, rc, ss.copyBuf); err != nil && !errors.Is(err, errTopDone) {
		if dw.Err() == nil {
			ss.srv.cfg.Debug.Warn("pop3d: reading message failed", "client", ss.name, "uid", m.UID, "err", err)
		}
		ss.done = true
		return
	}
	if dw.Close() != nil {
		ss.done = true
	}
}

// errTopDone stops the copy once TOP has sent its lines.
var errTopDone = errors.New("top: done")

// topWriter passes the header, the blank line after it and lines body
// lines, then stops with errTopDone.
type topWriter struct {
	w     io.Writer
	lines int64
	body  bool // past the blank line
	mid   bool // inside a line, not at its start
}

// done reports that everything TOP sends has been passed.
func (t *topWriter) done() bool { return t.body && t.lines == 0 && !t.mid }

func (t *topWriter) Write(p []byte) (int, error) {
	for k, c := range p {
		if t.done() {
			if _, err := t.w.Write(p[:k]); err != nil {
				return 0, err
			}
			return k, errTopDone
		}
		switch {
		case c == '\r':
		case c != '\n':
			t.mid = true
		case t.body:
			t.lines--
			t.mid = false
		case !t.mid:
			t.body = true // the empty line that ends the header
		default:
			t.mid = false
		}
	}
	if t.done() {
		if _, err := t.w.Write(p); err != nil {
			return 0, err
		}
		return len(p), errTopDone
	}
	return t.w.Write(p)
}

// dele is RFC 1939 §5 DELE: a mark, undone by RSET, applied at QUIT.
func (ss *session) dele(args []string) {
	if len(args) != 1 {
		ss.bad("DELE takes one argument")
		return
	}
	if i, ok := ss.message(args[0]); ok {
		ss.drop.gone[i] = true
		ss.drop.left--
		ss.drop.size -= ss.drop.msgs[i].Size
		ss.ok("message " + args[0] + " deleted")
	}
}

// rset is RFC 1939 §5 RSET: every mark is removed.
func (ss *session) rset(args []string) {
	if len(args) != 0 {
		ss.bad("RSET takes no argument")
		return
	}
	for i := range ss.drop.gone {
		ss.drop.gone[i] = false
	}
	ss.drop.left, ss.drop.size = len(ss.drop.msgs), 0
	for _, m := range ss.drop.msgs {
		ss.drop.size += m.Size
	}
	ss.ok(fmt.Sprintf("maildrop has %d messages (%d octets)", ss.drop.left, ss.drop.size))
}
