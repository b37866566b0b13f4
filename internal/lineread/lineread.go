// Package lineread cuts a message into lines, and a line longer than the
// reader's buffer into pieces, so that no line, however long, is held
// whole. A line ends at CRLF (RFC 5322 §2.1) or at a bare LF, which is
// read as CRLF is; a CR that no LF follows, a lone CR, is part of a
// line's data. The last line may end at the end of the input without a
// line ending.
//
// Each piece carries where it is: its line number, its offset in the
// input, the length of its line so far and the ending of the line before,
// for the readers that report where a problem is or that find a MIME
// delimiter, whose CRLF in front belongs to it (RFC 2046 §5.1.1).
package lineread

import (
	"bufio"
	"io"
)

// MinSize is the smallest piece size: a smaller size given to NewReader
// becomes MinSize, as with bufio.NewReaderSize.
const MinSize = 16

// The line endings as Ending returns them, their capacity cut so that an
// append copies them.
var (
	crlf = []byte("\r\n")[:2:2]
	lf   = []byte("\n")[:1:1]
)

// Piece is a line of the input or a part of one.
type Piece struct {
	// Data is the line, or part of it, without the line ending. It is
	// valid until the next call to Next or Reset.
	Data []byte
	// EOL is the length of the line ending read after Data: 2 for CRLF,
	// 1 for a bare LF, 0 for none (the line goes on in the next piece, or
	// ends at the end of the input).
	EOL   int
	Start bool // Data begins a line
	End   bool // the line ends after Data: at a line ending or at the end of the input
	Line  int  // the line number, from 1
	// Offset is the offset of Data in the input.
	Offset int64
	// Length is the length of the line so far, Data included.
	Length int
	// PrevEOL is, when Start, the length of the previous line's ending
	// (0 on the first line).
	PrevEOL int
}

// Ending returns the line ending read after Data: CRLF, LF or nil. The
// slice is shared and must not be modified.
func (p Piece) Ending() []byte {
	switch p.EOL {
	case 2:
		return crlf
	case 1:
		return lf
	}
	return nil
}

// Reader reads the pieces of the lines of an input.
type Reader struct {
	br      *bufio.Reader
	off     int64 // octets consumed
	line    int   // number of the line being read
	bol     bool  // the next piece begins a line
	length  int   // length of the line being read so far
	lastEOL int   // ending of the last line that ended
	back    Piece // a piece handed back by Unread
	backBuf []byte
	hasBack bool
}

// NewReader returns a reader of r's lines in pieces of at most size
// octets (at least MinSize).
func NewReader(r io.Reader, size int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, size), bol: true}
}

// Size returns the most octets a piece holds.
func (l *Reader) Size() int { return l.br.Size() }

// Offset returns how much of the input the pieces read so far cover,
// their line endings included: after io.EOF, the input's length. A piece
// handed back by Unread counts as read.
func (l *Reader) Offset() int64 { return l.off }

// Reset makes l read r from its beginning, keeping its buffers.
func (l *Reader) Reset(r io.Reader) {
	l.br.Reset(r)
	l.off, l.line, l.length, l.lastEOL = 0, 0, 0, 0
	l.bol, l.hasBack = true, false
}

// Next returns the next piece, or io.EOF after the last. An error of the
// underlying reader is returned as it is. Every line has a piece with End
// set: a last line without ending whose pieces came to the end of the
// input exactly gets an empty one.
func (l *Reader) Next() (Piece, error) {
	if l.hasBack {
		l.hasBack = false
		return l.back, nil
	}
	b, err := l.br.ReadSlice('\n')
	p := Piece{Start: l.bol, Offset: l.off}
	switch {
	case err == nil:
		p.End = true
		if n := len(b); n >= 2 && b[n-2] == '\r' {
			p.Data, p.EOL = b[:n-2], 2
		} else {
			p.Data, p.EOL = b[:n-1], 1
		}
	case err == bufio.ErrBufferFull:
		// A CR last in the buffer may be the first half of a CRLF: leave
		// it for the next piece to decide. The piece keeps at least one
		// octet, so that reading goes on.
		if n := len(b); n > 1 && b[n-1] == '\r' && l.br.UnreadByte() == nil {
			b = b[:n-1]
		}
		p.Data = b
	case err == io.EOF && (len(b) > 0 || !l.bol):
		p.Data, p.End = b, true
	default:
		return Piece{}, err
	}
	if p.Start {
		l.line++
		l.length = 0
		p.PrevEOL = l.lastEOL
	}
	p.Line = l.line
	l.off += int64(len(p.Data) + p.EOL)
	l.length += len(p.Data)
	p.Length = l.length
	l.bol = p.End
	if p.End {
		l.lastEOL = p.EOL
	}
	return p, nil
}

// Unread hands p back: the next call to Next returns it again, its Data
// copied. Only the piece Next returned last may be handed back, once.
func (l *Reader) Unread(p Piece) {
	l.backBuf = append(l.backBuf[:0], p.Data...)
	p.Data = l.backBuf
	l.back, l.hasBack = p, true
}
