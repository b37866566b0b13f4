package dsn

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func toCRLF(b []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(b, crlf, []byte("\n")), []byte("\n"), crlf)
}

func toLF(b []byte) []byte {
	return bytes.ReplaceAll(b, crlf, []byte("\n"))
}

func TestParsePostfixBounce(t *testing.T) {
	cest := time.FixedZone("", 2*3600)
	want := Report{
		ReportingMTA: "mail.example.org",
		ArrivalDate:  time.Date(2024, 6, 3, 12, 0, 1, 0, cest),
		Recipients: []RecipientStatus{{
			OriginalRecipient: ORCPT{Type: "rfc822", Addr: "Bob@Example.NET"},
			FinalRecipient:    "bob@example.net",
			Action:            ActionFailed,
			Status:            "5.1.1",
			RemoteMTA:         "mx.example.net",
			DiagnosticCode:    "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown",
		}, {
			OriginalRecipient: ORCPT{Type: "rfc822", Addr: "carol@example.org"},
			FinalRecipient:    "carol@example.org",
			Action:            ActionFailed,
			Status:            "5.2.2",
			DiagnosticCode:    "mailbox quota exceeded",
			DiagnosticType:    "x-postfix",
		}},
	}
	raw := readTestdata(t, "postfix-bounce.eml")
	for name, in := range map[string][]byte{"LF": toLF(raw), "CRLF": toCRLF(raw)} {
		t.Run(name, func(t *testing.T) {
			p, err := ParseReport(bytes.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, p.Report); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			if !strings.Contains(p.Text, "<carol@example.org>: mailbox quota exceeded") {
				t.Errorf("text: %q", p.Text)
			}
			nl := "\n"
			if name == "CRLF" {
				nl = "\r\n"
			}
			if p.OriginalType != "message/rfc822" || !bytes.HasPrefix(p.Original, []byte("Return-Path: <alice@example.org>"+nl)) ||
				!bytes.HasSuffix(p.Original, []byte(".tail"+nl+"is a line that starts like the boundary but is not one."+nl)) {
				t.Errorf("original %s %q", p.OriginalType, p.Original)
			}
		})
	}
}

func TestParseEximBounce(t *testing.T) {
	p, err := ParseReport(bytes.NewReader(readTestdata(t, "exim-bounce.eml")))
	if err != nil {
		t.Fatal(err)
	}
	want := Report{
		ReportingMTA: "mx.exemple.fr",
		Recipients: []RecipientStatus{{
			FinalRecipient:  "zoe@exemple.fr",
			Action:          ActionFailed,
			Status:          "5.0.0",
			RemoteMTA:       "mx2.exemple.fr",
			DiagnosticCode:  "552 5.2.2 mailbox full",
			LastAttemptDate: time.Date(2024, 6, 3, 12, 0, 4, 0, time.FixedZone("", 2*3600)),
		}},
	}
	if diff := cmp.Diff(want, p.Report); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if p.OriginalType != "text/rfc822-headers" || !bytes.HasSuffix(p.Original, []byte("Message-ID: <lunch-2@example.org>\r\n")) {
		t.Errorf("original %s %q", p.OriginalType, p.Original)
	}
	if !strings.HasPrefix(p.Text, "This message was written") {
		t.Errorf("text %q", p.Text)
	}
}

const minimalStatus = "Reporting-MTA: dns; a.example\r\n\r\n" +
	"Final-Recipient: rfc822; b@example\r\nAction: failed\r\nStatus: 5.0.0\r\n"

var minimalReport = Report{ReportingMTA: "a.example",
	Recipients: []RecipientStatus{{FinalRecipient: "b@example", Action: ActionFailed, Status: "5.0.0"}}}

