package dsn

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

var (
	arrival = time.Date(2024, 6, 3, 10, 0, 0, 0, time.FixedZone("", 2*3600))
	attempt = arrival.Add(2 * time.Hour)
)

const original = "Return-Path: <alice@example.org>\r\n" +
	"From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: lunch\r\n" +
	"Message-ID: <lunch-1@example.org>\r\n" +
	"\r\n" +
	"Shall we meet at noon?\r\n"

const originalHeader = "Return-Path: <alice@example.org>\r\n" +
	"From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: lunch\r\n" +
	"Message-ID: <lunch-1@example.org>\r\n" +
	"\r\n"

func failedBob() RecipientStatus {
	return RecipientStatus{
		FinalRecipient:  "bob@example.net",
		Action:          ActionFailed,
		Status:          "5.1.1",
		RemoteMTA:       "mx.example.net",
		DiagnosticCode:  "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown",
		LastAttemptDate: attempt,
	}
}

func testNotice(rs ...RecipientStatus) *Notice {
	return &Notice{
		From:      "MAILER-DAEMON@mail.example.org",
		To:        "alice@example.org",
		Date:      attempt,
		MessageID: "20240603120000.AB12@mail.example.org",
		Hostname:  "mail.example.org",
		Report: Report{
			ReportingMTA:    "mail.example.org",
			ReceivedFromMTA: "client.example.org",
			ArrivalDate:     arrival,
			Recipients:      rs,
		},
		Original: strings.NewReader(original),
	}
}

// writeNotice writes n and checks what every notice must be: CRLF line
// ends, no line over 998 octets, and parts (three, or two when nothing is
// attached) that mime/multipart reads.
func writeNotice(t *testing.T, n *Notice, parts int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteNotice(&b, n); err != nil {
		t.Fatalf("WriteNotice: %v", err)
	}
	out := b.Bytes()
	checkLines(t, out)
	msg, err := mail.ReadMessage(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("reading the notice as a message: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	if got := msg.Header.Get("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("Auto-Submitted = %q", got)
	}
	var types []string
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("mime/multipart: %v", err)
		}
		mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, mt)
	}
	if len(types) != parts || types[0] != "text/plain" || !strings.HasSuffix(types[1], "delivery-status") {
		t.Errorf("parts %q, want text/plain, delivery-status and the original", types)
	}
	return out
}

func checkLines(t *testing.T, out []byte) {
	t.Helper()
	if !bytes.HasSuffix(out, crlf) {
		t.Errorf("notice does not end with CRLF")
	}
	for i, line := range bytes.SplitAfter(out, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if !bytes.HasSuffix(line, crlf) || bytes.Count(line, []byte("\r")) != 1 {
			t.Errorf("line %d not ended by CRLF alone: %q", i+1, line)
		}
		if len(line)-2 > 998 {
			t.Errorf("line %d is %d octets long", i+1, len(line)-2)
		}
	}
}

