package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Errors reported by Reader and the data readers. A session answers
// ErrLineTooLong and ErrTooLarge and goes on: the offending input has been
// consumed, so the dialogue stays in step.
var (
	ErrLineTooLong = errors.New("smtp: line too long")
	ErrBareNewline = errors.New("smtp: bare CR or LF")
	ErrTooLarge    = errors.New("smtp: message too large")
)

// Line length limits. RFC 5321 §4.5.3.1.4 sets 512 octets for a command
// line including CRLF, and lets extensions raise it; ESMTP parameters (SIZE,
// BODY, SMTPUTF8, the four of RFC 3461, AUTH) make a MAIL line longer than
// that. Postfix reads every command with line_length_limit = 2048, and so
// does facteur. RFC 5321 §4.5.3.1.5 sets 512 for a reply line; a client is
// as generous as the server.
const (
	MaxCommandLine = 2048
	MaxReplyLine   = 2048
)

// DefaultBufferSize is the read buffer of NewReader: small, because an idle
// connection keeps it (STYLE: 1,000 idle sessions well under 50 MB).
const DefaultBufferSize = 4096

// Reader reads SMTP lines, message data and BDAT chunks from a connection.
// Unlike net/textproto, it insists on CRLF, bounds every line, and ends
// data only on CRLF.CRLF (RFC 5321 §4.1.1.4).
type Reader struct {
	br *bufio.Reader
}

// NewReader returns a Reader on r with a DefaultBufferSize buffer.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, DefaultBufferSize)}
}

// Buffered reports how many bytes have been read from the connection but
// not consumed yet. A server flushes its replies when it is zero (RFC 2920
// §3: the client is waiting for them).
func (r *Reader) Buffered() int { return r.br.Buffered() }

// ReadLine reads one line and returns it without its CRLF. The returned
// slice is valid until the next read.
//
// A line whose content is longer than max octets is consumed to its end
// and reported as ErrLineTooLong. A line ending in a bare LF, or holding a
// CR not followed by LF, is returned (without the final LF, and without a
// CR just before it) together with ErrBareNewline, so that a caller may
// refuse it or, leniently, use it.
func (r *Reader) ReadLine(max int) ([]byte, error) {
	var long []byte // only when the line spans more than one buffer
	for {
		frag, err := r.br.ReadSlice('\n')
		if err == nil {
			if long != nil {
				long = append(long, frag...)
				frag = long
			}
			return checkLine(frag, max)
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if err == io.EOF && (len(frag) > 0 || long != nil) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(long)+len(frag) > max+2 {
			return nil, r.discardLine()
		}
		long = append(long, frag...)
	}
}

// checkLine strips the line ending and checks the line's length and
// newlines.
func checkLine(line []byte, max int) ([]byte, error) {
	line = line[:len(line)-1] // the LF
	bare := true
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
		bare = false
	}
	if len(line) > max {
		return nil, ErrLineTooLong
	}
	if bare || bytes.IndexByte(line, '\r') >= 0 {
		return line, ErrBareNewline
	}
	return line, nil
}

// discardLine consumes input up to and including the next LF.
func (r *Reader) discardLine() error {
	for {
		_, err := r.br.ReadSlice('\n')
		if err == nil {
			return ErrLineTooLong
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
}

// ReadChunk copies exactly n octets, a BDAT chunk (RFC 3030 §2), to w.
// When w fails, the rest of the chunk is still read and discarded, so that
// the session stays in step, and w's error is returned.
func (r *Reader) ReadChunk(w io.Writer, n int64) error {
	if n < 0 {
		return fmt.Errorf("smtp: negative chunk size %d", n)
	}
	var werr error
	for n > 0 {
		if _, err := r.br.Peek(1); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		if int64(len(buf)) > n {
			buf = buf[:n]
		}
		if werr == nil {
			_, werr = w.Write(buf)
		}
		r.br.Discard(len(buf))
		n -= int64(len(buf))
	}
	return werr
}