func TestParseReportShapes(t *testing.T) {
	qpLatin1 := "Content-Type: multipart/mixed; boundary=outer\r\n\r\n" +
		"--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n" +
		"--inner\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"D=E9sol=E9, votre message n'a pas =\r\n=E9t=E9 remis.\r\n" +
		"--inner\r\nContent-Type: text/html\r\n\r\n<p>HTML</p>\r\n--inner--\r\n" +
		"--outer\r\nContent-Type: message/global-delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		wrap76(base64.StdEncoding.EncodeToString([]byte(minimalStatus))) +
		"--outer--\r\n"
	tests := []struct {
		name, in     string
		text         string
		origType     string
		orig         string
		origTruncate bool
	}{
		{name: "nested text, quoted-printable, ISO-8859-1, base64 report", in: qpLatin1,
			text: "Désolé, votre message n'a pas été remis."},
		{name: "no text, no original, LF", in: "Content-Type: multipart/report; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\n" +
			strings.ReplaceAll(minimalStatus, "\r\n", "\n") + "--b--\n"},
		{name: "untyped part is text", in: "Content-Type: multipart/report; boundary=b\r\n\r\n--b\r\n\r\nhello\r\n" +
			"--b\r\nContent-Type: message/delivery-status\r\n\r\n" + minimalStatus + "--b--\r\n", text: "hello"},
		{name: "mbox From line and folded Content-Type", in: "From MAILER-DAEMON Mon Jun  3 12:00:05 2024\r\nContent-Type: multipart/report;\r\n\tboundary=\"b b\"\r\n\r\n" +
			"--b b\r\nContent-Type: message/delivery-status\r\n\r\n" + minimalStatus + "--b b--\r\n"},
		{name: "ends inside the original", in: "Content-Type: multipart/report; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: message/delivery-status\r\n\r\n" + minimalStatus + "\r\n" +
			"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: cut\r\n\r\nbody that st",
			origType: "message/rfc822", orig: "Subject: cut\r\n\r\nbody that st", origTruncate: true},
		{name: "ends after the report", in: "Content-Type: multipart/report; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: message/delivery-status\r\n\r\n" + minimalStatus + "\r\n--b\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseReport(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(minimalReport, p.Report); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			if p.Text != tt.text || p.OriginalType != tt.origType || string(p.Original) != tt.orig || p.OriginalTruncated != tt.origTruncate {
				t.Errorf("got text %q, original %q %q (truncated %v)", p.Text, p.OriginalType, p.Original, p.OriginalTruncated)
			}
		})
	}
}

func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	return b.String() + s + "\r\n"
}

func TestParseReportErrors(t *testing.T) {
	part := func(ct, body string) string { return "--b\r\nContent-Type: " + ct + "\r\n\r\n" + body + "\r\n" }
	head := "Content-Type: multipart/report; boundary=b\r\n\r\n"
	tests := []struct {
		name     string
		in       string
		noReport bool // errors.Is(err, ErrNoReport)
	}{
		{"empty", "", true},
		{"not multipart", "Content-Type: text/plain\r\n\r\nhello\r\n", true},
		{"no Content-Type", "Subject: x\r\n\r\n--b\r\n", true},
		{"no boundary", "Content-Type: multipart/report\r\n\r\n--b\r\n", true},
		{"boundary never seen", head + "--c\r\nContent-Type: message/delivery-status\r\n\r\n" + minimalStatus, true},
		{"no delivery-status part", head + part("text/plain", "hi") + "--b--\r\n", true},
		{"truncated before the report", head + part("text/plain", "hi") + "--b\r\nContent-Ty", false},
		{"bad status", head + part("message/delivery-status", strings.Replace(minimalStatus, "5.0.0", "6.0.0", 1)), false},
		{"bad base64", head + "--b\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n--b--\r\n", false},
		{"header too large", "X: " + strings.Repeat("x", maxHeaderSize) + "\r\n\r\n", false},
		{"too many parts", head + strings.Repeat(part("text/html", "x"), maxParts+1) + "--b--\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseReport(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("ParseReport accepted it: %+v", p)
			}
			if errors.Is(err, ErrNoReport) != tt.noReport {
				t.Errorf("error %v; want ErrNoReport %v", err, tt.noReport)
			}
		})
	}
}