func TestWriteNoticeRoundTrip(t *testing.T) {
	delayed := RecipientStatus{
		FinalRecipient:  "carol@example.com",
		Action:          ActionDelayed,
		Status:          "4.4.1",
		DiagnosticCode:  "connect to mx.example.com[192.0.2.7]:25: Connection refused",
		DiagnosticType:  "x-facteur",
		LastAttemptDate: attempt,
		WillRetryUntil:  arrival.Add(5 * 24 * time.Hour),
	}
	delivered := RecipientStatus{FinalRecipient: "dan@example.com", Action: ActionDelivered, Status: "2.0.0",
		RemoteMTA: "mx.example.com", DiagnosticCode: "250 2.0.0 Ok: queued as 4Xk9"}
	withORCPT := failedBob()
	withORCPT.OriginalRecipient = ORCPT{Type: "rfc822", Addr: "Bob+lunch@Example.NET"}
	multiLine := failedBob()
	multiLine.DiagnosticCode = "550-5.1.1 The account you tried to reach does not exist.\r\n" +
		"550-5.1.1 Please check the address\r\n550 5.1.1 for typos. " + strings.Repeat("x", 1200)
	utf8Rcpt := RecipientStatus{FinalRecipient: "dédé@exemple.fr", Action: ActionFailed, Status: "5.2.2",
		OriginalRecipient: ORCPT{Type: "utf-8", Addr: "Dédé+x@exemple.fr"},
		DiagnosticCode:    "552 5.2.2 mailbox full"}
	utf8Diag := utf8Rcpt
	utf8Diag.DiagnosticCode = "552 5.2.2 boîte pleine"
	boundaryLike := "Subject: tricky\r\n\r\n--=_dsn_00000000000000000000000000000000\r\n" +
		"--=_dsn_00000000000000000000000000000000--\r\n--\r\n"

	tests := []struct {
		name     string
		mod      func(n *Notice)
		subject  string
		origType string
		orig     string // "" when nothing is attached
		text     []string
	}{
		{name: "failed RET=FULL", mod: func(n *Notice) { n.Ret = RetFull },
			subject: "Undelivered Mail Returned to Sender", origType: "message/rfc822", orig: original,
			text: []string{"could not be delivered", "<bob@example.net>", "mx.example.net said: 550 5.1.1", "A copy of your message is attached."}},
		{name: "failed RET=HDRS", mod: func(n *Notice) { n.Ret = RetHdrs },
			subject: "Undelivered Mail Returned to Sender", origType: "text/rfc822-headers", orig: originalHeader,
			text: []string{"The header of your message is attached."}},
		{name: "failed without RET returns the whole message",
			subject: "Undelivered Mail Returned to Sender", origType: "message/rfc822", orig: original},
		{name: "ENVID", mod: func(n *Notice) { n.Report.EnvID = "QQ314159 (x=y)" },
			subject: "Undelivered Mail Returned to Sender", origType: "message/rfc822", orig: original},
		{name: "ORCPT", mod: func(n *Notice) { n.Report.Recipients = []RecipientStatus{withORCPT} },
			subject: "Undelivered Mail Returned to Sender", origType: "message/rfc822", orig: original,
			text: []string{"(you wrote <Bob+lunch@Example.NET>)"}},
		{name: "delayed", mod: func(n *Notice) { n.Report.Recipients = []RecipientStatus{delayed}; n.Ret = RetFull },
			subject: "Delayed Mail (still being retried)", origType: "text/rfc822-headers", orig: originalHeader,
			text: []string{"has not reached", "Reason: connect to mx.example.com", "Still trying until Sat, 08 Jun 2024 10:00:00 +0200."}},
		{name: "delivered", mod: func(n *Notice) { n.Report.Recipients = []RecipientStatus{delivered} },
			subject: "Successful Mail Delivery Report", origType: "text/rfc822-headers", orig: originalHeader,
			text: []string{"was delivered to the recipients below"}},
		{name: "relayed", mod: func(n *Notice) {
			n.Report.Recipients = []RecipientStatus{{FinalRecipient: "eve@example.com", Action: ActionRelayed, Status: "2.0.0"}}
		}, subject: "Successful Mail Delivery Report", origType: "text/rfc822-headers", orig: originalHeader,
			text: []string{"does not report deliveries"}},
		{name: "expanded", mod: func(n *Notice) {
			n.Report.Recipients = []RecipientStatus{{FinalRecipient: "list@example.com", Action: ActionExpanded, Status: "2.0.0"}}
		}, subject: "Successful Mail Delivery Report", origType: "text/rfc822-headers", orig: originalHeader,
			text: []string{"lists or aliases"}},
		{name: "mixed: the worst action names the notice", mod: func(n *Notice) {
			n.Report.Recipients = []RecipientStatus{delivered, delayed, failedBob()}
		}, subject: "Undelivered Mail Returned to Sender", origType: "message/rfc822", orig: original,
			text: []string{"could not be delivered", "has not reached", "was delivered"}},
		{name: "multi-line diagnostic", mod: func(n *Notice) { n.Report.Recipients = []RecipientStatus{multiLine} },
			subject: "Undelivered Mail Returned to Sender", origType: "message/rfc822", orig: original,
			text: []string{"does not exist. 550-5.1.1 Please check"}},
		{name: "UTF-8 recipient, ASCII report", mod: func(n *Notice) { n.Report.Recipients = []RecipientStatus{utf8Rcpt} },
			subject: "Undelivered Mail Returned to Sender", origType: "message/rfc822", orig: original,
			text: []string{"<dédé@exemple.fr> (you wrote <Dédé+x@exemple.fr>)", "mailbox full"}},
		{name: "UTF-8 recipient, SMTPUTF8 original", mod: func(n *Notice) {
			n.Report.Recipients = []RecipientStatus{utf8Diag}
			n.UTF8 = true
			n.To = "ålice@exemple.fr"
		}, subject: "Undelivered Mail Returned to Sender", origType: "message/global", orig: original,
			text: []string{"<dédé@exemple.fr>", "boîte pleine"}},
		{name: "original with lines like a boundary", mod: func(n *Notice) { n.Original = strings.NewReader(boundaryLike) },
			subject: "Undelivered Mail Returned to Sender", origType: "message/rfc822", orig: boundaryLike},
		{name: "no original", mod: func(n *Notice) { n.Original = nil },
			subject: "Undelivered Mail Returned to Sender",
			text:    []string{"forward this notice to your postmaster"}},
		{name: "original over the limit", mod: func(n *Notice) { n.OriginalLimit = int64(len(original) - 1) },
			subject: "Undelivered Mail Returned to Sender", origType: "text/rfc822-headers", orig: originalHeader,
			text: []string{"only its header is attached"}},
		{name: "original at the limit", mod: func(n *Notice) { n.OriginalLimit = int64(len(original)) },
			subject: "Undelivered Mail Returned to Sender", origType: "message/rfc822", orig: original},
		{name: "original that is not a ReadSeeker", mod: func(n *Notice) {
			n.Original = iotest.OneByteReader(strings.NewReader(original))
		}, subject: "Undelivered Mail Returned to Sender", origType: "message/rfc822", orig: original},
		{name: "original with no body", mod: func(n *Notice) {
			n.Original = strings.NewReader("Subject: no body\r\n")
			n.Ret = RetHdrs
		}, subject: "Undelivered Mail Returned to Sender", origType: "text/rfc822-headers", orig: "Subject: no body\r\n"},
		{name: "original with bare LF and no final line end", mod: func(n *Notice) {
			n.Original = strings.NewReader("Subject: lf\n\nline 1\nline 2\rline 3")
		}, subject: "Undelivered Mail Returned to Sender", origType: "message/rfc822",
			orig: "Subject: lf\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"},
		{name: "original with a line too long for mail", mod: func(n *Notice) {
			n.Original = strings.NewReader(originalHeader + strings.Repeat("z", 999) + "\r\n")
		}, subject: "Undelivered Mail Returned to Sender", origType: "text/rfc822-headers", orig: originalHeader},
		{name: "empty original", mod: func(n *Notice) { n.Original = strings.NewReader("") },
			subject: "Undelivered Mail Returned to Sender"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := testNotice(failedBob())
			if tt.mod != nil {
				tt.mod(n)
			}
			want := wantReport(n.Report)
			parts := 3
			if tt.orig == "" {
				parts = 2
			}
			out := writeNotice(t, n, parts)
			msg, err := mail.ReadMessage(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if got := msg.Header.Get("Subject"); got != tt.subject {
				t.Errorf("Subject = %q, want %q", got, tt.subject)
			}
			p, err := ParseReport(bytes.NewReader(out))
			if err != nil {
				t.Fatalf("ParseReport: %v\n%s", err, out)
			}
			if diff := cmp.Diff(want, p.Report); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			if p.OriginalType != tt.origType || string(p.Original) != tt.orig || p.OriginalTruncated {
				t.Errorf("original %q %q (truncated %v), want %q %q", p.OriginalType, p.Original, p.OriginalTruncated, tt.origType, tt.orig)
			}
			for _, s := range tt.text {
				if !strings.Contains(strings.Join(strings.Fields(p.Text), " "), s) {
					t.Errorf("text lacks %q:\n%s", s, p.Text)
				}
			}
		})
	}
}

