package lineread

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// piece is a Piece with its Data as a string, for comparing.
type piece struct {
	Data            string
	EOL             int
	Start, End      bool
	Line            int
	Offset          int64
	Length, PrevEOL int
}

func readAll(t testing.TB, r *Reader) []piece {
	t.Helper()
	var got []piece
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("Next does not come to io.EOF")
		}
		p, err := r.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		got = append(got, piece{string(p.Data), p.EOL, p.Start, p.End, p.Line, p.Offset, p.Length, p.PrevEOL})
	}
}

func TestNext(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []piece
	}{
		{"empty input", "", nil},
		{"CRLF", "ab\r\ncd\r\n", []piece{
			{"ab", 2, true, true, 1, 0, 2, 0},
			{"cd", 2, true, true, 2, 4, 2, 2},
		}},
		{"bare LF", "ab\ncd\r\n\n", []piece{
			{"ab", 1, true, true, 1, 0, 2, 0},
			{"cd", 2, true, true, 2, 3, 2, 1},
			{"", 1, true, true, 3, 7, 0, 2},
		}},
		{"lone CR", "a\rb\r\r\n\r", []piece{
			{"a\rb\r", 2, true, true, 1, 0, 4, 0},
			{"\r", 0, true, true, 2, 6, 1, 2},
		}},
		{"last line without ending", "ab\r\ncd", []piece{
			{"ab", 2, true, true, 1, 0, 2, 0},
			{"cd", 0, true, true, 2, 4, 2, 2},
		}},
		{"empty lines", "\r\n\r\n", []piece{
			{"", 2, true, true, 1, 0, 0, 0},
			{"", 2, true, true, 2, 2, 0, 2},
		}},
		{"line longer than the piece size", "0123456789abcdef0123456789\r\nx\n", []piece{
			{"0123456789abcdef", 0, true, false, 1, 0, 16, 0},
			{"0123456789", 2, false, true, 1, 16, 26, 0},
			{"x", 1, true, true, 2, 28, 1, 2},
		}},
		{"CRLF across the buffer edge", "0123456789abcde\r\nx\r\n", []piece{
			{"0123456789abcde", 0, true, false, 1, 0, 15, 0},
			{"", 2, false, true, 1, 15, 15, 0},
			{"x", 2, true, true, 2, 17, 1, 2},
		}},
		{"lone CR at the buffer edge", "0123456789abcde\rx\n", []piece{
			{"0123456789abcde", 0, true, false, 1, 0, 15, 0},
			{"\rx", 1, false, true, 1, 15, 17, 0},
		}},
		{"lone CR last, at the buffer edge", "0123456789abcde\r", []piece{
			{"0123456789abcde", 0, true, false, 1, 0, 15, 0},
			{"\r", 0, false, true, 1, 15, 16, 0},
		}},
		{"buffer of CRs", strings.Repeat("\r", 20) + "\n", []piece{
			{strings.Repeat("\r", 15), 0, true, false, 1, 0, 15, 0},
			{strings.Repeat("\r", 4), 2, false, true, 1, 15, 19, 0},
		}},
		{"last line without ending fills the buffer", "a\n0123456789abcdef", []piece{
			{"a", 1, true, true, 1, 0, 1, 0},
			{"0123456789abcdef", 0, true, false, 2, 2, 16, 1},
			{"", 0, false, true, 2, 18, 16, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, src := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(tt.in)},
				{"one octet at a time", iotest.OneByteReader(strings.NewReader(tt.in))},
			} {
				got := readAll(t, NewReader(src.r, MinSize))
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s: pieces of %q (-want +got):\n%s", src.name, tt.in, diff)
				}
			}
		})
	}
}

