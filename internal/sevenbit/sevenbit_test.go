package sevenbit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime/quotedprintable"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

// msg joins lines with CRLF and ends the last one.
func msg(lines ...string) string {
	return strings.Join(lines, "\r\n") + "\r\n"
}

// Messages that need nothing: Convert must copy them byte for byte.
var sevenBitMessages = map[string]string{
	"plain":       msg("From: a@example.org", "Subject: hi", "", "Hello.", "", "-- ", "a"),
	"header only": msg("From: a@example.org", "Subject: nothing else"),
	"empty body":  msg("Subject: x", ""),
	"multipart": msg(
		"MIME-Version: 1.0",
		`Content-Type: multipart/mixed; boundary="=_b 1"`,
		"",
		"This is a preamble.",
		"--=_b 1",
		"Content-Type: text/plain; charset=us-ascii",
		"",
		"text",
		"--=_b 1  ",
		"Content-Type: application/octet-stream",
		"Content-Transfer-Encoding: base64",
		"",
		"AAECAwQF",
		"--=_b 1",
		"",
		"--=_b 1",
		"Content-Type: text/plain",
		"Content-Transfer-Encoding: quoted-printable",
		"",
		"caf=C3=A9 =",
		"au lait",
		"--=_b 1--",
		"epilogue",
	),
	"nested message": msg(
		"Content-Type: message/rfc822",
		"",
		"Subject: inner",
		"Content-Type: multipart/alternative;",
		"\tboundary=inner",
		"",
		"--inner",
		"",
		"plain",
		"--inner--",
	),
	"not MIME": msg("Subject: x", "", "--b", "Content-Type: text/plain", "", "x", "--b--"),
}

func TestConvertSevenBitUnchanged(t *testing.T) {
	for name, in := range sevenBitMessages {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			st, err := Convert(&out, strings.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != in {
				t.Errorf("changed:\n got %q\nwant %q", out.String(), in)
			}
			if st != (Stats{}) {
				t.Errorf("Stats = %+v, want zero", st)
			}
			if need, err := Needs(strings.NewReader(in)); need || err != nil {
				t.Errorf("Needs = %v, %v; want false", need, err)
			}
		})
	}
}

