package smtp

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

// FuzzDotWriter checks that what DotWriter sends, read back by the
// server's data reader, is the message: with CRLF line ends, and a CRLF
// at the end. Whatever the message holds, the end of data comes only
// where DotWriter puts it.
func FuzzDotWriter(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\n.hidden\r\nbody\r\n"), 3)
	f.Add([]byte(".\r\n.\r\n"), 1)
	f.Add([]byte("a\n.\n"), 2)
	f.Add([]byte("a\r\n.\r"), 5)
	f.Add([]byte("\r\n.\r\n\r\n"), 1)
	f.Add([]byte(""), 1)
	f.Fuzz(func(t *testing.T, msg []byte, chunk int) {
		if chunk <= 0 {
			chunk = 1
		}
		var wireBytes bytes.Buffer
		bw := bufio.NewWriter(&wireBytes)
		d := NewDotWriter(bw)
		for p := msg; len(p) > 0; {
			n := min(chunk, len(p))
			if _, err := d.Write(p[:n]); err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		bw.Flush()
		r := NewReader(bytes.NewReader(wireBytes.Bytes()))
		got, err := io.ReadAll(NewDataReader(r, 0, false))
		if err != nil {
			t.Fatalf("server reading %q: %v", wireBytes.Bytes(), err)
		}
		if r.Buffered() != 0 {
			t.Fatalf("data ended before the end of %q", wireBytes.Bytes())
		}
		if want := normalize(msg); !bytes.Equal(got, want) {
			t.Fatalf("server read %q, want %q", got, want)
		}
	})
}

// normalize is msg as it should arrive: every LF preceded by CR, and a
// final CRLF.
func normalize(msg []byte) []byte {
	var out []byte
	for i, c := range msg {
		if c == '\n' && (i == 0 || msg[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	switch {
	case len(out) == 0:
	case out[len(out)-1] == '\r':
		out = append(out, '\n')
	case out[len(out)-1] != '\n':
		out = append(out, '\r', '\n')
	}
	return out
}
