package smtp

import (
	"io"

	"facteur/internal/sevenbit"
	wire "facteur/internal/smtp"
)

// sourceError marks a failure to read the queued message, which is this
// machine's fault, not the connection's.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "reading queue file: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// copyBody writes the message from r to d through buf, converted to 7
// bit by convert when it is not nil. A read or conversion failure is a
// *sourceError.
func copyBody(d *wire.DotWriter, r io.Reader, buf []byte, convert func(io.Writer, io.Reader) error) error {
	if convert != nil {
		err := convert(d, r)
		if err != nil && d.Err() == nil {
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
