package smtp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readData reads a message with a small destination buffer, to exercise
// the owed-output path, and returns it with the next line after it.
func readData(in string, max int64, forbid bool, oneByte bool) (data, next string, err error) {
	var src io.Reader = strings.NewReader(in)
	if oneByte {
		src = iotest.OneByteReader(src)
	}
	r := NewReader(src)
	dr := NewDataReader(r, max, forbid)
	var out bytes.Buffer
	p := make([]byte, 1)
	for {
		n, e := dr.Read(p)
		out.Write(p[:n])
		if e != nil {
			if e != io.EOF {
				err = e
			}
			break
		}
	}
	line, _ := r.ReadLine(100)
	return out.String(), string(line), err
}

func TestDataReader(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		max    int64
		forbid bool
		want   string
		err    error
		next   string
	}{
		{"simple", "Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n", 0, false, "Subject: x\r\n\r\nbody\r\n", nil, "QUIT"},
		{"empty", ".\r\nQUIT\r\n", 0, false, "", nil, "QUIT"},
		{"unstuff", "..x\r\n..\r\n.\r\nQUIT\r\n", 0, false, ".x\r\n.\r\n", nil, "QUIT"},
		{"dot mid line", "a.b\r\n.\r\n", 0, false, "a.b\r\n", nil, ""},
		{"lf dot lf is not the end", "a\n.\nb\r\n.\r\nQUIT\r\n", 0, false, "a\n.\nb\r\n", nil, "QUIT"},
		{"cr dot cr is not the end", "a\r.\rb\r\n.\r\nQUIT\r\n", 0, false, "a\r.\rb\r\n", nil, "QUIT"},
		{"dot then bare cr", "a\r\n.\rb\r\n.\r\n", 0, false, "a\r\n\rb\r\n", nil, ""},
		{"bare lf forbidden", "a\nb\r\n.\r\n", 0, true, "a", ErrBareNewline, ""},
		{"bare cr forbidden", "a\rb\r\n.\r\n", 0, true, "a\r", ErrBareNewline, ""},
		{"smuggling forbidden", "a\r\n.\nMAIL FROM:<x>\r\n.\r\n", 0, true, "a\r\n", ErrBareNewline, ""},
		{"crlf ok when forbidding", "a\r\nb\r\n.\r\nQUIT\r\n", 0, true, "a\r\nb\r\n", nil, "QUIT"},
		{"at limit", "abc\r\n.\r\nQUIT\r\n", 5, false, "abc\r\n", nil, "QUIT"},
		{"over limit", "abcdef\r\n.\r\nQUIT\r\n", 5, false, "abcde", ErrTooLarge, "QUIT"},
		{"long line", strings.Repeat("y", 10000) + "\r\n.\r\n", 0, false, strings.Repeat("y", 10000) + "\r\n", nil, ""},
		{"eof", "abc\r\n", 0, false, "abc\r\n", io.ErrUnexpectedEOF, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				got, next, err := readData(tt.in, tt.max, tt.forbid, oneByte)
				if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil && next != tt.next) {
					t.Errorf("oneByte=%v: got %q, %v, next %q; want %q, %v, next %q", oneByte, got, err, next, tt.want, tt.err, tt.next)
				}
			}
		})
	}
}

// stuff is the sending side of RFC 5321 §4.5.2, for round trips.
func stuff(msg string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(msg, "\r\n") {
		if strings.HasPrefix(line, ".") {
			b.WriteByte('.')
		}
		b.WriteString(line)
	}
	if msg != "" && !strings.HasSuffix(msg, "\r\n") {
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	return b.String()
}

func FuzzDataReader(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\n.hello\r\n"), false)
	f.Add([]byte("a\n.\nb"), true)
	f.Fuzz(func(t *testing.T, in []byte, forbid bool) {
		// Any input: no panic, no more text than input.
		dr := NewDataReader(NewReader(bytes.NewReader(in)), 64, forbid)
		out, _ := io.ReadAll(dr)
		if len(out) > len(in) || len(out) > 64 {
			t.Fatalf("read %d octets from %d (max 64)", len(out), len(in))
		}
		// CRLF-only text round-trips through stuffing.
		msg := strings.ReplaceAll(strings.ReplaceAll(string(in), "\r", ""), "\n", "\r\n")
		got, err := io.ReadAll(NewDataReader(NewReader(strings.NewReader(stuff(msg)+"QUIT\r\n")), 0, true))
		want := msg
		if msg != "" && !strings.HasSuffix(msg, "\r\n") {
			want += "\r\n"
		}
		if err != nil || string(got) != want {
			t.Fatalf("round trip of %q: got %q, %v", want, got, err)
		}
	})
}