// wantReport is what ParseReport gives back for r: joined multi-line
// replies, Will-Retry-Until for delayed recipients only, "smtp" as "".
func wantReport(r Report) Report {
	r.EnvID = cleanText(r.EnvID)
	rs := make([]RecipientStatus, len(r.Recipients))
	for i, s := range r.Recipients {
		s.DiagnosticCode = cleanText(s.DiagnosticCode)
		if len(s.DiagnosticCode) > maxWord {
			s.DiagnosticCode = strings.Join(splitWords(s.DiagnosticCode, maxWord), " ")
		}
		if s.Action != ActionDelayed {
			s.WillRetryUntil = time.Time{}
		}
		rs[i] = s
	}
	r.Recipients = rs
	return r
}

func TestWriteNoticeEightBit(t *testing.T) {
	tests := []struct {
		name, orig string
		ret        Ret
		utf8       bool
		typ, cte   string
	}{
		{"7bit", original, RetFull, false, "message/rfc822", "7bit"},
		{"8-bit body", originalHeader + "Déjeuner ?\r\n", RetFull, false, "message/rfc822", "8bit"},
		{"8-bit body, header only", originalHeader + "Déjeuner ?\r\n", RetHdrs, false, "text/rfc822-headers", "7bit"},
		{"UTF-8 header", "Subject: Déjeuner\r\n\r\nà midi\r\n", RetFull, false, "message/global", "8bit"},
		{"UTF-8 header, header only", "Subject: Déjeuner\r\n\r\nà midi\r\n", RetHdrs, false, "message/global-headers", "8bit"},
		{"SMTPUTF8 but ASCII", original, RetFull, true, "message/global", "7bit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := testNotice(failedBob())
			n.Original, n.Ret, n.UTF8 = strings.NewReader(tt.orig), tt.ret, tt.utf8
			out := writeNotice(t, n, 3)
			want := "Content-Type: " + tt.typ + "\r\nContent-Transfer-Encoding: " + tt.cte + "\r\n\r\n"
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("notice lacks %q:\n%s", want, out)
			}
			msg, err := mail.ReadMessage(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			// RFC 2045 §6.4: the multipart is 8bit when a part is.
			if top := msg.Header.Get("Content-Transfer-Encoding"); (top == "8bit") != (tt.cte == "8bit") || top != "" && top != "8bit" {
				t.Errorf("notice Content-Transfer-Encoding %q with an original of %s", top, tt.cte)
			}
			ds := "message/delivery-status"
			if tt.utf8 {
				ds = "message/global-delivery-status"
			}
			if !bytes.Contains(out, []byte("Content-Type: "+ds+"\r\n")) {
				t.Errorf("report part is not %s", ds)
			}
		})
	}
}

