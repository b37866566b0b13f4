package imapd

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/google/go-cmp/cmp"
)

// TestEnvelopeAsLibrary checks that envelope, which parses only what
// ENVELOPE needs, gives what the library's ExtractEnvelope gives from the
// whole header.
func TestEnvelopeAsLibrary(t *testing.T) {
	headers := []string{
		"From: Alice <alice@example.org>\r\nTo: toto@localhost\r\nSubject: one\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <one@example.org>\r\n\r\n",
		"Received: from a by b; Mon, 2 Jan 2006 15:04:05 +0000\r\nDate: Tue,  4 Jun 2024 10:00:02 +0200 (CEST)\r\n" +
			"From: =?utf-8?q?Am=C3=A9lie?= <a@example.org>, b@example.org\r\nSender: s@example.org\r\nReply-To: r@example.org\r\n" +
			"To: Bob <bob@example.net>,\r\n Carol <carol@example.com>\r\nCc: c@example.org\r\nBcc: d@example.org\r\n" +
			"Subject: =?iso-8859-1?q?R=E9union?=\r\n de lundi\r\nIn-Reply-To: <x@y>\r\nMessage-Id: <m@y>\r\n\r\n",
		"Subject: first\r\nSubject: second\r\nDate: 2 Jan 2006 15:04:05 -0700\r\n\r\n",
		"Date: not a date\r\nFrom: no-at-sign\r\n\r\n",
		"Date: Mon, 2 Jan 2006 15:04:05 GMT\r\n\r\n",
		"Date: Mon, 2 Jan 2006 15:04:05 -0700 (MST)\r\nX-Long: a\r\n\tb\r\n\r\n",
		"",
	}
	for _, h := range headers {
		want := imapserver.ExtractEnvelope(parseHeader([]byte(h)))
		got := envelope([]byte(h))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("envelope(%q) differs from the library's (-library +ours):\n%s", h, diff)
		}
	}
	// A line that is no field: the library's parser gives up on the whole
	// header; ours skips the line.
	if env := envelope([]byte("no colon line\r\nSubject: after junk\r\n\r\n")); env.Subject != "after junk" {
		t.Errorf("after a line that is no field: subject %q", env.Subject)
	}
}

// FuzzEnvelope feeds arbitrary header sections (stored mail is whatever
// senders wrote) to envelope: it must not panic, and a well-formed
// Subject field first is always found (lines after it may fold into it).
func FuzzEnvelope(f *testing.F) {
	f.Add([]byte("From: a@b\r\nDate: Mon, 2 Jan 2006 15:04:05 +0000\r\n\r\n"))
	f.Add([]byte("Subject: =?utf-8?b?w6k=?=\r\n folded\r\n\r\nbody"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		envelope(raw)
		if env := envelope(append([]byte("Subject: fuzz\r\n"), raw...)); !strings.HasPrefix(env.Subject, "fuzz") {
			t.Errorf("Subject lost before %q: %q", raw, env.Subject)
		}
	})
}
