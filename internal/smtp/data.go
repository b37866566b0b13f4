package smtp

import "io"

// Data reader states: where the last consumed octets left us in the line.
const (
	dataBOL   = iota // at the start of a line (after CRLF, or first octet)
	dataText         // inside a line
	dataCR           // after a CR inside a line
	dataDot          // after a leading "."
	dataDotCR        // after a leading "." and CR: end of data if LF follows
	dataEnd          // the terminating CRLF.CRLF has been consumed
)

// DataReader is the message text after DATA, with the transparency dots
// removed (RFC 5321 §4.5.2). It ends only at CRLF.CRLF (RFC 5321 §4.1.1.4):
// LF.LF or CR.CR do not end it, which closes the door to SMTP smuggling.
// Lines of any length pass through without being buffered whole.
type DataReader struct {
	r      *Reader
	max    int64
	forbid bool
	state  int
	n      int64   // octets of message text seen
	pend   [2]byte // output owed from a previous call
	npend  int
	err    error // sticky
}

// NewDataReader returns a reader of the message text that follows a DATA
// command on r. Read returns io.EOF after the terminating line.
//
// With max > 0, text past max octets is read and dropped, and Read returns
// ErrTooLarge once the terminating line has been consumed, so the session
// can reply 552 and stay in step. With forbidBareNewline (Postfix's
// smtpd_forbid_bare_newline), a CR or LF that is not part of a CRLF pair
// makes Read return ErrBareNewline at once; the session should then close
// the connection, since it can no longer tell where the data ends.
func NewDataReader(r *Reader, max int64, forbidBareNewline bool) *DataReader {
	return &DataReader{r: r, max: max, forbid: forbidBareNewline}
}

// Size reports the octets of message text read so far, including those
// dropped past the limit.
func (d *DataReader) Size() int64 { return d.n }

// Read implements io.Reader.
func (d *DataReader) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	out := 0
	for out < len(p) {
		if d.npend > 0 {
			out += d.flushPending(p[out:])
			continue
		}
		if d.state == dataEnd {
			d.err = io.EOF
			if d.max > 0 && d.n > d.max {
				d.err = ErrTooLarge
			}
			break
		}
		if _, err := d.r.br.Peek(1); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			d.err = err
			break
		}
		buf, _ := d.r.br.Peek(d.r.br.Buffered())
		used, w, err := d.scan(buf, p[out:])
		d.r.br.Discard(used)
		out += w
		if err != nil {
			d.err = err
			break
		}
	}
	if out > 0 {
		return out, nil
	}
	return 0, d.err
}

// flushPending copies owed output into p.
func (d *DataReader) flushPending(p []byte) int {
	n := copy(p, d.pend[:d.npend])
	copy(d.pend[:], d.pend[n:d.npend])
	d.npend -= n
	return n
}

// scan consumes input octets from in and writes message text to p. It
// returns how many octets of in it consumed and of p it wrote. It stops at
// the end of data, when p is full, or when output is owed in d.pend.
func (d *DataReader) scan(in, p []byte) (used, w int, err error) {
	for used < len(in) && w < len(p) && d.npend == 0 && d.state != dataEnd {
		c := in[used]
		used++
		switch d.state {
		case dataBOL:
			if c == '.' {
				d.state = dataDot
				continue
			}
		case dataCR:
			if c == '\n' {
				w += d.emit(p[w:], c)
				d.state = dataBOL
				continue
			}
			if d.forbid {
				return used, w, ErrBareNewline
			}
		case dataDot:
			if c == '\r' {
				d.state = dataDotCR
				continue
			}
			// RFC 5321 §4.5.2: a leading period is removed; c is text.
		case dataDotCR:
			if c == '\n' {
				d.state = dataEnd
				continue
			}
			// "." then a bare CR: the dot was transparency, the CR is text.
			if d.forbid {
				return used, w, ErrBareNewline
			}
			w += d.emit(p[w:], '\r')
		}
		d.state = dataText
		switch c {
		case '\r':
			d.state = dataCR
		case '\n':
			if d.forbid {
				return used, w, ErrBareNewline
			}
		}
		w += d.emit(p[w:], c)
	}
	return used, w, nil
}

// emit writes one octet of message text to p, or owes it when p is full
// (or when octets are already owed) or drops it past the size limit.
func (d *DataReader) emit(p []byte, c byte) int {
	d.n++
	if d.max > 0 && d.n > d.max {
		return 0
	}
	if len(p) == 0 || d.npend > 0 {
		d.pend[d.npend] = c
		d.npend++
		return 0
	}
	p[0] = c
	return 1
}