// seekReader is an io.ReadSeeker that records how far it was read.
type seekReader struct {
	*strings.Reader
	read int64
}

func (s *seekReader) Read(p []byte) (int, error) {
	n, err := s.Reader.Read(p)
	s.read += int64(n)
	return n, err
}

func TestWriteNoticeSeeker(t *testing.T) {
	// The original is read from where the seeker stands, and a header-only
	// notice does not read a large body through.
	body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 1<<14)
	sr := &seekReader{Reader: strings.NewReader("junk" + originalHeader + body)}
	sr.Seek(4, io.SeekStart)
	n := testNotice(failedBob())
	n.Original, n.Ret = sr, RetHdrs
	out := writeNotice(t, n, 3)
	p, err := ParseReport(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Original) != originalHeader {
		t.Errorf("original %q, want %q", p.Original, originalHeader)
	}
	if sr.read > int64(len(body))/2 {
		t.Errorf("read %d octets of a %d-octet original for its header", sr.read, len(body))
	}
}

func TestWriteNoticeErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(n *Notice)
	}{
		{"no recipients", func(n *Notice) { n.Report.Recipients = nil }},
		{"no Reporting-MTA", func(n *Notice) { n.Report.ReportingMTA = " " }},
		{"no From", func(n *Notice) { n.From = "" }},
		{"no To", func(n *Notice) { n.To = "" }},
		{"To with CRLF", func(n *Notice) { n.To = "a@b\r\nBcc: c@d" }},
		{"no Message-ID", func(n *Notice) { n.MessageID = "" }},
		{"Message-ID with brackets", func(n *Notice) { n.MessageID = "<a@b>" }},
		{"no Date", func(n *Notice) { n.Date = time.Time{} }},
		{"bad action", func(n *Notice) { n.Report.Recipients[0].Action = "bounced" }},
		{"bad status", func(n *Notice) { n.Report.Recipients[0].Status = "550" }},
		{"status class 3", func(n *Notice) { n.Report.Recipients[0].Status = "3.1.1" }},
		{"status detail too long", func(n *Notice) { n.Report.Recipients[0].Status = "5.1.1000" }},
		{"no Final-Recipient", func(n *Notice) { n.Report.Recipients[0].FinalRecipient = "\r\n" }},
		{"bad ORCPT type", func(n *Notice) { n.Report.Recipients[0].OriginalRecipient = ORCPT{Type: "rfc 822", Addr: "a@b"} }},
		{"ORCPT without address", func(n *Notice) { n.Report.Recipients[0].OriginalRecipient = ORCPT{Type: "rfc822"} }},
		{"bad diagnostic type", func(n *Notice) { n.Report.Recipients[0].DiagnosticType = "smtp;" }},
		{"failing original", func(n *Notice) { n.Original = iotest.ErrReader(errors.New("disk on fire")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := testNotice(failedBob())
			tt.mod(n)
			var b bytes.Buffer
			if err := WriteNotice(&b, n); err == nil {
				t.Errorf("WriteNotice accepted it:\n%s", b.Bytes())
			}
		})
	}
	if err := WriteNotice(io.Discard, nil); err == nil {
		t.Error("WriteNotice(nil) accepted")
	}
}

