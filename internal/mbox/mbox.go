// Package mbox reads mbox files (RFC 4155): messages one after another,
// each starting with a "From " line, as mutt, Thunderbird, procmail and
// Dovecot's mbox storage write them.
//
// The reader streams: it holds one line (or 64 KiB of a longer one) and
// the header section of the current message, never the whole file. A
// message starts at a "From " line at the start of the file or after an
// empty line; that empty line belongs to the separator, not to the
// message before it. Content-Length is not trusted. Lines of the form
// ">From ", ">>From " and so on lose one ">" (the mboxrd convention,
// which also undoes mboxo's quoting of "From "). Each line end becomes
// CRLF, the wire form of RFC 5322 §2.1; a line that has CRLF keeps it.
//
// The flags come from the Status and X-Status header fields (R Seen,
// O old, A Answered, F Flagged, D Deleted, T Draft) and keywords from
// X-Keywords. These fields, with the other ones that mbox programs keep
// for themselves (Content-Length, X-IMAP, X-IMAPbase, X-UID), are taken
// out of the message, as Dovecot hides them from IMAP clients.
package mbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrNotMbox is returned when the input does not start with a "From "
// line.
var ErrNotMbox = errors.New(`not an mbox file: no "From " line at the start`)

// maxHeader bounds the header section kept to find the flags; past it,
// the message is passed on as it is.
const maxHeader = 1 << 20

// lineBuf is the longest piece of a line read at once.
const lineBuf = 64 << 10

// hidden are the header fields taken out of messages (Dovecot's
// mbox_hide_headers).
var hidden = []string{"content-length", "status", "x-imap", "x-imapbase", "x-keywords", "x-status", "x-uid"}

// crlfLine is an empty line; callers only read it.
var crlfLine = []byte("\r\n")

// Reader reads the messages of an mbox file in order.
type Reader struct {
	br   *bufio.Reader
	from []byte // the From_ line of the next message, nil at the end
	msg  *Message
	err  error // sticky

	buf     []byte // a piece that differs from the line read
	held    bool   // an empty line was read and not yet given out
	midLine bool   // the last piece read did not end its line
	prevCR  bool   // the last piece read ended with CR
	ended   bool   // the current message has ended
}

// NewReader returns a Reader of the mbox file r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, lineBuf)}
}

// Message is one message of an mbox file. It reads the message's content,
// until the next call of Next.
type Message struct {
	Sender string    // the address of the From_ line
	Date   time.Time // the From_ line's date, local time; zero if it does not parse
	Flags  []string  // IMAP flags (RFC 9051 §2.3.2) and keywords, sorted

	r   *Reader
	out []byte // content ready to be read
}

// Next returns the next message, or io.EOF after the last one. The
// previous message's content that was not read is skipped.
func (r *Reader) Next() (*Message, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.msg == nil && r.from == nil {
		if err := r.start(); err != nil {
			r.err = err
			return nil, err
		}
	}
	if r.msg != nil {
		r.msg.out = nil
		for {
			if _, err := r.piece(); err == io.EOF {
				break
			} else if err != nil {
				r.err = err
				return nil, err
			}
		}
	}
	if r.from == nil {
		r.err = io.EOF
		return nil, io.EOF
	}
	m := &Message{r: r}
	m.Sender, m.Date = parseFromLine(r.from)
	r.from, r.ended, r.msg = nil, false, m
	if err := m.readHeader(); err != nil {
		r.err = err
		return nil, err
	}
	return m, nil
}

// start reads the first From_ line, skipping empty lines before it.
func (r *Reader) start() error {
	for {
		line, err := r.br.ReadSlice('\n')
		if len(line) > 0 && !isBlank(line) {
			if !bytes.HasPrefix(line, []byte("From ")) {
				return ErrNotMbox
			}
			r.from = bytes.Clone(line)
			return r.skipLine(err)
		}
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			return fmt.Errorf("reading mbox: %w", err)
		}
	}
}

// skipLine reads what is left of a line whose first piece was read with
// error err.
func (r *Reader) skipLine(err error) error {
	for errors.Is(err, bufio.ErrBufferFull) {
		_, err = r.br.ReadSlice('\n')
	}
	if err != nil && err != io.EOF {
		return fmt.Errorf("reading mbox: %w", err)
	}
	return nil
}

func isBlank(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// piece returns the next piece of the current message's content, with
// CRLF line ends and mboxrd quoting undone, or io.EOF at its end. The
// slice is valid until the next call.
func (r *Reader) piece() ([]byte, error) {
	if r.ended {
		return nil, io.EOF
	}
	for {
		line, err := r.br.ReadSlice('\n')
		if len(line) == 0 {
			if err == io.EOF {
				r.ended = true // the held empty line, if any, was the last separator
				return nil, io.EOF
			}
			if err != nil {
				return nil, fmt.Errorf("reading mbox: %w", err)
			}
		}
		first := !r.midLine
		r.midLine = errors.Is(err, bufio.ErrBufferFull)
		if first && r.held && bytes.HasPrefix(line, []byte("From ")) {
			r.held, r.ended = false, true
			r.from = bytes.Clone(line)
			if err := r.skipLine(err); err != nil {
				return nil, err
			}
			return nil, io.EOF
		}
		if first && !r.midLine && isBlank(line) {
			if r.held {
				r.prevCR = false
				return crlfLine, nil // the earlier empty line was content
			}
			r.held = true
			continue
		}
		out, off := line, 0
		if r.held {
			r.buf = append(append(r.buf[:0], '\r', '\n'), line...)
			out, off, r.held = r.buf, 2, false
		}
		if first {
			out = unquote(out, off)
		}
		out = r.crlf(out)
		r.prevCR = len(line) > 0 && line[len(line)-1] == '\r'
		return out, nil
	}
}

// unquote removes one ">" from a line starting with ">+From " (mboxrd).
// When off is 2, the line follows the "\r\n" of an empty line, in a
// buffer of the Reader's own.
func unquote(b []byte, off int) []byte {
	l := b[off:]
	i := 0
	for i < len(l) && l[i] == '>' {
		i++
	}
	if i == 0 || !bytes.HasPrefix(l[i:], []byte("From ")) {
		return b
	}
	if off == 0 {
		return b[1:]
	}
	copy(l, l[1:])
	return b[:len(b)-1]
}

// crlf turns a final bare LF into CRLF, in r.buf when b is not there
// already. r.prevCR says whether the piece before, of the same line,
// ended with CR.
func (r *Reader) crlf(b []byte) []byte {
	n := len(b)
	if n == 0 || b[n-1] != '\n' {
		return b
	}
	if n >= 2 && b[n-2] == '\r' || n == 1 && r.prevCR {
		return b
	}
	if len(r.buf) > 0 && &b[0] == &r.buf[0] {
		r.buf = append(b[:n-1], '\r', '\n')
	} else {
		r.buf = append(append(r.buf[:0], b[:n-1]...), '\r', '\n')
	}
	return r.buf
}
