package ctl

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// frameHeader is the kind and length that start a reply frame.
func frameHeader(kind byte, n int) [5]byte {
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(n))
	return hdr
}

// payloadReader reads a request's payload: chunks of a 4-byte length and
// data, up to the zero-length end mark.
type payloadReader struct {
	r    *bufio.Reader
	wait func() // sets the deadline of the next read
	left uint32 // bytes left in the current chunk
	err  error  // sticky: io.EOF after the end mark
}

func (p *payloadReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	if len(b) == 0 {
		return 0, nil
	}
	if p.left == 0 {
		if p.err = p.next(); p.err != nil {
			return 0, p.err
		}
	}
	p.wait()
	n, err := p.r.Read(b[:min(len(b), int(p.left))])
	p.left -= uint32(n)
	if err != nil {
		p.err = inputError(err)
		return n, p.err
	}
	return n, nil
}

// next reads the length of the next chunk; io.EOF at the end mark.
func (p *payloadReader) next() error {
	var hdr [4]byte
	p.wait()
	if _, err := io.ReadFull(p.r, hdr[:]); err != nil {
		return inputError(err)
	}
	switch n := binary.BigEndian.Uint32(hdr[:]); {
	case n == 0:
		return io.EOF
	case n > maxFrame:
		return fmt.Errorf("malformed input: a chunk of %d bytes (at most %d)", n, maxFrame)
	default:
		p.left = n
	}
	return nil
}

// inputError reports a read error inside the payload: an end of file
// there means the client went away before the end mark.
func inputError(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("reading the request's input: %w", err)
}

// writePayload sends in as payload chunks and the end mark. An error
// reading in is returned as a *sourceError, and the end mark is not sent.
func writePayload(w io.Writer, in io.Reader) error {
	buf := make([]byte, 4+maxFrame)
	for {
		n, rerr := in.Read(buf[4:])
		if n > 0 {
			binary.BigEndian.PutUint32(buf, uint32(n))
			if _, err := w.Write(buf[:4+n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			_, err := w.Write([]byte{0, 0, 0, 0})
			return err
		}
		if rerr != nil {
			return &sourceError{rerr}
		}
	}
}

// sourceError is an error reading the caller's input.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "reading the input: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// readReply copies the output frames of a reply to out and returns the
// final frame's error.
func readReply(r io.Reader, out io.Writer) error {
	br := bufio.NewReader(r)
	buf := make([]byte, maxFrame)
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if err == io.EOF {
				return fmt.Errorf("the server closed the connection without a reply")
			}
			return fmt.Errorf("reading the reply: %w", err)
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n > maxFrame {
			return fmt.Errorf("malformed reply: a frame of %d bytes (at most %d)", n, maxFrame)
		}
		data := buf[:n]
		if _, err := io.ReadFull(br, data); err != nil {
			return fmt.Errorf("reading the reply: %w", err)
		}
		switch hdr[0] {
		case kindOutput:
			if _, err := out.Write(data); err != nil {
				return fmt.Errorf("writing the output: %w", err)
			}
		case kindOK:
			return nil
		case kindError:
			return decodeError(data)
		default:
			return fmt.Errorf("malformed reply: frame kind %q", hdr[0])
		}
	}
}