func TestWriteDeliveryStatus(t *testing.T) {
	r := Report{
		ReportingMTA: "mail.example.org",
		EnvID:        "env\r\n\tid",
		Recipients: []RecipientStatus{{
			OriginalRecipient: ORCPT{Type: "utf-8", Addr: "jo+é\\x@exemple.fr"},
			FinalRecipient:    "jo+é@exemple.fr",
			Action:            ActionFailed,
			Status:            "5.0.0",
			DiagnosticCode:    "smtp\x00 ça ne va pas",
		}},
	}
	tests := []struct {
		utf8 bool
		diag string // as parsed back
		want string
	}{
		{false, `smtp \x{E7}a ne va pas`, "Original-Envelope-Id: env id\r\n" +
			"Reporting-MTA: dns; mail.example.org\r\n" +
			"\r\n" +
			"Original-Recipient: utf-8; jo\\x{2B}\\x{E9}\\x{5C}x@exemple.fr\r\n" +
			"Final-Recipient: utf-8; jo\\x{2B}\\x{E9}@exemple.fr\r\n" +
			"Action: failed\r\n" +
			"Status: 5.0.0\r\n" +
			"Diagnostic-Code: smtp; smtp \\x{E7}a ne va pas\r\n"},
		{true, "smtp ça ne va pas", "Original-Envelope-Id: env id\r\n" +
			"Reporting-MTA: dns; mail.example.org\r\n" +
			"\r\n" +
			"Original-Recipient: utf-8; jo+é\\x{5C}x@exemple.fr\r\n" +
			"Final-Recipient: utf-8; jo+é@exemple.fr\r\n" +
			"Action: failed\r\n" +
			"Status: 5.0.0\r\n" +
			"Diagnostic-Code: smtp; smtp ça ne va pas\r\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := WriteDeliveryStatus(&b, &r, tt.utf8); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, b.String()); diff != "" {
			t.Errorf("utf8=%v (-want +got):\n%s", tt.utf8, diff)
		}
		got, err := ParseDeliveryStatus(&b)
		if err != nil {
			t.Fatal(err)
		}
		rs := got.Recipients[0]
		if rs.FinalRecipient != "jo+é@exemple.fr" || rs.OriginalRecipient.Addr != "jo+é\\x@exemple.fr" || rs.DiagnosticCode != tt.diag {
			t.Errorf("utf8=%v: parsed back %+v", tt.utf8, rs)
		}
	}
}

