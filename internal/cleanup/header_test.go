package cleanup

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHeaderScan(t *testing.T) {
	long := "X-Long: " + strings.Repeat("a", DefaultHeaderLimit) + "\r\n"
	tests := []struct {
		name  string
		in    string
		atEOF bool
		want  int // header length; -1: end not known yet
	}{
		{"blank line", "Subject: x\r\nFrom: a@b\r\n\r\nbody\r\n", false, 23},
		{"folded field", "Subject: x\r\n y\r\n\tz\r\n\r\nbody", false, 20},
		{"bare LF", "Subject: x\nTo: y\n\nbody", false, 17},
		{"no end yet", "Subject: x\r\nTo: y\r\n", false, -1},
		{"partial line", "Subject: x\r\nTo", false, -1},
		{"header only", "Subject: x\r\nTo: y\r\n", true, 19},
		{"header only no final CRLF", "Subject: x\r\nTo: y", true, 17},
		{"no header at all", "Hello there\r\nSubject: x\r\n\r\n", false, 0},
		{"first line continuation", " Subject: x\r\n\r\n", false, 0},
		{"non-field ends header", "Subject: x\r\nnot a field\r\n\r\nbody", false, 12},
		{"space before colon", "Subject : x\r\n\r\n", false, 13},
		{"empty message", "", true, 0},
		{"blank first", "\r\nbody\r\n", false, 0},
		{"mbox From line", "From a@b Fri Nov 27 23:14:58 2026\r\nSubject: x\r\n\r\n", false, 0},
		{"colon first", ": x\r\n\r\n", false, 0},
		{"trailing non-field at EOF", "Subject: x\r\nbody", true, 12},
		{"over the bound", "Subject: x\r\n" + long + "Y", false, len("Subject: x\r\n" + long)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scanAll(tt.in, tt.atEOF)
			if got != tt.want {
				t.Errorf("scan(%q) = %d, want %d", trunc(tt.in), got, tt.want)
			}
			// Fed one byte at a time, the scanner finds the same end.
			if tt.want >= 0 && len(tt.in) < 1000 {
				if got := scanBytewise(tt.in, tt.atEOF); got != tt.want {
					t.Errorf("bytewise scan(%q) = %d, want %d", tt.in, got, tt.want)
				}
			}
		})
	}
}

func scanAll(in string, atEOF bool) int {
	var s headerScanner
	n, ok := s.scan([]byte(in), atEOF)
	if !ok {
		return -1
	}
	return n
}

func scanBytewise(in string, atEOF bool) int {
	var s headerScanner
	for i := 1; i <= len(in); i++ {
		if n, ok := s.scan([]byte(in[:i]), false); ok {
			return n
		}
	}
	n, _ := s.scan([]byte(in), atEOF)
	return n
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want headerInfo
	}{
		{"none", "Subject: x\r\n", headerInfo{}},
		{"received counted without case", "Received: a\r\nRECEIVED: b\r\nreceived : c\r\n\tfolded\r\nX-Received: no\r\n",
			headerInfo{received: 3}},
		{"message-id folded", "Message-ID:\r\n <a@b>\r\nDate: Fri, 27 Nov 2026 23:14:58 +0000\r\n",
			headerInfo{messageID: "<a@b>", hasMsgID: true, hasDate: true}},
		{"lower case names", "message-id: <x@y>\r\ndate: now\r\n",
			headerInfo{messageID: "<x@y>", hasMsgID: true, hasDate: true}},
		{"first message-id wins", "Message-Id: <1@a>\r\nMessage-Id: <2@a>\r\n",
			headerInfo{messageID: "<1@a>", hasMsgID: true}},
		{"resent is not date", "Resent-Date: x\r\nDated: y\r\n", headerInfo{}},
		{"empty", "", headerInfo{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseHeader([]byte(tt.in))
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(headerInfo{})); diff != "" {
				t.Errorf("parseHeader(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestHeaderLimit: past header_size_limit the complete lines seen so far
// are the header, whatever comes after them.
func TestHeaderLimit(t *testing.T) {
	in := "Subject: one\r\nX-A: " + strings.Repeat("a", 40) + "\r\nX-B: b"
	s := headerScanner{limit: 50}
	n, ok := s.scan([]byte(in), false)
	if want := len("Subject: one\r\nX-A: " + strings.Repeat("a", 40) + "\r\n"); !ok || n != want {
		t.Errorf("scan with limit 50 = %d, %v; want %d, true", n, ok, want)
	}
	var unlimited headerScanner // the default limit is far larger
	if _, ok := unlimited.scan([]byte(in), false); ok {
		t.Error("the default limit ended a 64-byte header")
	}
}
