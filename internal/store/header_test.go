package store

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name, in string
		want     header
	}{
		{"full", sample, header{"René <rene@example.org>", "toto@localhost, bob@example.org", "hello",
			"Mon, 2 Jun 2025 10:00:00 +0000", "<1@example.org>"}},
		{"bare LF and case", "SUBJECT: hi\nfrom: a@b\n\nTo: body@x\n", header{from: "a@b", subject: "hi"}},
		{"first wins", "Subject: one\r\nSubject: two\r\n\r\n", header{subject: "one"}},
		{"folded tab", "Subject: a\r\n\tb\r\n\r\n", header{subject: "a b"}},
		{"malformed lines skipped", "garbage\r\nBad Name: x\r\nTo: t@x\r\n\r\n", header{to: "t@x"}},
		{"continuation without field", " orphan\r\nSubject: s\r\n", header{subject: "s"}},
		{"no body separator, cut short", "Subject: trunc", header{subject: "trunc"}},
		{"unknown charset left encoded", "Subject: =?x-unknown?q?a?=\r\n\r\n", header{subject: "=?x-unknown?q?a?="}},
		{"control characters blanked", "Subject: a\x00b\x1b[2J\r\n\r\n", header{subject: "a b [2J"}},
		{"invalid UTF-8 replaced", "Subject: \xff\r\n\r\n", header{subject: "\uFFFD"}},
		{"empty", "", header{}},
		{"body only", "\r\nSubject: no\r\n", header{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseHeader([]byte(tt.in)), cmp.AllowUnexported(header{})); diff != "" {
				t.Errorf("parseHeader(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
	long := parseHeader([]byte("Subject: " + strings.Repeat("é", 1000) + "\r\n\r\n"))
	if len(long.subject) > maxFieldLen || !utf8.ValidString(long.subject) {
		t.Errorf("long subject: %d bytes, valid=%v; want at most %d, valid", len(long.subject), utf8.ValidString(long.subject), maxFieldLen)
	}
}

// FuzzParseHeader checks that any message start yields bounded, valid
// UTF-8 fields free of control characters, without panicking.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("Subject: =?utf-8?b?w6k=?=\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h := parseHeader(b)
		for _, v := range []string{h.from, h.to, h.subject, h.date, h.messageID} {
			if len(v) > maxFieldLen || !utf8.ValidString(v) || strings.ContainsFunc(v, isControl) {
				t.Fatalf("parseHeader(%q) gave field %q", b, v)
			}
		}
	})
}

// FuzzNames checks that account and mailbox name normalisation is
// idempotent and never lets a path separator or control character through
// into an account name.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"toto", "Bob@Example.org", "INBOX/Sub", "a/b", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if a, err := accountName(s); err == nil {
			if again, err := accountName(a); err != nil || again != a || strings.ContainsAny(a, "/\x00") {
				t.Fatalf("accountName(%q) = %q, then %q, %v", s, a, again, err)
			}
		}
		if m, err := mailboxName(s); err == nil {
			if again, err := mailboxName(m); err != nil || again != m {
				t.Fatalf("mailboxName(%q) = %q, then %q, %v", s, m, again, err)
			}
		}
	})
}