func TestParseDeliveryStatus(t *testing.T) {
	good := []struct {
		name, in string
		want     Report
	}{
		{"minimal", minimalStatus, minimalReport},
		{"blank lines around and between", "\r\n\r\n" + strings.Replace(minimalStatus, "\r\n\r\n", "\r\n \r\n\r\n", 1) + "\r\n\r\n", minimalReport},
		{"no per-message block", "Final-Recipient: rfc822; b@example\nAction: failed\nStatus: 5.0.0\n",
			Report{Recipients: minimalReport.Recipients}},
		{"case, comments, brackets, repeated fields", "reporting-mta: DNS;a.example\n\n" +
			"FINAL-RECIPIENT: RFC822; <b@example>\nFinal-Recipient: rfc822; other@example\n" +
			"ACTION: Failed (gave up)\nstatus: 5.0.0 (unknown)\nX-Unknown: ignored\n", minimalReport},
		{"folded fields", "Reporting-MTA: dns;\n a.example\n\nFinal-Recipient:\n\trfc822;\n\tb@example\nAction: failed\nStatus: 5.0.0\n" +
			"Diagnostic-Code: smtp; 550\n  5.0.0\t\tno\n", Report{ReportingMTA: "a.example", Recipients: []RecipientStatus{{
			FinalRecipient: "b@example", Action: ActionFailed, Status: "5.0.0", DiagnosticCode: "550 5.0.0 no"}}}},
		{"utf-8 addresses", "Reporting-MTA: dns; a.example\n\nOriginal-Recipient: UTF-8; d\\x{E9}d\\x{E9}\\x{2B}x@b\n" +
			"Final-Recipient: utf-8; d\\x{E9}d\\x{e9}\\x{110000}\\x{}@b\nAction: delivered\nStatus: 2.0.0\n",
			Report{ReportingMTA: "a.example", Recipients: []RecipientStatus{{
				OriginalRecipient: ORCPT{Type: "utf-8", Addr: "dédé+x@b"},
				FinalRecipient:    `dédé\x{110000}\x{}@b`, Action: ActionDelivered, Status: "2.0.0"}}}},
		{"diagnostic without a type", "Final-Recipient: rfc822; b@example\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: 550 no; really\n",
			Report{Recipients: []RecipientStatus{{FinalRecipient: "b@example", Action: ActionFailed, Status: "5.0.0", DiagnosticCode: "550 no; really"}}}},
		{"empty diagnostic", "Final-Recipient: rfc822; b@example\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: x-foo;\n",
			Report{Recipients: []RecipientStatus{{FinalRecipient: "b@example", Action: ActionFailed, Status: "5.0.0"}}}},
	}
	for _, tt := range good {
		got, err := ParseDeliveryStatus(strings.NewReader(tt.in))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	rcpt := "Final-Recipient: rfc822; b@example\nAction: failed\nStatus: 5.0.0\n"
	bad := map[string]string{
		"empty":                    "",
		"only per-message":         "Reporting-MTA: dns; a\n",
		"no Final-Recipient":       "Reporting-MTA: dns; a\n\nAction: failed\nStatus: 5.0.0\n",
		"Final-Recipient no type":  "Reporting-MTA: dns; a\n\nFinal-Recipient: b@example\nAction: failed\nStatus: 5.0.0\n",
		"Final-Recipient empty":    "Reporting-MTA: dns; a\n\nFinal-Recipient: rfc822; <>\nAction: failed\nStatus: 5.0.0\n",
		"no Action":                "Reporting-MTA: dns; a\n\nFinal-Recipient: rfc822; b\nStatus: 5.0.0\n",
		"unknown Action":           strings.Replace(rcpt, "failed", "bounced", 1),
		"no Status":                "Final-Recipient: rfc822; b\nAction: failed\n",
		"Status class 3":           strings.Replace(rcpt, "5.0.0", "3.0.0", 1),
		"Status two parts":         strings.Replace(rcpt, "5.0.0", "5.0", 1),
		"Status long subject":      strings.Replace(rcpt, "5.0.0", "5.1000.0", 1),
		"Status letters":           strings.Replace(rcpt, "5.0.0", "5.x.0", 1),
		"bad Original-Recipient":   "Original-Recipient: nothing\n" + rcpt,
		"bad Arrival-Date":         "Reporting-MTA: dns; a\nArrival-Date: yesterday\n\n" + rcpt,
		"bad Last-Attempt-Date":    rcpt + "Last-Attempt-Date: 31 Feb 2024 25:00 +0000\n",
		"bad Will-Retry-Until":     rcpt + "Will-Retry-Until: soon\n",
		"line that is not a field": "Reporting-MTA: dns; a\nnonsense\n\n" + rcpt,
		"continuation first":       " folded\n" + rcpt,
		"too large":                "Reporting-MTA: dns; a\nX: " + strings.Repeat("x", maxStatusSize) + "\n\n" + rcpt,
		"too many fields":          strings.Repeat("X: y\n", maxFields) + "\n" + rcpt,
	}
	for name, in := range bad {
		if got, err := ParseDeliveryStatus(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted, %+v", name, got)
		}
	}
}

// repeatReader returns its pattern again and again, for large inputs that
// are never held whole in memory.
type repeatReader struct {
	pattern string
	off     int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.pattern[r.off:])
		n += c
		r.off = (r.off + c) % len(r.pattern)
	}
	return n, nil
}

func TestParseReportLargeOriginal(t *testing.T) {
	// A 25 MB original: Original keeps MaxOriginal octets of it.
	const size = 25 << 20
	head := "Content-Type: multipart/report; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: message/delivery-status\r\n\r\n" + minimalStatus + "\r\n" +
		"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: big\r\n\r\n"
	in := io.MultiReader(strings.NewReader(head),
		io.LimitReader(&repeatReader{pattern: strings.Repeat("z", 77) + "\r\n"}, size),
		strings.NewReader("\r\n--b--\r\n"))
	p, err := ParseReport(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Original) != MaxOriginal || !p.OriginalTruncated || !bytes.HasPrefix(p.Original, []byte("Subject: big\r\n")) {
		t.Errorf("original of %d octets, truncated %v", len(p.Original), p.OriginalTruncated)
	}
}

