package smtp

import (
	"bufio"
	"bytes"
	"io"

	"facteur/internal/sevenbit"
)

// dotWriter writes message text as the content of DATA (RFC 5321
// §4.5.2): a "." that starts a line is doubled, and Close ends the text
// with CRLF.CRLF (after a CRLF of its own when the text does not end
// with one). The queue file has CRLF line ends, which pass unchanged; a
// bare LF is sent as CRLF (RFC 5321 §2.3.8), so that no server can see a
// different end of data than ours.
type dotWriter struct {
	w   *bufio.Writer
	bol bool // at the start of a line
	cr  bool // the last octet written was a CR
	err error
}

func newDotWriter(w *bufio.Writer) *dotWriter { return &dotWriter{w: w, bol: true} }

// Write implements io.Writer. Its errors are the connection's.
func (d *dotWriter) Write(p []byte) (int, error) {
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
func (d *dotWriter) Close() error {
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

// sourceError marks a failure to read the queued message, which is this
// machine's fault, not the connection's.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "reading queue file: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// copyBody writes the message from r to d through buf, converted to 7
// bit by convert when it is not nil. A read or conversion failure is a
// *sourceError.
func copyBody(d *dotWriter, r io.Reader, buf []byte, convert func(io.Writer, io.Reader) error) error {
	if convert != nil {
		err := convert(d, r)
		if err != nil && d.err == nil {
			return &sourceError{err}
		}
		return err
	}
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := d.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &sourceError{err}
		}
	}
}

// converter returns the conversion to 7 bit that a message with body
// needs on a next hop with ext, or nil: 8BITMIME to a next hop without
// it (RFC 6152 §3), and BINARYMIME always, since it is sent with DATA,
// not BDAT (RFC 3030 §3).
func (c *Client) converter(body string, ext extensions) func(io.Writer, io.Reader) error {
	if body == "BINARYMIME" || body == "8BITMIME" && !ext.eightBit {
		return c.toSevenBit
	}
	return nil
}

// toSevenBit converts a message to 7 bit. Header fields with 8-bit
// octets stay as they are (they would need SMTPUTF8): Postfix sends them
// too.
func (c *Client) toSevenBit(w io.Writer, r io.Reader) error {
	conv := sevenbit.Converter{TempDir: c.opt.TempDir}
	st, err := conv.Convert(w, r)
	if st.EightBitHeader {
		c.debug.Info("8-bit header fields sent to a next hop without 8BITMIME")
	}
	return err
}
