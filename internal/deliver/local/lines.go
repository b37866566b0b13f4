package local

import (
	"bufio"
	"bytes"
	"io"
)

// copyLines copies the queued message (CRLF line endings) from r to w
// with the UNIX line endings that commands and mbox files expect. With
// quote, a line beginning "From " gets a ">" in front (RFC 4155 §2 and
// its appendix: the mboxo quoting Postfix writes; a reader would take the
// line for the start of a new message).
// It reports whether the output ended with a line ending (or was empty).
func copyLines(w *bufio.Writer, r io.Reader, quote bool) (bool, error) {
	return copyLinesSize(w, r, quote, 32<<10)
}

// copyLinesSize is copyLines reading lines in fragments of at most size.
func copyLinesSize(w *bufio.Writer, r io.Reader, quote bool, size int) (bool, error) {
	br := bufio.NewReaderSize(r, size)
	bol := true // at the beginning of a line
	cr := false // a CR held back from the end of the previous fragment
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if cr && line[0] != '\n' {
				w.WriteByte('\r')
			}
			cr = false
			if bol && quote && bytes.HasPrefix(line, []byte("From ")) {
				w.WriteByte('>')
			}
			line, cr = trimCR(line)
			w.Write(line)
			bol = len(line) > 0 && line[len(line)-1] == '\n'

		}
		switch err {
		case nil, bufio.ErrBufferFull:
			continue
		case io.EOF:
			if cr {
				w.WriteByte('\r')
				bol = false
			}
			return bol, w.Flush()
		default:
			return false, err
		}
	}
}

// trimCR turns a final CRLF into LF. A fragment that ends in CR without
// its LF is returned without the CR and held reports it, so that the next
// fragment decides.
func trimCR(line []byte) (out []byte, held bool) {
	n := len(line)
	switch {
	case n >= 2 && line[n-2] == '\r' && line[n-1] == '\n':
		line[n-2] = '\n'
		return line[:n-1], false
	case line[n-1] == '\r':
		return line[:n-1], true
	}
	return line, false
}