func TestConvert(t *testing.T) {
	long := strings.Repeat("0123456789 ", 300)
	tests := []struct {
		name       string
		in         string
		converted  int
		eightBit   bool
		contains   []string // in the output
		absent     []string // not in the output
		noMIMEtest bool     // the standard library cannot read the input
	}{{
		name:      "8-bit text/plain",
		in:        msg("Subject: x", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "", "Caf\xc3\xa9 cr\xc3\xa8me =  ", "x\t", "--", "end"),
		converted: 1,
		contains:  []string{"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\nMIME-Version: 1.0\r\n", "Caf=C3=A9 cr=C3=A8me =3D =20\r\n", "x=09\r\n", "\r\n--\r\nend\r\n"},
		absent:    []string{"8bit"},
	}, {
		name:      "missing CTE, MIME-Version kept",
		in:        msg("MIME-Version: 1.0", "Content-Type: text/html", "", "<p>\xe9t\xe9</p>"),
		converted: 1,
		contains:  []string{"MIME-Version: 1.0\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>=E9t=E9</p>\r\n"},
	}, {
		name:      "no header at all",
		in:        msg("\xe9t\xe9 is not a field", "x"),
		converted: 1,
		contains:  []string{"MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E9t=E9 is not a field\r\nx\r\n"},
		// net/mail refuses a message that does not start with a header.
		noMIMEtest: true,
	}, {
		name:      "application/octet-stream",
		in:        msg("Content-Type: application/octet-stream", "Content-Transfer-Encoding: 8bit", "", "\x00\x01\xff\xfe", "\x80\r\n"),
		converted: 1,
		contains:  []string{"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nMIME-Version: 1.0\r\n\r\n" + base64.StdEncoding.EncodeToString([]byte("\x00\x01\xff\xfe\r\n\x80\r\n\r\n")) + "\r\n"},
	}, {
		name: "nested multipart",
		in: msg(
			"MIME-Version: 1.0",
			`Content-Type: multipart/mixed; BOUNDARY="outer"`,
			"Content-Transfer-Encoding: 8bit",
			"",
			"--outer",
			"Content-Type: multipart/alternative; boundary=alt",
			"",
			"--alt",
			"Content-Type: text/plain; charset=iso-8859-1",
			"",
			"caf\xe9",
			"--alt",
			"Content-Type: text/html; charset=iso-8859-1",
			"",
			"<b>caf\xe9</b>",
			"",
			"--alt--",
			"--outer",
			"Content-Type: image/png",
			"Content-Disposition: attachment; filename=x.png",
			"",
			"\x89PNG",
			"--outer",
			"Content-Type: text/plain",
			"",
			"7-bit part",
			"--outer--",
		),
		converted: 3,
		contains: []string{
			"Content-Type: multipart/mixed; BOUNDARY=\"outer\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n--outer\r\n",
			"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9\r\n--alt\r\n",
			"<b>caf=E9</b>\r\n\r\n--alt--\r\n",
			"Content-Disposition: attachment; filename=x.png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw==\r\n--outer\r\n",
			"Content-Type: text/plain\r\n\r\n7-bit part\r\n--outer--\r\n",
		},
		absent: []string{"MIME-Version: 1.0\r\nMIME-Version"},
	}, {
		name: "message/rfc822",
		in: msg(
			"Content-Type: multipart/mixed; boundary=b",
			"",
			"--b",
			"Content-Type: message/rfc822",
			"Content-Transfer-Encoding: 8bit",
			"",
			"Subject: forwarded",
			"Content-Type: text/plain; charset=utf-8",
			"",
			"na\xc3\xafve",
			"--b--",
		),
		converted: 1,
		contains:  []string{"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n\r\nSubject: forwarded\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nna=C3=AFve\r\n--b--\r\n"},
	}, {
		name: "multipart/digest",
		in: msg(
			"Content-Type: multipart/digest; boundary=d",
			"",
			"--d",
			"",
			"Subject: one",
			"",
			"\xe9",
			"--d--",
		),
		converted: 1,
		contains:  []string{"--d\r\n\r\nSubject: one\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E9\r\n--d--\r\n"},
	}, {
		name:      "8-bit preamble and epilogue",
		in:        msg("Content-Type: multipart/mixed; boundary=b", "", "pr\xe9ambule", "--b", "", "x", "--b--", "\xe9pilogue"),
		contains:  []string{"\r\npr=E9ambule\r\n--b\r\n\r\nx\r\n--b--\r\n=E9pilogue\r\n"},
		converted: 0,
	}, {
		name:      "8-bit header left and reported",
		in:        msg("Subject: caf\xc3\xa9", "Content-Type: text/plain; name=\"\xc3\xa9\"", "", "plain"),
		eightBit:  true,
		contains:  []string{"Subject: caf\xc3\xa9\r\n"},
		converted: 0,
	}, {
		name:      "8-bit header and body",
		in:        msg("Subject: caf\xc3\xa9", "", "caf\xc3\xa9"),
		eightBit:  true,
		converted: 1,
		contains:  []string{"Subject: caf\xc3\xa9\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n"},
	}, {
		name:      "long 7-bit line",
		in:        msg("Content-Type: text/plain", "", "short", long, "short"),
		converted: 1,
		contains:  []string{"\r\n\r\nshort\r\n0123456789 "},
	}, {
		name:      "long line in a binary attachment",
		in:        msg("Content-Type: multipart/mixed; boundary=b", "", "--b", "Content-Type: application/pdf", "", long, "--b--"),
		converted: 1,
		contains:  []string{"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nMDEy"},
	}, {
		name:      "NUL and lone CR",
		in:        "Content-Type: text/plain\r\n\r\na\x00b\rc\r\n\r\r\n",
		converted: 1,
		contains:  []string{"\r\n\r\na=00b=0Dc\r\n=0D\r\n"},
		// The standard library's readers keep a lone CR as it is.
		noMIMEtest: true,
	}, {
		name:       "bare LF",
		in:         "Subject: x\nContent-Type: text/plain\n\ncaf\xc3\xa9\nend\n",
		converted:  1,
		contains:   []string{"Subject: x\r\nContent-Type: text/plain\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\nend\r\n"},
		noMIMEtest: true,
	}, {
		name:      "binary declared, 7-bit content",
		in:        msg("Content-Type: application/x-thing", "Content-Transfer-Encoding: binary", "", "abc"),
		contains:  []string{"Content-Transfer-Encoding: 7bit\r\n\r\nabc\r\n"},
		converted: 0,
	}, {
		name:       "binary declared, bare LF kept",
		in:         "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/x-thing\r\nContent-Transfer-Encoding: binary\r\n\r\na\nb\r\nc\r\n--b--\r\n",
		converted:  1,
		contains:   []string{"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString([]byte("a\nb\r\nc")) + "\r\n--b--\r\n"},
		noMIMEtest: true,
	}, {
		name:      "broken base64 repaired",
		in:        msg("Content-Type: image/gif", "Content-Transfer-Encoding: base64", "", "R0lG\xa0ODlh", strings.Repeat("AAAA", 300)),
		converted: 1,
		contains:  []string{"Content-Transfer-Encoding: base64\r\n\r\nR0lGODlhAAAA"},
		absent:    []string{"MIME-Version"},
	}, {
		name:      "broken quoted-printable repaired",
		in:        msg("Content-Type: text/plain", "Content-Transfer-Encoding: quoted-printable", "", "caf\xe9 =C3=A9 "+strings.Repeat("x", 100)+"=", "next   "),
		converted: 1,
		contains:  []string{"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 =C3=A9 xxx", "x=\r\nnext\r\n"},
	}, {
		name:      "quoted-printable never split after =",
		in:        msg("Content-Type: text/plain", "Content-Transfer-Encoding: quoted-printable", "", "\xe9"+strings.Repeat("=41", 40)),
		converted: 1,
	}, {
		name:      "unknown encoding",
		in:        msg("Content-Type: text/plain", "Content-Transfer-Encoding: x-uuencode", "", "\xe9"),
		converted: 1,
		contains:  []string{"Content-Transfer-Encoding: base64\r\n"},
		absent:    []string{"x-uuencode"},
		// The standard library does not know x-uuencode.
		noMIMEtest: true,
	}, {
		name:      "multipart without boundary",
		in:        msg("Content-Type: multipart/mixed", "", "--b", "", "\xe9", "--b--"),
		converted: 1,
		contains:  []string{"Content-Type: multipart/mixed\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n"},
	}, {
		name:      "closing delimiter never comes",
		in:        msg("Content-Type: multipart/mixed; boundary=b", "", "--b", "Content-Type: text/plain", "", "caf\xe9", "more"),
		converted: 1,
		contains:  []string{"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9\r\nmore\r\n"},
		// mime/multipart reports the missing delimiter.
		noMIMEtest: true,
	}, {
		name: "inner closing delimiter never comes",
		in: msg(
			"Content-Type: multipart/mixed; boundary=outer",
			"",
			"--outer",
			"Content-Type: multipart/alternative; boundary=inner",
			"",
			"--inner",
			"",
			"caf\xe9",
			"--outer",
			"Content-Type: application/octet-stream",
			"",
			"\xff",
			"--outer--",
		),
		converted: 2,
		contains: []string{
			"--inner\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9\r\n--outer\r\n",
			"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n/w==\r\n--outer--\r\n",
		},
		noMIMEtest: true,
	}, {
		name:      "delimiter lookalike inside quoted-printable",
		in:        msg("Content-Type: multipart/mixed; boundary=b", "", "--b", "", "\xe9", "--bx", "--b--"),
		converted: 1,
		contains:  []string{"\r\n=E9\r\n=2D-bx\r\n--b--\r\n"},
	}, {
		name:      "part without header",
		in:        msg("Content-Type: multipart/mixed; boundary=b", "", "--b", "caf\xe9 (no empty line)", "--b--"),
		converted: 1,
		contains:  []string{"--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 (no empty line)\r\n--b--\r\n"},
		// net/textproto refuses a header line without a colon.
		noMIMEtest: true,
	}, {
		name:      "long header line folded",
		in:        msg("Subject: "+long, "X-Token: "+strings.Repeat("x", 2100), "", "\xe9"),
		converted: 1,
		contains:  []string{"\r\n xxx"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			st, err := Convert(&out, strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got := out.Bytes()
			checkWire(t, got, tt.eightBit)
			if st.Converted != tt.converted || st.EightBitHeader != tt.eightBit {
				t.Errorf("Stats = %+v, want Converted %d, EightBitHeader %v", st, tt.converted, tt.eightBit)
			}
			for _, s := range tt.contains {
				if !bytes.Contains(got, []byte(s)) {
					t.Errorf("output lacks %q:\n%q", s, got)
				}
			}
			for _, s := range tt.absent {
				if bytes.Contains(got, []byte(s)) {
					t.Errorf("output has %q:\n%q", s, got)
				}
			}
			if !tt.noMIMEtest {
				if err := sameContent([]byte(tt.in), got); err != nil {
					t.Errorf("%v\noutput:\n%q", err, got)
				}
			}
			// The output needs nothing more, and converts to itself.
			if need, err := Needs(bytes.NewReader(got)); need || err != nil {
				t.Errorf("Needs(output) = %v, %v", need, err)
			}
			var again bytes.Buffer
			if st, err := Convert(&again, bytes.NewReader(got)); err != nil || st.Converted != 0 || !bytes.Equal(again.Bytes(), got) {
				t.Errorf("converting the output again: %+v, %v\n%q", st, err, again.Bytes())
			}
		})
	}
}

// TestConvertRoundTrip checks the decoded content of converted parts
// against the original octets, for bodies of every kind of octet.
func TestConvertRoundTrip(t *testing.T) {
	var all []byte
	for i := range 256 {
		if i != '\r' && i != '\n' {
			all = append(all, byte(i))
		}
	}
	bodies := map[string]string{
		"all octets":        string(all),
		"trailing blanks":   "\xe9 \r\n\t\r\n \t \r\nx",
		"equals":            "=\xe9=\r\n=3D=",
		"long 8-bit":        strings.Repeat("\xc3\xa9", 2000),
		"long, broken at =": strings.Repeat("a=", 100) + "\xe9",
		"dashes":            "--\xe9\r\n--bx\r\n-- \r\n" + strings.Repeat("-", 200),
		"empty lines":       "\r\n\r\n\xe9\r\n\r\n",
		"only 8-bit":        "\xff",
	}
	for name, body := range bodies {
		for _, ct := range []string{"text/plain", "application/octet-stream"} {
			t.Run(name+" "+ct, func(t *testing.T) {
				in := msg("Content-Type: multipart/mixed; boundary=b", "", "--b", "Content-Type: "+ct, "", body, "--b", "", "after", "--b--")
				var out bytes.Buffer
				st, err := Convert(&out, strings.NewReader(in))
				if err != nil || st.Converted != 1 {
					t.Fatalf("Convert = %+v, %v", st, err)
				}
				checkWire(t, out.Bytes(), false)
				leaves, err := parseLeaves(out.Bytes())
				if err != nil || len(leaves) != 2 {
					t.Fatalf("output has %d leaves, %v:\n%q", len(leaves), err, out.Bytes())
				}
				got, err := leaves[0].decode()
				if err != nil || string(got) != body {
					t.Errorf("decoded %s: %q, %v; want %q", leaves[0].cte, got, err, body)
				}
				if string(leaves[1].body) != "after" {
					t.Errorf("second part %q", leaves[1].body)
				}
				for line := range bytes.SplitSeq(leaves[0].body, crlf) {
					if len(line) > 76 {
						t.Errorf("encoded line of %d octets: %q", len(line), line)
					}
				}
			})
		}
	}
}

func TestConvertBrokenEncodings(t *testing.T) {
	// A broken quoted-printable body decodes after conversion to what the
	// standard library's lenient decoder made of it before.
	qp := "caf\xe9 =C3=A9 \x00 " + strings.Repeat("=41x", 40) + "= \r\n" + strings.Repeat("y ", 60) + "   \r\nlast=\xe9"
	in := msg("Content-Type: text/plain", "Content-Transfer-Encoding: quoted-printable", "", qp)
	want, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(strings.ReplaceAll(qp, "\x00", "=00"))))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := Convert(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	checkWire(t, out.Bytes(), false)
	_, body, _ := bytes.Cut(out.Bytes(), []byte("\r\n\r\n"))
	got, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
	if err != nil || !bytes.Equal(got, append(want, crlf...)) {
		t.Errorf("quoted-printable repaired decodes to\n%q, %v; want\n%q", got, err, want)
	}

	// A broken base64 body keeps its alphabet, in lines of 76.
	b64 := strings.Repeat("QUJD", 50) + "\xe9\x00 !" + "REVG\r\nR0g="
	in = msg("Content-Type: application/x", "Content-Transfer-Encoding: base64", "", b64)
	out.Reset()
	if _, err := Convert(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	checkWire(t, out.Bytes(), false)
	_, body, _ = bytes.Cut(out.Bytes(), []byte("\r\n\r\n"))
	got, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(body)))
	if want := strings.Repeat("ABC", 50) + "DEFGH"; err != nil || string(got) != want {
		t.Errorf("base64 repaired decodes to %q, %v; want %q", got, err, want)
	}
	if lines := bytes.Split(bytes.TrimSuffix(body, crlf), crlf); len(lines[0]) != base64Line {
		t.Errorf("first base64 line has %d characters", len(lines[0]))
	}
}

