package sevenbit

import (
	"bytes"
	"testing"
)

// FuzzConvert checks, for any input, that Convert neither fails nor
// panics; that its output is 7-bit (but for 8-bit header fields, which
// it reports), with CRLF lines of at most 998 octets; that Needs agrees
// with what Convert did and finds nothing left in the output; and, where
// the standard library's MIME readers can read the input, that every
// leaf of the output decodes to the content of the same leaf of the
// input. A second run reads lines in pieces of a fuzzed small size.
func FuzzConvert(f *testing.F) {
	for _, m := range sevenBitMessages {
		f.Add([]byte(m), uint8(0))
	}
	f.Add([]byte(msg("Subject: x", "", "caf\xc3\xa9 =  ", "--", "x\t")), uint8(1))
	f.Add([]byte(msg("Content-Type: multipart/mixed; boundary=b", "", "pr\xe9", "--b", "Content-Type: text/plain", "", "\xe9\x00\rx", "--b", "Content-Type: application/octet-stream", "Content-Transfer-Encoding: 8bit", "", "\xff\xfe", "--b--", "\xe9")), uint8(2))
	f.Add([]byte(msg("Content-Type: multipart/mixed; boundary=o", "", "--o", "Content-Type: message/rfc822", "", "Subject: in", "Content-Type: multipart/alternative; boundary=i", "", "--i", "", "na\xc3\xafve", "--i--", "--o--")), uint8(3))
	f.Add([]byte(msg("Content-Type: text/plain", "Content-Transfer-Encoding: quoted-printable", "", "caf\xe9 =C3=A9 = ", "x=41=4", "=")), uint8(4))
	f.Add([]byte(msg("Content-Type: image/gif", "Content-Transfer-Encoding: base64", "", "R0lG\xa0ODlh")), uint8(5))
	f.Add([]byte(msg("Content-Type: multipart/digest; boundary=d", "", "--d", "", "Subject: a", "", "\xe9", "--d--")), uint8(6))
	f.Add([]byte("Subject: \xe9\nContent-Type: application/x; x=\"\nContent-Transfer-Encoding: binary\n\na\nb\r"), uint8(7))
	f.Fuzz(func(t *testing.T, in []byte, size uint8) {
		var out bytes.Buffer
		st, err := Convert(&out, bytes.NewReader(in))
		if err != nil {
			t.Fatalf("Convert: %v", err)
		}
		got := out.Bytes()
		if err := wireError(got, st.EightBitHeader); err != nil {
			t.Fatalf("%v in output:\n%q\ninput:\n%q", err, got, in)
		}
		need, err := Needs(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("Needs: %v", err)
		}
		if st.Converted > 0 && !need {
			t.Fatalf("Convert converted %d parts, Needs said no:\n%q", st.Converted, in)
		}
		if need && st.Converted == 0 && bytes.Equal(got, normalize(in)) {
			t.Fatalf("Needs said yes, Convert changed nothing:\n%q", in)
		}
		if need, err := Needs(bytes.NewReader(got)); need || err != nil {
			t.Fatalf("Needs(output) = %v, %v:\n%q\ninput:\n%q", need, err, got, in)
		}
		if strictCRLF(in) {
			if err := sameContent(in, got); err != nil && parsable(in) {
				t.Fatalf("%v\ninput:\n%q\noutput:\n%q", err, in, got)
			}
		}
		c := Converter{pieceSize: 16 + int(size)%48, MemoryLimit: 1 + int(size)}
		var small bytes.Buffer
		st, err = c.Convert(&small, bytes.NewReader(in))
		if err != nil {
			t.Fatalf("Convert in small pieces: %v", err)
		}
		if err := wireError(small.Bytes(), st.EightBitHeader); err != nil {
			t.Fatalf("in small pieces, %v in output:\n%q\ninput:\n%q", err, small.Bytes(), in)
		}
	})
}

// normalize returns msg with CRLF for every line ending and at its end.
func normalize(msg []byte) []byte {
	if len(msg) == 0 {
		return nil
	}
	var b bytes.Buffer
	for line := range bytes.Lines(msg) {
		if l, ok := bytes.CutSuffix(line, lf); ok {
			line = bytes.TrimSuffix(l, []byte("\r"))
		}
		b.Write(line)
		b.Write(crlf)
	}
	return b.Bytes()
}

// parsable reports whether the standard library's readers accept msg.
func parsable(msg []byte) bool {
	_, err := parseLeaves(msg)
	return err == nil
}
