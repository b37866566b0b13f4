package smtpd

import (
	"io"
	"strconv"
	"strings"

	"facteur/internal/smtp"
)

// maxChunk bounds one BDAT size, so that the count parses as an int64.
const maxChunk = 1 << 60

// bdat receives one chunk (RFC 3030 §2). Chunks of a transaction go to
// one Message; LAST commits it. A chunk that cannot be taken is read and
// dropped, so that the session stays in step with a pipelining client.
func (ss *session) bdat(arg string) {
	size, last, ok := parseBDAT(arg)
	if !ok {
		ss.reply(smtp.NewReply(501, "5.5.4", "Syntax: BDAT count [LAST]"))
		return
	}
	r := ss.readyForData()
	if r == nil && ss.tx.msg == nil {
		var msg Message
		if msg, r = ss.begin(); r == nil {
			ss.tx.msg, ss.tx.chunked = msg, true
		}
	}
	if r != nil {
		if err := ss.r.ReadChunk(io.Discard, size); err != nil {
			ss.readFailed(err)
			return
		}
		ss.reply(r)
		return
	}
	ss.chunk(size, last)
}

// chunk reads one chunk into the transaction's message.
func (ss *session) chunk(size int64, last bool) {
	tx := ss.tx
	w := &messageWriter{msg: tx.msg}
	max := ss.srv.cfg.MaxMessageSize
	tx.size += size
	var dst io.Writer = w
	tooLarge := max > 0 && tx.size > max
	if tooLarge {
		dst = io.Discard
	}
	if err := ss.r.ReadChunk(dst, size); err != nil {
		ss.finish(err, nil)
		return
	}
	switch {
	case tooLarge:
		ss.finish(smtp.ErrTooLarge, nil)
	case w.err != nil:
		ss.finish(nil, w.err)
	case last:
		ss.finish(nil, nil)
	default:
		ss.reply(smtp.NewReply(250, "2.0.0", "Ok: "+strconv.FormatInt(size, 10)+" bytes"))
	}
}

// parseBDAT parses "count [LAST]".
func parseBDAT(arg string) (size int64, last bool, ok bool) {
	f := strings.Fields(arg)
	if len(f) == 0 || len(f) > 2 {
		return 0, false, false
	}
	if len(f) == 2 {
		if !strings.EqualFold(f[1], "LAST") {
			return 0, false, false
		}
		last = true
	}
	for _, c := range f[0] {
		if c < '0' || c > '9' {
			return 0, false, false
		}
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || n > maxChunk {
		return 0, false, false
	}
	return n, last, true
}