func TestUnread(t *testing.T) {
	r := NewReader(strings.NewReader("first\r\nsecond line, longer\nthird"), MinSize)
	var got []string
	for i := 0; i < 100; i++ {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		r.Unread(p)
		again, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		// The piece comes back whole, its data copied out of the buffer
		// that the next read overwrites.
		want := p
		want.Data = append([]byte(nil), p.Data...)
		if diff := cmp.Diff(want, again); diff != "" {
			t.Fatalf("Next after Unread (-want +got):\n%s", diff)
		}
		got = append(got, string(again.Data))
	}
	want := []string{"first", "second line, lon", "ger", "third"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
}

func TestReset(t *testing.T) {
	r := NewReader(strings.NewReader("a\r\nbc\r\nd"), MinSize)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	p, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	r.Unread(p)
	r.Reset(strings.NewReader("x\ny"))
	want := []piece{
		{"x", 1, true, true, 1, 0, 1, 0},
		{"y", 0, true, true, 2, 2, 1, 1},
	}
	if diff := cmp.Diff(want, readAll(t, r)); diff != "" {
		t.Errorf("pieces after Reset (-want +got):\n%s", diff)
	}
	if r.Size() != MinSize {
		t.Errorf("Size() = %d, want %d", r.Size(), MinSize)
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader("a\r\n"), iotest.ErrReader(boom)), MinSize)
	if p, err := r.Next(); err != nil || string(p.Data) != "a" {
		t.Fatalf("Next() = %q, %v; want \"a\", nil", p.Data, err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("Next() error = %v, want %v", err, boom)
	}
}

func TestEnding(t *testing.T) {
	for eol, want := range map[int]string{0: "", 1: "\n", 2: "\r\n"} {
		e := Piece{EOL: eol}.Ending()
		if string(e) != want || len(e) != eol {
			t.Errorf("Ending() with EOL %d = %q, want %q", eol, e, want)
		}
		if eol > 0 && cap(e) != len(e) {
			t.Errorf("Ending() with EOL %d has room to append: cap %d", eol, cap(e))
		}
	}
}

// lines splits in into its lines as RFC 5322 reads them with bare LF as
// a line ending: each line's data and the length of its ending.
func lines(in []byte) (data [][]byte, eol []int) {
	for len(in) > 0 {
		line, rest, found := bytes.Cut(in, []byte("\n"))
		n := 0
		if found {
			n = 1
			if l, ok := bytes.CutSuffix(line, []byte("\r")); ok {
				line, n = l, 2
			}
		}
		data, eol = append(data, line), append(eol, n)
		in = rest
	}
	return data, eol
}

// FuzzNext checks that the pieces put together give the input back, line
// by line, with their line numbers, offsets and lengths, whatever the
// piece size; and that a piece handed back comes again.
func FuzzNext(f *testing.F) {
	f.Add([]byte("a\r\nb\nc\rd"), uint8(0))
	f.Add([]byte("0123456789abcde\r\n0123456789abcdef"), uint8(0))
	f.Add([]byte("\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\n\n"), uint8(1))
	f.Add([]byte(""), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, size uint8) {
		sz := MinSize + int(size)%64
		r := NewReader(bytes.NewReader(in), sz)
		wantData, wantEOL := lines(in)
		var out []byte
		var line []byte
		var off int64
		n, prevEOL := 0, 0
		ended := true // the last piece ended its line
		for i := 0; i <= 2*len(in)+1; i++ {
			p, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if i%3 == 0 {
				r.Unread(p)
				if p, err = r.Next(); err != nil {
					t.Fatal(err)
				}
			}
			if p.Start {
				n++
				line = line[:0]
				if p.PrevEOL != prevEOL {
					t.Fatalf("line %d: PrevEOL %d, want %d", n, p.PrevEOL, prevEOL)
				}
			}
			if p.Line != n || p.Offset != off {
				t.Fatalf("piece %d: line %d at %d, want line %d at %d", i, p.Line, p.Offset, n, off)
			}
			if len(p.Data) > sz || !p.End && (len(p.Data) == 0 || p.EOL != 0) {
				t.Fatalf("piece %d: %d octets, EOL %d, End %v", i, len(p.Data), p.EOL, p.End)
			}
			line = append(line, p.Data...)
			if p.Length != len(line) {
				t.Fatalf("line %d: Length %d, want %d", n, p.Length, len(line))
			}
			out = append(append(out, p.Data...), p.Ending()...)
			ended = p.End
			off += int64(len(p.Data) + p.EOL)
			if p.End {
				if n > len(wantData) || !bytes.Equal(line, wantData[n-1]) || p.EOL != wantEOL[n-1] {
					t.Fatalf("line %d: %q EOL %d, want the input's line", n, line, p.EOL)
				}
				prevEOL = p.EOL
			}
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("pieces put together: %q, want %q", out, in)
		}
		if n != len(wantData) || !ended {
			t.Fatalf("%d lines, the last ended: %v; want %d lines", n, ended, len(wantData))
		}
	})
}
