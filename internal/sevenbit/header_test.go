package sevenbit

import (
	"bytes"
	"strings"
	"testing"

	"facteur/internal/lineread"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		line    string
		started bool
		want    lineKind
	}{
		{"Subject: x", false, lineField},
		{"Subject:", false, lineField},
		{"Subject : obsolete", false, lineField},
		{"X-\x7fBad: x", false, lineOther},
		{"caf\xe9: x", false, lineOther},
		{"no colon", false, lineOther},
		{": no name", false, lineOther},
		{"a b: c", false, lineOther},
		{" continued", true, lineCont},
		{" continued", false, lineOther},
		{"\tcontinued", true, lineCont},
	}
	for _, tt := range tests {
		if got := classify([]byte(tt.line), tt.started); got != tt.want {
			t.Errorf("classify(%q, %v) = %v, want %v", tt.line, tt.started, got, tt.want)
		}
	}
}

func TestContentType(t *testing.T) {
	tests := []struct {
		field, mediaType, boundary string
	}{
		{"", "text/plain", ""},
		{"Content-Type: text/html; charset=utf-8", "text/html", ""},
		{`Content-Type: multipart/mixed; boundary="a b"`, "multipart/mixed", "a b"},
		{"Content-Type: Multipart/Mixed; BOUNDARY=xyz", "multipart/mixed", "xyz"},
		{"Content-Type: multipart/mixed;\r\n\tboundary=folded", "multipart/mixed", "folded"},
		{"Content-Type: multipart/mixed; boundary*=us-ascii''a%20b", "multipart/mixed", "a b"},
		// Refused by mime.ParseMediaType, read leniently.
		{`Content-Type: multipart/mixed; boundary="unterminated`, "multipart/mixed", "unterminated"},
		{"Content-Type: multipart/mixed; junk; boundary=x", "multipart/mixed", "x"},
		{"Content-Type: multipart/mixed (comment); boundary=(c) x", "multipart/mixed", "x"},
		{`Content-Type: multipart/mixed; boundary="a\"b"; boundary=c`, "multipart/mixed", `a"b`},
		{"Content-Type: multipart/mixed; boundary=\xe9\xe9", "multipart/mixed", "\xe9\xe9"},
		{"Content-Type: text", "text/plain", ""},
		{"Content-Type: /plain", "text/plain", ""},
		{"Content-Type: ", "text/plain", ""},
	}
	for _, tt := range tests {
		h := readTestHeader(t, tt.field)
		mt, b := h.contentType("text/plain")
		if mt != tt.mediaType || b != tt.boundary {
			t.Errorf("%q: contentType = %q, %q; want %q, %q", tt.field, mt, b, tt.mediaType, tt.boundary)
		}
	}
}

func TestEncoding(t *testing.T) {
	tests := []struct{ field, want string }{
		{"", ""},
		{"Content-Transfer-Encoding: 8bit", "8bit"},
		{"Content-Transfer-Encoding:  Base64 (comment)", "base64"},
		{"content-transfer-encoding: (c) QUOTED-Printable", "quoted-printable"},
		{"Content-Transfer-Encoding: 7bit\r\nContent-Transfer-Encoding: 8bit", "7bit"},
	}
	for _, tt := range tests {
		if got := readTestHeader(t, tt.field).encoding(); got != tt.want {
			t.Errorf("%q: encoding = %q, want %q", tt.field, got, tt.want)
		}
	}
}

// readTestHeader reads a header section made of fields.
func readTestHeader(t *testing.T, fields string) *header {
	t.Helper()
	w := &walker{lr: lineread.NewReader(strings.NewReader(fields+"\r\n\r\nbody\r\n"), pieceSize)}
	if _, err := w.readHeader(); err != nil || w.h.end != endBlank {
		t.Fatalf("readHeader(%q): %v, end %v", fields, err, w.h.end)
	}
	return &w.h
}

func TestFold(t *testing.T) {
	words := strings.Repeat("word ", 500)
	tests := []struct {
		name, line string
		unfold     string // what removing the folds must give back
	}{
		{"at white space", "Subject: " + words, "Subject: " + words},
		{"no white space", "X-Long:" + strings.Repeat("y", 2500), ""},
		{"leading blanks", "X-Blank:" + strings.Repeat(" ", 1200) + "z", "X-Blank:" + strings.Repeat(" ", 1200) + "z"},
		{"exactly 998", "X-998: " + strings.Repeat("z", 991), "X-998: " + strings.Repeat("z", 991)},
	}
	for _, tt := range tests {
		var h header
		h.reset()
		h.line = append(h.line, tt.line...)
		h.finishLine(lineField)
		out := h.buf
		for l := range bytes.SplitSeq(bytes.TrimSuffix(out, crlf), crlf) {
			if len(l) > maxLine {
				t.Errorf("%s: line of %d octets", tt.name, len(l))
			}
		}
		if tt.unfold != "" {
			if got := string(bytes.ReplaceAll(out, crlf, nil)); got != tt.unfold {
				t.Errorf("%s: unfolds to %q", tt.name, got)
			}
		} else if got := strings.ReplaceAll(string(out), "\r\n ", ""); got != tt.line+"\r\n" {
			t.Errorf("%s: without the inserted spaces, %q", tt.name, got)
		}
		if want := len(tt.line) > maxLine; h.changed != want {
			t.Errorf("%s: changed = %v", tt.name, h.changed)
		}
		if len(h.fields) != 1 || h.fields[0].end != len(out) {
			t.Errorf("%s: fields %+v", tt.name, h.fields)
		}
	}
}

func TestHeaderLoneCR(t *testing.T) {
	var h header
	h.reset()
	h.line = append(h.line, "Subject: a\rb \xe9"...)
	h.finishLine(lineField)
	if string(h.buf) != "Subject: a b \xe9\r\n" || !h.changed || !h.eightBit {
		t.Errorf("buf %q, changed %v, eightBit %v", h.buf, h.changed, h.eightBit)
	}
}
