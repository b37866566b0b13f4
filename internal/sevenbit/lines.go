package sevenbit

import (
	"bufio"
	"io"
)

// pieceSize is the most of one line handed out at once. Delimiter lines
// and the lines that start a header field are far shorter, so they always
// come whole; longer lines come in several pieces.
const pieceSize = 64 << 10

var (
	crlf = []byte("\r\n")
	lf   = []byte("\n")
)

// piece is a line of the message or a part of one, without its line ending.
type piece struct {
	data  []byte // valid until the next call to next
	eol   []byte // the line ending as read: crlf, lf, or nil
	start bool   // data begins a line
	end   bool   // the line ends after data (line ending or end of input)
}

// lineReader cuts the message into lines, a bare LF ending a line as a
// CRLF does. A CR is part of a line's data only when no LF follows it: a
// lone CR.
type lineReader struct {
	br      *bufio.Reader
	bol     bool
	back    piece // a piece handed back by unread
	backBuf []byte
	hasBack bool
}

// newLineReader returns a reader of r's lines in pieces of at most size
// octets (at least 16).
func newLineReader(r io.Reader, size int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, size), bol: true}
}

// reset makes l read r from its beginning.
func (l *lineReader) reset(r io.Reader) {
	l.br.Reset(r)
	l.bol = true
	l.hasBack = false
}

// next returns the next piece, or io.EOF at the end of the input.
func (l *lineReader) next() (piece, error) {
	if l.hasBack {
		l.hasBack = false
		return l.back, nil
	}
	b, err := l.br.ReadSlice('\n')
	p := piece{start: l.bol}
	switch {
	case err == nil:
		p.end = true
		if n := len(b); n >= 2 && b[n-2] == '\r' {
			p.data, p.eol = b[:n-2], crlf
		} else {
			p.data, p.eol = b[:n-1], lf
		}
	case err == bufio.ErrBufferFull:
		// A CR last in the buffer may be the first half of a CRLF: leave
		// it for the next piece to decide.
		if n := len(b); n > 1 && b[n-1] == '\r' && l.br.UnreadByte() == nil {
			b = b[:n-1]
		}
		p.data = b
	case err == io.EOF && len(b) > 0:
		p.data, p.end = b, true
	default:
		return piece{}, err
	}
	l.bol = p.end
	return p, nil
}

// unread hands p back: the next call to next returns it again.
func (l *lineReader) unread(p piece) {
	l.backBuf = append(l.backBuf[:0], p.data...)
	p.data = l.backBuf
	l.back, l.hasBack = p, true
}

// output is the converted message on its way out. The first write error
// is kept and later writes are dropped.
type output struct {
	bw  *bufio.Writer // nil when the output is discarded (Needs)
	bol bool          // the last octet written was LF, or none was
	err error
}

func (o *output) write(p []byte) {
	if len(p) == 0 || o.err != nil {
		return
	}
	o.bol = p[len(p)-1] == '\n'
	if o.bw != nil {
		_, o.err = o.bw.Write(p)
	}
}

func (o *output) writeString(s string) {
	if len(s) == 0 || o.err != nil {
		return
	}
	o.bol = s[len(s)-1] == '\n'
	if o.bw != nil {
		_, o.err = o.bw.WriteString(s)
	}
}

// line writes p and a CRLF.
func (o *output) line(p []byte) {
	o.write(p)
	o.write(crlf)
}
