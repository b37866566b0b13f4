package inspect

import (
	"bufio"
	"io"
)

// pieceSize is the most of one line handed out at once: longer lines come
// in several pieces, so that no line, however long, is held whole.
const pieceSize = 64 << 10

// maxLine is the longest line RFC 5322 §2.1.1 allows, without its CRLF.
const maxLine = 998

// piece is a line of the message or a part of one.
type piece struct {
	data  []byte // without the line ending; valid until the next call to next
	eol   int    // length of the line ending read after data: 2, 1 or 0
	start bool   // data begins a line
	end   bool   // the line ends after data (line ending or end of input)
	num   int    // line number, from 1
	off   int64  // offset of data in the input
	// prevEOL is the length of the previous line's ending, when start:
	// that line ending belongs to a boundary that starts this line
	// (RFC 2046 §5.1.1).
	prevEOL int
	length  int // the line's length so far, data included
}

// lineReader cuts the input into pieces of lines. A bare LF ends a line
// as CRLF does.
type lineReader struct {
	br      *bufio.Reader
	off     int64 // octets consumed
	num     int
	bol     bool
	length  int
	lastEOL int
	back    piece
	backBuf []byte
	hasBack bool
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, pieceSize), bol: true}
}

// next returns the next piece, or io.EOF at the end of the input.
func (l *lineReader) next() (piece, error) {
	if l.hasBack {
		l.hasBack = false
		return l.back, nil
	}
	b, err := l.br.ReadSlice('\n')
	p := piece{start: l.bol, off: l.off}
	if p.start {
		l.num++
		l.length = 0
		p.prevEOL = l.lastEOL
	}
	p.num = l.num
	l.off += int64(len(b))
	switch {
	case err == nil:
		p.end = true
		if n := len(b); n >= 2 && b[n-2] == '\r' {
			p.data, p.eol = b[:n-2], 2
		} else {
			p.data, p.eol = b[:n-1], 1
		}
	case err == bufio.ErrBufferFull:
		// A CR last may be the first half of a CRLF: leave it for the
		// next piece.
		if n := len(b); n > 1 && b[n-1] == '\r' && l.br.UnreadByte() == nil {
			b = b[:n-1]
			l.off--
		}
		p.data = b
	case err == io.EOF && (len(b) > 0 || !l.bol):
		// The last line has no line ending; when its pieces came to the
		// end exactly, this empty piece ends it.
		p.data, p.end = b, true
	default:
		return piece{}, err
	}
	l.length += len(p.data)
	p.length = l.length
	l.bol = p.end
	if p.end {
		l.lastEOL = p.eol
	}
	return p, nil
}

// unread hands p back to the next call of next.
func (l *lineReader) unread(p piece) {
	l.backBuf = append(l.backBuf[:0], p.data...)
	p.data = l.backBuf
	l.back, l.hasBack = p, true
}