func TestConvertDeepNesting(t *testing.T) {
	var b strings.Builder
	const depth = MaxDepth + 20
	for i := range depth {
		b.WriteString("Content-Type: multipart/mixed; boundary=b" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "\r\n\r\n")
		b.WriteString("--b" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "\r\n")
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ncaf\xe9\r\n")
	in := b.String()
	var out bytes.Buffer
	st, err := Convert(&out, strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if st.Converted != 1 {
		t.Errorf("Converted = %d, want 1 (the entity past MaxDepth)", st.Converted)
	}
	checkWire(t, out.Bytes(), false)
	// The first MaxDepth levels go out as they came.
	prefix := in[:strings.Index(in, "Content-Type: multipart/mixed; boundary=b"+string(rune('a'+MaxDepth%26))+strings.Repeat("x", MaxDepth/26)+"\r\n")]
	if !strings.HasPrefix(out.String(), prefix) {
		t.Errorf("the levels above MaxDepth changed")
	}
}

func TestConvertSpool(t *testing.T) {
	dir := t.TempDir()
	body := strings.Repeat("caf\xc3\xa9 au lait\r\n", 5000)
	bin := strings.Repeat("\x00\xff\x10", 20000)
	in := msg("Content-Type: multipart/mixed; boundary=b", "", "--b", "Content-Type: text/plain", "", body, "--b", "Content-Type: application/octet-stream", "", bin, "--b", "", "small \xe9", "--b--")
	for _, limit := range []int{1, 64, 1 << 30} {
		var out bytes.Buffer
		c := Converter{TempDir: dir, MemoryLimit: limit}
		st, err := c.Convert(&out, strings.NewReader(in))
		if err != nil || st.Converted != 3 {
			t.Fatalf("limit %d: Convert = %+v, %v", limit, st, err)
		}
		checkWire(t, out.Bytes(), false)
		if err := sameContent([]byte(in), out.Bytes()); err != nil {
			t.Errorf("limit %d: %v", limit, err)
		}
		if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
			t.Errorf("limit %d: temporary directory holds %v, %v", limit, ents, err)
		}
	}
	c := Converter{TempDir: dir + "/missing", MemoryLimit: 16}
	if _, err := c.Convert(io.Discard, strings.NewReader(in)); err == nil {
		t.Errorf("Convert spooling into a missing directory succeeded")
	}
}

// TestConvertPieces cuts lines into the smallest pieces the line reader
// allows, so that lines, CRLFs and CRs are split everywhere.
func TestConvertPieces(t *testing.T) {
	in := msg("Subject: a header line longer than sixteen octets",
		"Content-Type: multipart/mixed; boundary=b", "", "--b", "Content-Type: text/plain", "",
		"caf\xe9 a line longer than the piece size, \rwith a CR", "0123456789abcde\r", "--b", "", "plain line of text", "--b--")
	for _, size := range []int{16, 17, 18, 31, 64 << 10} {
		var out bytes.Buffer
		c := Converter{pieceSize: size}
		st, err := c.Convert(&out, iotest.HalfReader(strings.NewReader(in)))
		if err != nil || st.Converted != 1 {
			t.Fatalf("size %d: Convert = %+v, %v", size, st, err)
		}
		want := msg("Subject: a header line longer than sixteen octets",
			"Content-Type: multipart/mixed; boundary=b", "", "--b", "Content-Type: text/plain", "Content-Transfer-Encoding: quoted-printable", "",
			"caf=E9 a line longer than the piece size, =0Dwith a CR", "0123456789abcde=0D", "--b", "", "plain line of text", "--b--")
		if out.String() != want {
			t.Errorf("size %d:\n got %q\nwant %q", size, out.String(), want)
		}
	}
}

// TestConvertLastLineFillsPiece converts messages whose last line has no
// line ending and fills the line reader's buffer exactly: the line must
// not be lost, in a header section, a body re-encoded or an epilogue.
func TestConvertLastLineFillsPiece(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Subject: 0123456", "Subject: 0123456\r\n"},
		{"Subject: x\r\n\r\ncaf\xe9 0123456789a",
			"Subject: x\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 0123456789a\r\n"},
		{"Subject: x\r\n\r\n0123456789abcdef", "Subject: x\r\n\r\n0123456789abcdef\r\n"},
		{"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\ncaf\xe9 0123456789a",
			"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\ncaf=E9 0123456789a\r\n"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		c := Converter{pieceSize: 16}
		if _, err := c.Convert(&out, strings.NewReader(tt.in)); err != nil {
			t.Fatalf("Convert(%q): %v", tt.in, err)
		}
		if out.String() != tt.want {
			t.Errorf("Convert(%q):\n got %q\nwant %q", tt.in, out.String(), tt.want)
		}
	}
}

func TestNeeds(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"7-bit", msg("Subject: x", "", "hi"), false},
		{"mislabelled 8bit", msg("Content-Transfer-Encoding: 8bit", "", "hi"), false},
		{"8-bit header only", msg("Subject: caf\xc3\xa9", "", "hi"), false},
		{"8-bit body", msg("Subject: x", "", "caf\xc3\xa9"), true},
		{"8-bit in a part", msg("Content-Type: multipart/mixed; boundary=b", "", "--b", "", "\xe9", "--b--"), true},
		{"8-bit preamble", msg("Content-Type: multipart/mixed; boundary=b", "", "\xe9", "--b", "", "x", "--b--"), true},
		{"8-bit epilogue", msg("Content-Type: multipart/mixed; boundary=b", "", "--b", "", "x", "--b--", "\xe9"), true},
		{"NUL", msg("Subject: x", "", "a\x00"), true},
		{"lone CR", "Subject: x\r\n\r\na\rb\r\n", true},
		{"long line", msg("Subject: x", "", strings.Repeat("x", 999)), true},
		{"line of 998", msg("Subject: x", "", strings.Repeat("x", 998)), false},
		{"long header line", msg("Subject: " + strings.Repeat("x", 990)), true},
		{"binary", msg("Content-Transfer-Encoding: binary", "", "x"), true},
		{"base64 with 8-bit", msg("Content-Transfer-Encoding: base64", "", "QUJD\xe9"), true},
		{"bare LF only", "Subject: x\n\nhi\n", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		got, err := Needs(strings.NewReader(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("%s: Needs = %v, %v; want %v", tt.name, got, err, tt.want)
		}
		var out bytes.Buffer
		st, err := Convert(&out, strings.NewReader(tt.in))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if changed := st.Converted > 0 || out.String() != strings.ReplaceAll(strings.ReplaceAll(tt.in, "\r\n", "\n"), "\n", "\r\n"); changed != tt.want {
			t.Errorf("%s: Needs = %v but Convert changed the message: %v", tt.name, tt.want, changed)
		}
	}
}

var errBroken = errors.New("broken")

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n < len(p) {
		return 0, errBroken
	}
	w.n -= len(p)
	return len(p), nil
}

