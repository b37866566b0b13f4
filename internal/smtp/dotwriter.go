package smtp

import (
	"bufio"
	"bytes"
)

// DotWriter writes message text as the content of DATA (RFC 5321
// §4.5.2): a "." that starts a line is doubled, and Close ends the text
// with CRLF.CRLF (after a CRLF of its own when the text does not end
// with one). CRLF line ends pass unchanged; a
// bare LF is sent as CRLF (RFC 5321 §2.3.8), so that no server can see a
// different end of data than ours.
type DotWriter struct {
	w   *bufio.Writer
	bol bool // at the start of a line
	cr  bool // the last octet written was a CR
	err error
}

func NewDotWriter(w *bufio.Writer) *DotWriter { return &DotWriter{w: w, bol: true} }

// Write implements io.Writer. Its errors are the connection's.
func (d *DotWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && d.err == nil {
		if d.bol && p[0] == '.' {
			d.w.WriteByte('.')
		}
		d.bol = false
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.w.Write(p)
			d.cr = p[len(p)-1] == '\r'
			break
		}
		d.w.Write(p[:i])
		if !(i > 0 && p[i-1] == '\r' || i == 0 && d.cr) {
			d.w.WriteByte('\r')
		}
		d.w.WriteByte('\n')
		d.bol, d.cr = true, false
		p = p[i+1:]
		_, d.err = d.w.Write(nil) // bufio.Writer's error is sticky
	}
	if d.err == nil {
		_, d.err = d.w.Write(nil)
	}
	if d.err != nil {
		return 0, d.err
	}
	return n, nil
}

// Close writes the end of data; it does not flush.
func (d *DotWriter) Close() error {
	switch {
	case d.cr:
		d.w.WriteString("\n")
	case !d.bol:
		d.w.WriteString("\r\n")
	}
	d.w.WriteString(".\r\n")
	_, err := d.w.Write(nil)
	return err
}

// Err returns the first error writing to the connection, nil if none: a
// caller whose source failed tells it apart from a connection failure.
func (d *DotWriter) Err() error { return d.err }
