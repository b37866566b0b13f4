package smtp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

type lineResult struct {
	Line string
	Err  error
}

func readLines(t *testing.T, r *Reader, max int) []lineResult {
	t.Helper()
	var got []lineResult
	for {
		line, err := r.ReadLine(max)
		if err == io.EOF {
			return got
		}
		got = append(got, lineResult{string(line), err})
		if err != nil && !errors.Is(err, ErrLineTooLong) && !errors.Is(err, ErrBareNewline) {
			return got
		}
	}
}

func TestReadLine(t *testing.T) {
	long := strings.Repeat("x", 5000)
	tests := []struct {
		name string
		in   string
		max  int
		want []lineResult
	}{
		{"crlf", "HELO a\r\nQUIT\r\n", 100, []lineResult{{"HELO a", nil}, {"QUIT", nil}}},
		{"empty line", "\r\n", 100, []lineResult{{"", nil}}},
		{"bare lf", "HELO a\nQUIT\r\n", 100, []lineResult{{"HELO a", ErrBareNewline}, {"QUIT", nil}}},
		{"bare cr inside", "HE\rLO\r\n", 100, []lineResult{{"HE\rLO", ErrBareNewline}}},
		{"at max", "abcd\r\n", 4, []lineResult{{"abcd", nil}}},
		{"over max", "abcde\r\nNOOP\r\n", 4, []lineResult{{"", ErrLineTooLong}, {"NOOP", nil}}},
		{"over buffer", long + "\r\nNOOP\r\n", 2048, []lineResult{{"", ErrLineTooLong}, {"NOOP", nil}}},
		{"long but allowed", long + "\r\n", 6000, []lineResult{{long, nil}}},
		{"eof mid line", "NOOP", 100, []lineResult{{"", io.ErrUnexpectedEOF}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				var src io.Reader = strings.NewReader(tt.in)
				if oneByte {
					src = iotest.OneByteReader(src)
				}
				got := readLines(t, NewReader(src), tt.max)
				if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b error) bool { return errors.Is(a, b) })); diff != "" {
					t.Errorf("oneByte=%v (-want +got):\n%s", oneByte, diff)
				}
			}
		})
	}
}

func TestReadChunk(t *testing.T) {
	r := NewReader(strings.NewReader("0123456789BDAT 1 LAST\r\n"))
	var buf bytes.Buffer
	if err := r.ReadChunk(&buf, 10); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "0123456789" {
		t.Errorf("chunk = %q", buf.String())
	}
	line, err := r.ReadLine(100)
	if err != nil || string(line) != "BDAT 1 LAST" {
		t.Errorf("next line = %q, %v", line, err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestReadChunkWriterFails(t *testing.T) {
	r := NewReader(iotest.OneByteReader(strings.NewReader("0123456789NOOP\r\n")))
	if err := r.ReadChunk(failWriter{}, 10); err == nil || err.Error() != "disk full" {
		t.Fatalf("err = %v, want disk full", err)
	}
	if line, err := r.ReadLine(100); err != nil || string(line) != "NOOP" {
		t.Errorf("next line = %q, %v: chunk not drained", line, err)
	}
}

func TestReadChunkShort(t *testing.T) {
	r := NewReader(strings.NewReader("0123"))
	if err := r.ReadChunk(io.Discard, 10); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err = %v, want unexpected EOF", err)
	}
}