func TestWriteFieldFolding(t *testing.T) {
	long := strings.Repeat("y", 2000)
	tests := []struct{ value, want string }{
		{"smtp; 250 ok", "Diagnostic-Code: smtp; 250 ok\r\n"},
		{"smtp; " + strings.Repeat("word ", 16) + "end",
			"Diagnostic-Code: smtp; word word word word word word word word word word word\r\n word word word word word end\r\n"},
		{"smtp; " + long, "Diagnostic-Code: smtp;\r\n " + long[:900] + "\r\n " + long[900:1800] + "\r\n " + long[1800:] + "\r\n"},
		{"smtp; " + strings.Repeat("é", 600), "Diagnostic-Code: smtp;\r\n " + strings.Repeat("é", 450) + "\r\n " + strings.Repeat("é", 150) + "\r\n"},
		{`x\x{E9}` + strings.Repeat("é", 449), "Diagnostic-Code: x\\x{E9}" + strings.Repeat("é", 446) + "\r\n " + strings.Repeat("é", 3) + "\r\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		writeField(&b, "Diagnostic-Code", tt.value)
		if b.String() != tt.want {
			t.Errorf("writeField(%.40q...) =\n%q\nwant\n%q", tt.value, b.String(), tt.want)
		}
	}
}

// TestNoticeGolden pins a whole notice, its random boundary replaced.
func TestNoticeGolden(t *testing.T) {
	withORCPT := failedBob()
	withORCPT.OriginalRecipient = ORCPT{Type: "rfc822", Addr: "Bob@Example.NET"}
	n := testNotice(withORCPT, RecipientStatus{
		FinalRecipient: "carol@example.com", Action: ActionDelayed, Status: "4.4.1",
		RemoteMTA: "mx.example.com", DiagnosticCode: "421 4.4.1 try again later",
		LastAttemptDate: attempt, WillRetryUntil: arrival.Add(5 * 24 * time.Hour),
	})
	n.Report.EnvID = "QQ314159"
	out := writeNotice(t, n, 3)
	msg, err := mail.ReadMessage(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	got := bytes.ReplaceAll(out, []byte(params["boundary"]), []byte("BOUNDARY"))
	golden := filepath.Join("testdata", "notice-failed.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("notice differs from %s (-want +got):\n%s", golden, diff)
	}
}

func TestBoundaryIsRandom(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		b, err := newBoundary()
		if err != nil {
			t.Fatal(err)
		}
		if seen[b] || len(b) < 32 {
			t.Errorf("boundary %q repeated or short", b)
		}
		seen[b] = true
	}
}

// FuzzWriteNotice writes notices from arbitrary values and originals: each
// must keep the line rules, stay three parts, and read back.
func FuzzWriteNotice(f *testing.F) {
	f.Add("bob@example.net", "550-5.1.1 no\r\n550 5.1.1 such user", "mx.example.net", "QQ314159", "Bob@Example.net", []byte(original), false, uint8(0))
	f.Add("dédé@exemple.fr", "boîte\x00pleine", "", "+", "\\x{E9}", []byte("Subject: é\n\n--=_dsn_\r\r\n."), true, uint8(1))
	f.Add("a", strings.Repeat("x", 1000), "h", "", "", []byte("\r\n\r\nbody"), false, uint8(2))
	f.Fuzz(func(t *testing.T, final, diag, remote, envID, orcpt string, orig []byte, utf8 bool, mode uint8) {
		rs := RecipientStatus{FinalRecipient: final, Status: "5.0.0", Action: ActionFailed,
			DiagnosticCode: diag, RemoteMTA: remote, LastAttemptDate: attempt}
		if orcpt != "" {
			rs.OriginalRecipient = ORCPT{Type: "utf-8", Addr: orcpt}
		}
		if mode&1 != 0 {
			rs.Action, rs.Status, rs.WillRetryUntil = ActionDelayed, "4.0.0", arrival
		}
		n := testNotice(rs)
		n.Report.EnvID, n.UTF8, n.Original = envID, utf8, bytes.NewReader(orig)
		if mode&2 != 0 {
			n.Ret = RetHdrs
		}
		var b bytes.Buffer
		if err := WriteNotice(&b, n); err != nil {
			if cleanText(final) != "" && (orcpt == "" || cleanText(orcpt) != "") {
				t.Fatalf("WriteNotice: %v", err)
			}
			return
		}
		out := b.Bytes()
		checkLines(t, out)
		p, err := ParseReport(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("ParseReport: %v\n%q", err, out)
		}
		if len(p.Report.Recipients) != 1 || p.Report.Recipients[0].Action != rs.Action {
			t.Fatalf("parsed back %+v", p.Report)
		}
		if len(orig) == 0 {
			return
		}
		var norm bytes.Buffer
		copyNormalised(&norm, bytes.NewReader(orig))
		if p.OriginalType == "message/rfc822" || p.OriginalType == "message/global" {
			if !bytes.Equal(p.Original, norm.Bytes()) {
				t.Fatalf("original %q came back as %q", orig, p.Original)
			}
		} else if p.OriginalType != "" && !bytes.HasPrefix(norm.Bytes(), p.Original) {
			t.Fatalf("header %q is not a prefix of %q", p.Original, norm.Bytes())
		}
	})
}

func TestWriteNoticePipe(t *testing.T) {
	// An *os.File that cannot seek is read into memory.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.WriteString(w, original); err != nil { // fits in the pipe's buffer
		t.Fatal(err)
	}
	w.Close()
	n := testNotice(failedBob())
	n.Original = r
	p, err := ParseReport(bytes.NewReader(writeNotice(t, n, 3)))
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Original) != original {
		t.Errorf("original %q", p.Original)
	}
}