func TestConvertErrors(t *testing.T) {
	in := msg("Content-Type: multipart/mixed; boundary=b", "", "--b", "", strings.Repeat("caf\xe9\r\n", 20000), "--b--")
	if _, err := Convert(&failWriter{n: 100}, strings.NewReader(in)); !errors.Is(err, errBroken) {
		t.Errorf("Convert to a failing writer: %v", err)
	}
	r := iotest.TimeoutReader(strings.NewReader(in)) // fails at its second read
	if _, err := Convert(io.Discard, r); !errors.Is(err, iotest.ErrTimeout) {
		t.Errorf("Convert from a failing reader: %v", err)
	}
	r = iotest.TimeoutReader(strings.NewReader(strings.Repeat("cafe\r\n", 20000)))
	if _, err := Needs(r); !errors.Is(err, iotest.ErrTimeout) {
		t.Errorf("Needs from a failing reader: %v", err)
	}
}

// BenchmarkConvert converts a 5 MB message: an 8-bit text part, an 8-bit
// attachment and a 7-bit part, with bodies past the memory limit spooled.
func BenchmarkConvert(b *testing.B) {
	text := strings.Repeat("Les na\xc3\xafves caf\xc3\xa9s cr\xc3\xa8me, une ligne de texte ordinaire.\r\n", 30000)
	var bin []byte
	for i := range 1 << 20 {
		bin = append(bin, byte(i*7), byte(i>>3))
	}
	plain := strings.Repeat("A 7-bit line of text, copied as it is.\r\n", 20000)
	in := []byte(msg("Subject: bench", "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=b", "",
		"--b", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "", text,
		"--b", "Content-Type: application/octet-stream", "Content-Transfer-Encoding: 8bit", "", string(bin),
		"--b", "Content-Type: text/plain", "", plain, "--b--"))
	c := Converter{TempDir: b.TempDir()}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Convert(io.Discard, bytes.NewReader(in)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNeeds scans the same 5 MB message, 7-bit throughout.
func BenchmarkNeeds(b *testing.B) {
	in := []byte(msg("Subject: bench", "", strings.Repeat("A 7-bit line of text, nothing to convert in it.\r\n", 100000)))
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if need, err := Needs(bytes.NewReader(in)); need || err != nil {
			b.Fatal(need, err)
		}
	}
}

// TestConvertHeaderLimit checks that header sections past headerLimit
// lose nothing: the rest is body.
func TestConvertHeaderLimit(t *testing.T) {
	fields := strings.Repeat("X-Field: a value of some length, to fill the limit\r\n", headerLimit/50+100)
	huge := "X-Huge:" + strings.Repeat("a", headerLimit+pieceSize/2)
	for name, hdr := range map[string]string{"many fields": fields, "one huge field": huge} {
		t.Run(name, func(t *testing.T) {
			in := msg("Content-Type: multipart/mixed; boundary=b", "", "--b", strings.TrimSuffix(hdr, "\r\n"), "", "caf\xe9", "--b", "", "x", "--b--")
			var out bytes.Buffer
			if _, err := Convert(&out, strings.NewReader(in)); err != nil {
				t.Fatal(err)
			}
			checkWire(t, out.Bytes(), false)
			// The header lines held and the body lines keep every octet of
			// the fields, whatever folds, soft breaks and the new
			// Content-Transfer-Encoding field come between.
			got := strings.Replace(out.String(), "Content-Transfer-Encoding: quoted-printable\r\n\r\n", "", 1)
			got = strings.NewReplacer("=\r\n", "", "\r\n ", "", "\r\n", "").Replace(got)
			want := strings.ReplaceAll(hdr, "\r\n", "")
			if !strings.Contains(got, want) {
				t.Errorf("the header section lost octets")
			}
			if !strings.HasSuffix(out.String(), "\r\n--b\r\n\r\nx\r\n--b--\r\n") {
				t.Errorf("the next part changed")
			}
		})
	}
}
