package smtp

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	wire "facteur/internal/smtp"
)

// FuzzDotWriter checks that what dotWriter sends, read back by the
// server's data reader, is the message: with CRLF line ends, and a CRLF
// at the end. Whatever the message holds, the end of data comes only
// where dotWriter puts it.
func FuzzDotWriter(f *testing.F) {
	f.Add([]byte(testBody), 3)
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
		d := newDotWriter(bw)
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
		r := wire.NewReader(bytes.NewReader(wireBytes.Bytes()))
		got, err := io.ReadAll(wire.NewDataReader(r, 0, false))
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

// FuzzEHLOReply reads an EHLO reply as the client does.
func FuzzEHLOReply(f *testing.F) {
	f.Add("250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n")
	f.Add("250-mx\r\n250-SIZE\r\n250-SIZE -1\r\n250 SIZE 99999999999999999999999\r\n")
	f.Add("250 mx\r\n")
	f.Add("250-2.0.0 mx\r\n250 2.0.0 DSN\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := wire.ReadReply(wire.NewReader(strings.NewReader(s)))
		if err != nil || len(r.Lines) == 0 {
			return
		}
		ext := parseEHLO(r)
		if ext.sizeLimit < 0 {
			t.Errorf("SIZE limit %d", ext.sizeLimit)
		}
		if ext.sizeLimit > 0 && !ext.size {
			t.Error("a SIZE limit without SIZE")
		}
	})
}