func FuzzParseReport(f *testing.F) {
	n := testNotice(failedBob(), RecipientStatus{FinalRecipient: "dédé@exemple.fr", Action: ActionDelayed,
		Status: "4.4.1", DiagnosticCode: "421-4.4.1 later\r\n421 4.4.1 really", WillRetryUntil: arrival})
	n.Report.EnvID = "QQ314159"
	for _, utf8 := range []bool{false, true} {
		n.UTF8 = utf8
		n.Original = strings.NewReader(original)
		var b bytes.Buffer
		if err := WriteNotice(&b, n); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
		f.Add(b.Bytes()[:b.Len()*2/3])
	}
	for _, name := range []string{"postfix-bounce.eml", "exim-bounce.eml"} {
		data := readTestdata(f, name)
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(bytes.ReplaceAll(data, []byte("boundary="), []byte("boundary=x")))
	}
	f.Add([]byte("Content-Type: multipart/report; boundary=\"\"\r\n\r\n--\r\n\r\n----\r\n"))
	f.Add([]byte("Content-Type: multipart/report; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseReport(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(p.Original) > MaxOriginal || len(p.Text) > 2*maxTextSize {
			t.Errorf("kept %d octets of original, %d of text", len(p.Original), len(p.Text))
		}
		checkParsedReport(t, p.Report)
	})
}

func FuzzParseDeliveryStatus(f *testing.F) {
	f.Add(minimalStatus)
	f.Add("Original-Envelope-Id: x\nReporting-MTA: dns; a\nReceived-From-MTA: dns; c\nArrival-Date: Mon, 3 Jun 2024 10:00:00 +0200\n\n" +
		"Original-Recipient: utf-8; a\\x{E9}\\x{5C}@b\nFinal-Recipient: utf-8; <\\x{41}>\nAction: delayed\nStatus: 4.0.0\n" +
		"Remote-MTA: dns; d\nDiagnostic-Code: x-y; z\n z\nLast-Attempt-Date: 3 Jun 2024 10:00 +0000\nWill-Retry-Until: 4 Jun 2024 10:00 +0000\n")
	f.Add("Final-Recipient: rfc822; <<b>>\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp;\n")
	f.Fuzz(func(t *testing.T, s string) {
		rep, err := ParseDeliveryStatus(strings.NewReader(s))
		if err != nil {
			return
		}
		checkParsedReport(t, rep)
	})
}

// checkParsedReport checks what ParseDeliveryStatus promises, and that a
// report it returns, written again, parses to the same report.
func checkParsedReport(t *testing.T, rep Report) {
	t.Helper()
	for _, rs := range rep.Recipients {
		if !rs.Action.valid() || !validStatus(rs.Status) || rs.FinalRecipient == "" {
			t.Fatalf("parsed an invalid recipient %+v", rs)
		}
	}
	if rep.ReportingMTA == "" || hasLongWord(rep) {
		return // not writable, or folding would add a space
	}
	for _, utf8 := range []bool{true, false} {
		var b bytes.Buffer
		if err := WriteDeliveryStatus(&b, &rep, utf8); err != nil {
			t.Fatalf("WriteDeliveryStatus of a parsed report: %v\n%+v", err, rep)
		}
		checkLines(t, b.Bytes())
		again, err := ParseDeliveryStatus(&b)
		if err != nil {
			t.Fatalf("ParseDeliveryStatus of %q: %v", b.Bytes(), err)
		}
		if !utf8 {
			continue // non-ASCII text is escaped
		}
		for i := range again.Recipients {
			if rep.Recipients[i].Action != ActionDelayed {
				rep.Recipients[i].WillRetryUntil = time.Time{}
			}
		}
		if diff := cmp.Diff(rep, again); diff != "" {
			t.Fatalf("written and parsed again (-first +second):\n%s", diff)
		}
	}
}

func hasLongWord(rep Report) bool {
	long := func(s string) bool {
		for _, w := range strings.Split(s, " ") {
			if len(w) > maxWord-16 {
				return true
			}
		}
		return false
	}
	if long(rep.EnvID) || long(rep.ReportingMTA) || long(rep.ReceivedFromMTA) {
		return true
	}
	for _, rs := range rep.Recipients {
		if long(rs.FinalRecipient) || long(rs.OriginalRecipient.Addr) || long(rs.RemoteMTA) || long(rs.DiagnosticCode) {
			return true
		}
	}
	return false
}
