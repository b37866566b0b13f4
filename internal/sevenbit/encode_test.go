package sevenbit

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"mime/quotedprintable"
	"strings"
	"testing"
)

// qp runs lines through a qpWriter; a line ending in "\n" ends with a
// line break, the last line without one ends the body.
func qp(repair bool, bounds []string, lines ...string) string {
	var b bytes.Buffer
	o := &output{bw: bufio.NewWriter(&b), bol: true}
	q := &qpWriter{o: o, repair: repair}
	for _, s := range bounds {
		q.bounds = append(q.bounds, []byte(s))
	}
	for _, l := range lines {
		text, eol := strings.CutSuffix(l, "\n")
		q.write([]byte(text))
		q.endLine(eol)
	}
	o.bw.Flush()
	return b.String()
}

func TestQuotedPrintable(t *testing.T) {
	x72, x67 := strings.Repeat("x", 72), strings.Repeat("x", 67)
	tests := []struct {
		name   string
		repair bool
		bounds []string
		lines  []string
		want   string
	}{
		{"plain", false, nil, []string{"abc\n"}, "abc\r\n"},
		{"equals", false, nil, []string{"a=b\n"}, "a=3Db\r\n"},
		{"trailing space", false, nil, []string{"trailing \n", "tab\t\n", "  \n"}, "trailing=20\r\ntab=09\r\n =20\r\n"},
		{"trailing space at the end", false, nil, []string{"x "}, "x=20"},
		{"controls and 8-bit", false, nil, []string{"\x00\x7f\x80\xff\t~ \r\n"}, "=00=7F=80=FF\t~ =0D\r\n"},
		{"soft breaks", false, nil, []string{strings.Repeat("a", 200) + "\n"}, strings.Repeat("a", 72) + "=\r\n" + strings.Repeat("a", 72) + "=\r\n" + strings.Repeat("a", 56) + "\r\n"},
		{"escape not split", false, nil, []string{strings.Repeat("a", 71) + "\xe9\n"}, strings.Repeat("a", 71) + "=\r\n=E9\r\n"},
		{"boundary lookalike", false, []string{"b"}, []string{"--b\n", "--x\n", "-- \n"}, "=2D-b\r\n--x\r\n--=20\r\n"},
		{"boundary after a soft break", false, []string{"b"}, []string{x72 + "--b\n"}, x72 + "=\r\n=2D-b\r\n"},
		{"no boundary, no escape", false, nil, []string{"--b\n"}, "--b\r\n"},
		{"repair 8-bit", true, nil, []string{"caf\xe9 =C3=A9\n"}, "caf=E9 =C3=A9\r\n"},
		{"repair keeps =", true, nil, []string{"a=\n", "=zz\n"}, "a=\r\n=zz\r\n"},
		{"repair drops trailing blanks", true, nil, []string{"abc \t \n", "d  "}, "abc\r\nd"},
		{"repair keeps inner blanks", true, nil, []string{"a  b\n"}, "a  b\r\n"},
		{"repair controls", true, nil, []string{"\x00\r\x1b\n"}, "=00=0D=1B\r\n"},
		{"repair fits an escape", true, nil, []string{strings.Repeat("x", 66) + "=41\n"}, strings.Repeat("x", 66) + "=41\r\n"},
		{"repair breaks before an escape", true, nil, []string{x67 + "=41\n"}, x67 + "=\r\n=41\r\n"},
		{"repair never splits after =", true, nil, []string{strings.Repeat("x", 66) + "=\xe9\xe9\n"}, strings.Repeat("x", 66) + "==E9=E9\r\n"},
		{"repair boundary lookalike", true, []string{"b"}, []string{"--b=\n"}, "=2D-b=\r\n"},
	}
	for _, tt := range tests {
		if got := qp(tt.repair, tt.bounds, tt.lines...); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

// TestQuotedPrintableRoundTrip encodes random lines and decodes them with
// the standard library.
func TestQuotedPrintableRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("aZ09 \t=-.\x00\r\x7f\x80\xc3\xa9\xff")
	for range 500 {
		var lines []string
		var want strings.Builder
		for n := rng.IntN(5); n >= 0; n-- {
			line := make([]byte, rng.IntN(300))
			for i := range line {
				line[i] = alphabet[rng.IntN(len(alphabet))]
			}
			lines = append(lines, string(line)+"\n")
			want.Write(line)
			want.WriteString("\r\n")
		}
		enc := qp(false, []string{"-"}, lines...)
		for l := range strings.SplitSeq(strings.TrimSuffix(enc, "\r\n"), "\r\n") {
			if len(l) > 76 || strings.HasPrefix(l, "---") {
				t.Fatalf("encoded line %q", l)
			}
		}
		got, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(enc)))
		if err != nil || string(got) != want.String() {
			t.Fatalf("decoded %q, %v\nwant %q\nencoded %q", got, err, want.String(), enc)
		}
	}
}

func TestWrapWriter(t *testing.T) {
	var b bytes.Buffer
	o := &output{bw: bufio.NewWriter(&b), bol: true}
	w := &wrapWriter{o: o}
	w.Write([]byte(strings.Repeat("A", 100)))
	w.writeAlphabet([]byte("\xe9B \x00C\r\n" + strings.Repeat("D", 60)))
	o.bw.Flush()
	want := strings.Repeat("A", 76) + "\r\n" + strings.Repeat("A", 24) + "BC" + strings.Repeat("D", 50) + "\r\n" + strings.Repeat("D", 10)
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
}

func TestPlain(t *testing.T) {
	naive := func(p []byte) bool {
		for _, c := range p {
			if c >= 0x80 || c == 0 || c == '\r' {
				return false
			}
		}
		return true
	}
	buf := []byte(strings.Repeat("a", 19))
	for i := range buf {
		for c := range 256 {
			buf[i] = byte(c)
			if got, want := plain(buf[:i+1]), naive(buf[:i+1]); got != want {
				t.Fatalf("plain(%q) = %v", buf[:i+1], got)
			}
			if got, want := plain(buf), naive(buf); got != want {
				t.Fatalf("plain(%q) = %v", buf, got)
			}
		}
		buf[i] = 'a'
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		p := make([]byte, rng.IntN(40))
		for i := range p {
			p[i] = byte(rng.IntN(256))
			if rng.IntN(2) == 0 {
				p[i] = byte(rng.IntN(128))
			}
		}
		if plain(p) != naive(p) {
			t.Fatalf("plain(%q) = %v", p, plain(p))
		}
	}
}
