package inspect

import (
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"facteur/internal/dsn"
	"facteur/internal/envelope"

	"github.com/google/go-cmp/cmp"
)

// TestFacteurDelivered: a message as facteur delivers it, with Return-Path,
// Delivered-To and two Received fields, RFC 2047 words and a
// quoted-printable multipart/alternative.
func TestFacteurDelivered(t *testing.T) {
	r := analyzeFile(t, "facteur-delivered.eml", Options{})
	wantNoProblems(t, r)
	tr := r.Message.Trace
	if tr.ReturnPath != "<bounces+alice=example.org@lists.example.org>" {
		t.Errorf("Return-Path %q", tr.ReturnPath)
	}
	if len(tr.Hops) != 2 {
		t.Fatalf("%d hops, want 2", len(tr.Hops))
	}
	first, second := tr.Hops[0], tr.Hops[1]
	if first.By != "mail.example.org" || first.With != "ESMTPSA" || first.TLS != "TLSv1.2" ||
		first.From != "[192.168.1.20]" || first.FromAddr != "198.51.100.7" || first.FromName != "" {
		t.Errorf("oldest hop = %+v", first)
	}
	if second.By != "mx.example.net" || second.With != "ESMTPS" || second.TLS != "TLSv1.3" ||
		second.Cipher != "TLS_AES_128_GCM_SHA256" || second.For != "bob@example.net" ||
		second.FromName != "mail.example.org" || second.FromAddr != "192.0.2.10" || second.ID != "7QK3C5VXNM2Q8" {
		t.Errorf("newest hop = %+v", second)
	}
	if first.Delay != nil || second.Delay == nil || *second.Delay != Duration(5*time.Second) || second.Skew {
		t.Errorf("delays %v, %v", first.Delay, second.Delay)
	}
	if tr.Total == nil || *tr.Total != Duration(5*time.Second) {
		t.Errorf("total %v, want 5s", tr.Total)
	}
	a := r.Message.Addresses
	if diff := cmp.Diff([]Address{{"Amélie Dupont", "alice@example.org"}}, a.From); diff != "" {
		t.Errorf("From (-want +got):\n%s", diff)
	}
	if len(a.To) != 2 || a.To[1].Addr != "carol@example.com" {
		t.Errorf("To = %v", a.To)
	}
	subject := fieldOf(r.Message, "Subject")
	if subject.Value != "Réunion de lundi" || subject.Raw != "=?ISO-8859-1?Q?R=E9union_de_lundi?=" || subject.Group != GroupInformational {
		t.Errorf("Subject = %+v", subject)
	}
	env := r.Envelope
	if env == nil || env.Source != "header" || env.MailFrom != "bounces+alice=example.org@lists.example.org" ||
		len(env.Recipients) != 1 || env.Recipients[0].Addr != "bob@example.net" {
		t.Fatalf("envelope = %+v", env)
	}
	wantSentence(t, r, "differs from From", "That is normal")
	wantSentence(t, r, "<carol@example.com> had no RCPT TO in this copy")
	body := r.Message.Body
	if body.ID != "TEXT" || body.Type != "multipart/alternative" || len(body.Parts) != 2 {
		t.Fatalf("body = %+v", body)
	}
	plain := mustPart(t, r, "1")
	wantPreview := []string{"Bonjour Bob,", "", "La réunion est à 10h, salle B. Pour ceux qui préfèrent venir en ligne, le lien suit."}
	if diff := cmp.Diff(wantPreview, plain.Preview); diff != "" {
		t.Errorf("preview (-want +got):\n%s", diff)
	}
	if plain.Encoding != "quoted-printable" || plain.Charset != "utf-8" || plain.Size != int64(len(strings.Join(wantPreview, "\n"))) {
		t.Errorf("text part = %+v", plain)
	}
}

func fieldOf(m *Message, name string) Field {
	for _, f := range m.Header {
		if strings.EqualFold(f.Name, name) {
			return f
		}
	}
	return Field{}
}

func wantSentence(t *testing.T, r *Report, subs ...string) {
	t.Helper()
	for _, s := range r.Compare {
		ok := true
		for _, sub := range subs {
			ok = ok && strings.Contains(s, sub)
		}
		if ok {
			return
		}
	}
	t.Errorf("no comparison sentence with %q in:\n%s", subs, strings.Join(r.Compare, "\n"))
}

// TestPostfixBounce: a multipart/report with its delivery status parsed
// and the returned message walked as a message.
func TestPostfixBounce(t *testing.T) {
	r := analyzeFile(t, "postfix-bounce.eml", Options{})
	wantNoProblems(t, r)
	if r.Envelope == nil || !r.Envelope.HasFrom || r.Envelope.MailFrom != "" {
		t.Errorf("envelope = %+v, want the null sender", r.Envelope)
	}
	wantSentence(t, r, "null sender")
	if b := r.Message.Body; b.Type != "multipart/report" || b.Params["report-type"] != "delivery-status" || len(b.Parts) != 3 {
		t.Fatalf("body = %+v", b)
	}
	ds := mustPart(t, r, "2").Status
	if ds == nil || ds.ReportingMTA != "mail.example.org" || len(ds.Recipients) != 2 {
		t.Fatalf("delivery status = %+v", ds)
	}
	if rs := ds.Recipients[0]; rs.FinalRecipient != "bob@example.net" || rs.Action != "failed" || rs.Status != "5.1.1" || rs.RemoteMTA != "mx.example.net" {
		t.Errorf("first recipient = %+v", rs)
	}
	orig := mustPart(t, r, "3")
	if orig.Message == nil || fieldOf(orig.Message, "Subject").Value != "lunch" || orig.Message.Trace.ReturnPath != "<alice@example.org>" {
		t.Fatalf("returned message = %+v", orig.Message)
	}
	text := mustPart(t, r, "3.1")
	// A line that starts like the boundary but goes on is content.
	if len(text.Preview) != 3 || !strings.HasSuffix(text.Preview[1], ".tail") {
		t.Errorf("returned text preview = %q", text.Preview)
	}
}

func TestSigned(t *testing.T) {
	r := analyzeFile(t, "signed.eml", Options{})
	wantNoProblems(t, r)
	b := r.Message.Body
	if b.Type != "multipart/signed" || b.Params["protocol"] != "application/pgp-signature" || b.Params["micalg"] != "pgp-sha256" || len(b.Parts) != 2 {
		t.Fatalf("body = %+v", b)
	}
	sig := b.Parts[1]
	if !sig.IsAttachment() || sig.Filename != "signature.asc" || sig.Description != "OpenPGP digital signature" {
		t.Errorf("signature part = %+v", sig)
	}
	if b.Parts[0].IsAttachment() {
		t.Error("the signed text is taken for an attachment")
	}
}

// TestForward: a message/rfc822 inside a multipart, its own multipart
// numbered as IMAP does, its ISO-8859-1 text made UTF-8.
func TestForward(t *testing.T) {
	r := analyzeFile(t, "forward.eml", Options{})
	wantNoProblems(t, r)
	fwd := mustPart(t, r, "2")
	if fwd.Type != "message/rfc822" || fwd.Message == nil {
		t.Fatalf("part 2 = %+v", fwd)
	}
	m := fwd.Message
	if m.Body.ID != "2.TEXT" || len(m.Body.Parts) != 2 || m.Body.Parts[1].ID != "2.2" {
		t.Errorf("enclosed body = %+v", m.Body)
	}
	if len(m.Trace.Hops) != 1 || m.Trace.Hops[0].With != "ESMTP" || m.Addresses.From[0].Addr != "alice@example.org" {
		t.Errorf("enclosed trace and From = %+v, %+v", m.Trace, m.Addresses)
	}
	if p := mustPart(t, r, "2.1"); len(p.Preview) != 1 || p.Preview[0] != "Shall we meet at noon? Café du coin." {
		t.Errorf("ISO-8859-1 preview = %q", p.Preview)
	}
	if p := mustPart(t, r, "2.2"); p.Size != 8 || p.Filename != "map.png" {
		t.Errorf("image = %+v", p)
	}
}

// TestRFC2231: continuations and character sets of file names.
func TestRFC2231(t *testing.T) {
	x := &memExtractor{}
	r := analyzeFile(t, "rfc2231.eml", Options{Extract: x})
	for id, want := range map[string]string{"2": "Résumé de la réunion.pdf", "3": "naïve.txt", "4": "../../etc/passwd"} {
		if p := mustPart(t, r, id); p.Filename != want || p.Saved != "mem:"+id {
			t.Errorf("part %s: file name %q saved %q, want %q", id, p.Filename, p.Saved, want)
		}
	}
	if got := x.files["4"].String(); got != "root:x:0:0:root:/root:/bin/bash\n" {
		t.Errorf("extracted part 4 = %q", got)
	}
	if got := x.files["2"].String(); !strings.HasPrefix(got, "%PDF-1.4") {
		t.Errorf("extracted part 2 = %q", got)
	}
	if _, ok := x.files["1"]; ok {
		t.Error("the text part was extracted as an attachment")
	}
	wantProblem(t, r, "part 3", "RFC 2045 §2.7", "8-bit data in a 7bit part")
}

func TestBadBase64(t *testing.T) {
	r := analyzeFile(t, "bad-base64.eml", Options{})
	if p := mustPart(t, r, "1"); p.Size != 13 || len(p.Preview) != 1 || p.Preview[0] != "Hello, world!" {
		t.Errorf("good base64 part = %+v", p)
	}
	wantProblem(t, r, "part 2", "RFC 2045 §6.8", "2 characters outside the base64 alphabet")
	wantProblem(t, r, "part 2", "RFC 2045 §6.8", "after the \"=\" padding")
	wantProblem(t, r, "part 2", "RFC 2045 §6.8", "last quantum")
	if _, ok := findProblem(r, "part 1", "", ""); ok {
		t.Errorf("problems in the good part:\n%s", problemList(r))
	}
}

func TestUnclosedBoundary(t *testing.T) {
	r := analyzeFile(t, "unclosed.eml", Options{})
	wantProblem(t, r, "part 1", "RFC 2046 §5.1.1", `boundary "inner" never closed`)
	wantProblem(t, r, "part TEXT", "RFC 2046 §5.1.1", `boundary "outer" never closed`)
	// The outer boundary ends the inner multipart: part 2 is the outer's.
	if p := mustPart(t, r, "2"); len(p.Preview) != 1 || !strings.HasPrefix(p.Preview[0], "second part") {
		t.Errorf("part 2 = %+v", p)
	}
	if p := mustPart(t, r, "1.1"); p.Size != int64(len("inner text")) {
		t.Errorf("part 1.1 size %d", p.Size)
	}
}

// TestProblems: the problems of the list, each with its rule.
func TestProblems(t *testing.T) {
	r := analyzeFile(t, "problems.eml", Options{})
	for _, want := range []struct{ where, rule, text string }{
		{"header", "RFC 5322 §3.6", "no Date field"},
		{"header", "RFC 5322 §3.6", "2 Subject fields"},
		{"header", "RFC 5322 §3.6.4", `Message-ID "not-a-msgid"`},
		{"header", "RFC 5322 §2.2", "non-ASCII octets without RFC 2047 encoding in X-Note"},
		{"part 1", "RFC 5322 §2.1.1", "line of 1200 characters"},
		{"part 1", "RFC 2045 §2.7", "8-bit data in a 7bit part"},
		{"Received hop 2", "RFC 5321 §4.4", "clock skew: stamped 5m0s before"},
	} {
		wantProblem(t, r, want.where, want.rule, want.text)
	}
	if _, ok := findProblem(r, "header", "", "no From"); ok {
		t.Error("a From field was reported missing")
	}
	if h := r.Message.Trace.Hops; len(h) != 2 || !h[1].Skew || h[0].Skew {
		t.Errorf("skew flags wrong: %+v", h)
	}
	if p, _ := findProblem(r, "part 1", "RFC 5322 §2.1.1", ""); p.Line != 11 {
		t.Errorf("long line reported at line %d, want 11", p.Line)
	}
}

// TestQueueEnvelope: the queue's envelope with its RFC 3461 parameters,
// against the header.
func TestQueueEnvelope(t *testing.T) {
	e := &envelope.Envelope{
		ID: "7QK3C5VXNM2Q8", Sender: "alice@example.org", EnvID: "env-1", Ret: dsn.RetHdrs, Body: "8BITMIME",
		Recipients: []*envelope.Recipient{
			{Addr: "bob@example.net", Notify: dsn.NotifySuccess | dsn.NotifyFailure, ORCPT: dsn.ORCPT{Type: "rfc822", Addr: "Bob@Example.NET"}, State: envelope.Delivered},
			{Addr: "secret@example.com", State: envelope.Pending},
		},
		Client: envelope.Client{Addr: netip.MustParseAddr("192.0.2.1")},
	}
	msg := "From: Alice <alice@example.org>\r\nTo: bob@EXAMPLE.net, dave@example.com\r\nDate: Tue, 04 Jun 2024 10:00:00 +0200\r\n" +
		"Message-ID: <q@example.org>\r\nSubject: hi\r\n\r\nhello\r\n"
	r := analyzeString(t, msg, Options{Envelope: e})
	wantNoProblems(t, r)
	want := &Envelope{Source: "queue", QueueID: "7QK3C5VXNM2Q8", MailFrom: "alice@example.org", HasFrom: true,
		EnvID: "env-1", Ret: "HDRS", Body: "8BITMIME", Recipients: []EnvelopeRecipient{
			{Addr: "bob@example.net", Notify: "SUCCESS,FAILURE", ORCPT: "rfc822;Bob@Example.NET", State: "delivered"},
			{Addr: "secret@example.com", State: "pending"}}}
	if diff := cmp.Diff(want, r.Envelope); diff != "" {
		t.Errorf("envelope (-want +got):\n%s", diff)
	}
	wantSentence(t, r, "MAIL FROM <alice@example.org> is also the From address")
	wantSentence(t, r, "RCPT TO <bob@example.net> is in To")
	wantSentence(t, r, "RCPT TO <secret@example.com> is in neither To nor Cc", "Bcc")
	wantSentence(t, r, "<dave@example.com> had no RCPT TO in this transaction")
}

func TestNoEnvelope(t *testing.T) {
	r := analyzeString(t, "From: a@example.org\nDate: Tue, 04 Jun 2024 10:00:00 +0200\n\nx\n", Options{})
	if r.Envelope != nil {
		t.Errorf("envelope %+v from a message without Return-Path", r.Envelope)
	}
	wantSentence(t, r, "not part of the message")
}

// TestMboxLine: the "From " line of an mbox file is not taken for the
// header's end.
func TestMboxLine(t *testing.T) {
	r := analyzeString(t, "From alice@example.org Tue Jun  4 10:00:00 2024\nFrom: alice@example.org\nDate: Tue, 04 Jun 2024 10:00:00 +0200\n\nbody\n", Options{})
	wantNoProblems(t, r)
	if len(r.Message.Header) != 2 || r.Message.Addresses.From[0].Addr != "alice@example.org" {
		t.Errorf("header = %+v", r.Message.Header)
	}
	wantSentence(t, r, "separator of an mbox file")
}

// TestLineEndings: CRLF and LF give the same analysis.
func TestLineEndings(t *testing.T) {
	for _, name := range []string{"facteur-delivered.eml", "postfix-bounce.eml", "forward.eml"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		crlf := bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
		a, _ := Analyze(bytes.NewReader(data), Options{})
		b, _ := Analyze(bytes.NewReader(crlf), Options{})
		opt := cmp.FilterPath(func(p cmp.Path) bool {
			s := p.String()
			return strings.HasSuffix(s, "Size") || strings.HasSuffix(s, "RawSize")
		}, cmp.Ignore())
		if diff := cmp.Diff(a, b, opt); diff != "" {
			t.Errorf("%s: LF and CRLF differ (-LF +CRLF):\n%s", name, diff)
		}
	}
}

func TestQuotedPrintable(t *testing.T) {
	tests := []struct {
		body, want string
		bad        bool
	}{
		{"caf=C3=A9\r\n", "café\r\n", false},
		{"soft=\r\nbreak\r\n", "softbreak\r\n", false},
		{"trailing   \r\nspace\r\n", "trailing\r\nspace\r\n", false},
		{"soft with space= \r\nnext\r\n", "soft with spacenext\r\n", false},
		{"lower =c3=a9\r\n", "lower é\r\n", false},
		{"bad =ZZ and =4\r\n", "bad =ZZ and =4\r\n", true},
		{"last line=", "last line", false},
	}
	for _, tt := range tests {
		x := &memExtractor{}
		msg := "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Disposition: attachment\r\n\r\n" + tt.body
		r := analyzeString(t, msg, Options{Extract: x})
		if got := x.files["1"].String(); got != tt.want {
			t.Errorf("%q decoded to %q, want %q", tt.body, got, tt.want)
		}
		if _, bad := findProblem(r, "part 1", "RFC 2045 §6.7", "bad quoted-printable"); bad != tt.bad {
			t.Errorf("%q: bad quoted-printable reported %v, want %v", tt.body, bad, tt.bad)
		}
	}
}

func TestBase64(t *testing.T) {
	tests := []struct {
		body, want, problem string
	}{
		{"SGVs\r\nbG8=\r\n", "Hello", ""},
		{"  SGVsbG8h  \r\n", "Hello!", ""},
		{"SGVsbG8", "Hello", "last quantum"},
		{"SGVsbG8h\r\nS", "Hello!", "last quantum"},
		{"SGV!sbG8h\r\n", "Hello!", "outside the base64 alphabet"},
		{"SGk=SGk=\r\n", "HiHi", "after the"},
		{"S===\r\n", "", "padding where no quantum ends"},
	}
	for _, tt := range tests {
		x := &memExtractor{}
		msg := "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment\r\n\r\n" + tt.body
		r := analyzeString(t, msg, Options{Extract: x})
		if got := x.files["1"].String(); got != tt.want {
			t.Errorf("%q decoded to %q, want %q", tt.body, got, tt.want)
		}
		_, found := findProblem(r, "part 1", "RFC 2045 §6.8", tt.problem)
		if tt.problem != "" && !found {
			t.Errorf("%q: no problem %q:\n%s", tt.body, tt.problem, problemList(r))
		}
		if tt.problem == "" && found {
			t.Errorf("%q: unexpected problems:\n%s", tt.body, problemList(r))
		}
	}
}

func TestParseParams(t *testing.T) {
	tests := []struct {
		in     string
		typ    string
		params map[string]string
		bad    bool
	}{
		{`text/plain; charset="utf-8"`, "text/plain", map[string]string{"charset": "utf-8"}, false},
		{`Text/HTML;Charset=UTF-8 (comment)`, "text/html", map[string]string{"charset": "UTF-8"}, false},
		{`multipart/mixed; boundary="a;b=c"; x=y`, "multipart/mixed", map[string]string{"boundary": "a;b=c", "x": "y"}, false},
		{`attachment; filename*=utf-8''%E2%82%AC%20rates`, "attachment", map[string]string{"filename": "€ rates"}, false},
		{`attachment; filename*0="long"; filename*1=" name"; filename*2=".txt"`, "attachment", map[string]string{"filename": "long name.txt"}, false},
		{`attachment; filename*=iso-8859-1'fr'caf%E9.txt`, "attachment", map[string]string{"filename": "café.txt"}, false},
		{`attachment; filename*=windows-1252''%80.txt`, "attachment", map[string]string{"filename": "€.txt"}, false},
		{`attachment; filename*0*=us-ascii''a; filename*2=c`, "attachment", map[string]string{"filename": "ac"}, true},
		{`attachment; filename=a; filename=b`, "attachment", map[string]string{"filename": "a"}, true},
		{`attachment; filename`, "attachment", map[string]string{}, true},
		{`attachment; filename="unterminated`, "attachment", map[string]string{"filename": "unterminated"}, false},
		{`attachment; filename*=x-unknown''a`, "attachment", map[string]string{"filename": "a"}, true},
	}
	for _, tt := range tests {
		typ, params, bad := parseParams(tt.in)
		if typ != tt.typ || (bad != "") != tt.bad {
			t.Errorf("parseParams(%q) = %q, bad %q; want %q, bad %v", tt.in, typ, bad, tt.typ, tt.bad)
		}
		if diff := cmp.Diff(tt.params, params); diff != "" {
			t.Errorf("parseParams(%q) params (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestParseReceived(t *testing.T) {
	date := time.Date(2024, 6, 4, 10, 0, 7, 0, time.FixedZone("", 2*3600))
	tests := []struct {
		name, raw string
		want      Hop
		problem   bool
	}{
		{"postfix", "from mail.example.org (mail.example.org [192.0.2.10]) (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519) by mx.example.net (Postfix) with ESMTPS id 4Xk9; Tue, 04 Jun 2024 10:00:07 +0200 (CEST)",
			Hop{From: "mail.example.org", FromName: "mail.example.org", FromAddr: "192.0.2.10", By: "mx.example.net", With: "ESMTPS", ID: "4Xk9", TLS: "TLSv1.3", Cipher: "TLS_AES_256_GCM_SHA384", Date: date}, false},
		{"facteur local", "by mx.example.net (facteur, from user toto) id 7QK3; Tue, 04 Jun 2024 10:00:07 +0200 (CEST)",
			Hop{By: "mx.example.net", ID: "7QK3", Date: date}, false},
		{"unknown client ipv6", "from helo.example (unknown [IPv6:2001:db8::1]) by mx.example.net (facteur) with ESMTP id X for <bob@example.net>; Tue, 04 Jun 2024 10:00:07 +0200",
			Hop{From: "helo.example", FromAddr: "2001:db8::1", By: "mx.example.net", With: "ESMTP", ID: "X", For: "bob@example.net", Date: date}, false},
		{"exim", "from client.example.org ([192.0.2.7] helo=client) by mx.example.net with esmtps  (TLS1.3) tls TLS_AES_256_GCM_SHA384 (Exim 4.96) (envelope-from <a@example.org>) id 1sEj-000 for bob@example.net; Tue, 04 Jun 2024 10:00:07 +0200",
			Hop{From: "client.example.org", FromAddr: "192.0.2.7", By: "mx.example.net", With: "ESMTPS", ID: "1sEj-000", For: "bob@example.net", TLS: "TLSv1.3", Cipher: "TLS_AES_256_GCM_SHA384", Date: date}, false},
		{"gmail", "from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41]) by mx.google.com with SMTPS id abc.123 for <bob@example.net> (Google Transport Security); Tue, 04 Jun 2024 10:00:07 +0200",
			Hop{From: "mail-sor-f41.google.com", FromName: "mail-sor-f41.google.com", FromAddr: "209.85.220.41", By: "mx.google.com", With: "SMTPS", ID: "abc.123", For: "bob@example.net", Date: date}, false},
		{"gmail version", "by 2002:a05:6a10:1234 with SMTP id x; Tue, 04 Jun 2024 10:00:07 +0200 (version=TLS1_3 cipher=TLS_AES_128_GCM_SHA256 bits=128/128)",
			Hop{By: "2002:a05:6a10:1234", With: "SMTP", ID: "x", TLS: "TLSv1.3", Cipher: "TLS_AES_128_GCM_SHA256", Date: date}, false},
		{"lmtp", "from mx.example.net by imap.example.net with LMTP id q; Tue, 04 Jun 2024 10:00:07 +0200",
			Hop{From: "mx.example.net", By: "imap.example.net", With: "LMTP", ID: "q", Date: date}, false},
		{"no date", "from a by b with SMTP", Hop{From: "a", By: "b", With: "SMTP"}, true},
		{"bad date", "from a by b; yesterday", Hop{From: "a", By: "b"}, true},
	}
	for _, tt := range tests {
		h, problem := parseReceived(tt.raw)
		tt.want.Raw = tt.raw
		if diff := cmp.Diff(tt.want, h); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
		if (problem != "") != tt.problem {
			t.Errorf("%s: problem %q, want one: %v", tt.name, problem, tt.problem)
		}
	}
}

func TestValidMsgID(t *testing.T) {
	good := []string{"<a@b>", " <20240604.ABC@example.org> ", "<a.b+c@[192.0.2.1]>", "<é@example.org>"}
	bad := []string{"a@b", "<a>", "<a@b", "<.a@b>", "<a..b@c>", "<a b@c>", "<@b>", "<a@>", "<a@b> <c@d>"}
	for _, s := range good {
		if !validMsgID(s) {
			t.Errorf("validMsgID(%q) = false", s)
		}
	}
	for _, s := range bad {
		if validMsgID(s) {
			t.Errorf("validMsgID(%q) = true", s)
		}
	}
}

func TestGroups(t *testing.T) {
	for name, want := range map[string]string{
		"Received": GroupTrace, "Return-Path": GroupTrace, "Resent-From": GroupTrace, "Delivered-To": GroupTrace,
		"from": GroupAddress, "Reply-To": GroupAddress, "BCC": GroupAddress,
		"Date": GroupInformational, "In-Reply-To": GroupInformational, "references": GroupInformational,
		"MIME-Version": GroupMIME, "Content-Type": GroupMIME,
		"X-Mailer": GroupExtension, "x-spam": GroupExtension,
		"DKIM-Signature": GroupOther,
	} {
		if got := groupOf(name); got != want {
			t.Errorf("groupOf(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestBadInput: what a hostile or broken message can hold gives a report
// with its problems, never a failure or a hang.
func TestBadInput(t *testing.T) {
	deep := strings.Builder{}
	deep.WriteString("From: a@b.c\nDate: Tue, 04 Jun 2024 10:00:00 +0200\n")
	for i := range 200 {
		deep.WriteString("Content-Type: multipart/mixed; boundary=\"b" + string(rune('a'+i%26)) + strings.Repeat("x", i) + "\"\n\n--b" + string(rune('a'+i%26)) + strings.Repeat("x", i) + "\n")
	}
	deep.WriteString("\ninnermost\n")
	hugeHeader := "From: a@b.c\n" + strings.Repeat("X-Filler: "+strings.Repeat("y", 100)+"\n", 30000) + "\nbody\n"
	endless := "From: a@b.c\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\n\n" + strings.Repeat("never the boundary\n", 200000)
	garbage := make([]byte, 1<<20)
	for i := range garbage {
		garbage[i] = byte(i*7 + i>>8)
	}
	tests := []struct {
		name, msg   string
		where, rule string
		text        string
	}{
		{"deep nesting", deep.String(), "", "bound of this analysis", "nested deeper than 20"},
		{"huge header", hugeHeader, "header", "bound of this analysis", "fields past the first"},
		{"endless boundary", endless, "part TEXT", "RFC 2046 §5.1.1", `boundary "zz" never closed`},
		{"header without end", "From: a@b.c\nthis is not a field\nbody\n", "header", "RFC 5322 §2.1", "neither a field nor a continuation"},
		{"no boundary", "Content-Type: multipart/mixed\n\nbody\n", "part TEXT", "RFC 2046 §5.1.1", "without a boundary"},
		{"long line", "From: a@b.c\n\n" + strings.Repeat("z", 3<<20), "part 1", "RFC 5322 §2.1.1", "line of 3145728 characters"},
		{"long header line", "Subject: " + strings.Repeat("s", 200000) + "\n\n", "header", "bound of this analysis", "field Subject longer than"},
		{"base64 composite", "Content-Type: multipart/mixed; boundary=a\nContent-Transfer-Encoding: base64\n\nLS1h\n", "part TEXT", "RFC 2045 §6.4", "multipart/mixed part with Content-Transfer-Encoding base64"},
		{"unknown cte", "Content-Transfer-Encoding: x-uuencode\n\nbegin 644 a\n", "header", "RFC 2045 §6.4", "unknown Content-Transfer-Encoding"},
		{"garbage", string(garbage), "header", "RFC 5322 §3.6", "no Date field"},
	}
	for _, tt := range tests {
		r := analyzeString(t, tt.msg, Options{})
		if r.Size != int64(len(tt.msg)) {
			t.Errorf("%s: read %d octets of %d", tt.name, r.Size, len(tt.msg))
		}
		if _, ok := findProblem(r, tt.where, tt.rule, tt.text); !ok {
			t.Errorf("%s: no problem at %q %q %q:\n%s", tt.name, tt.where, tt.rule, tt.text, problemList(r))
		}
		if len(r.Problems) > maxProblems+1 {
			t.Errorf("%s: %d problems listed", tt.name, len(r.Problems))
		}
		if _, err := json.Marshal(r); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// TestManyParts: parts past MaxParts are counted, not described.
func TestManyParts(t *testing.T) {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=p\n\n")
	for range MaxParts + 50 {
		b.WriteString("--p\n\nx\n")
	}
	b.WriteString("--p--\n")
	r := analyzeString(t, b.String(), Options{})
	if n := len(r.Message.Body.Parts); n != MaxParts-1 {
		t.Errorf("%d parts described, want %d", n, MaxParts-1)
	}
	wantProblem(t, r, "part TEXT", "bound of this analysis", "51 parts past the first")
	if _, ok := findProblem(r, "part TEXT", "RFC 2046", "never closed"); ok {
		t.Error("the close delimiter after skipped parts was missed")
	}
}

// TestMemoryBounded: the memory that an analysis allocates does not grow
// with the message: a 32 MiB message with ten attachments, extracted as it
// is read, allocates far less than its own size.
func TestMemoryBounded(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, err := Analyze(bigMessage(32<<20, 10), Options{Extract: discardExtractor{}})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Message.Body.Parts) != 11 || r.Size < 32<<20-(1<<20) {
		t.Fatalf("%d parts, %d octets", len(r.Message.Body.Parts), r.Size)
	}
	wantNoProblems(t, r)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("analysing %d octets allocated %d octets: the message is being held", r.Size, alloc)
	}
}

type discardExtractor struct{}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) Close() error                { return nil }

func (discardExtractor) Create(p *Part) (string, io.WriteCloser, error) {
	return p.ID, discardWriter{}, nil
}

// TestWriteText: the sections a person reads, and a message's control
// characters kept from the terminal.
func TestWriteText(t *testing.T) {
	r := analyzeFile(t, "facteur-delivered.eml", Options{})
	var b bytes.Buffer
	if err := r.WriteText(&b, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Envelope (as final delivery recorded it",
		"MAIL FROM:<bounces+alice=example.org@lists.example.org>",
		"Trace (oldest hop first)",
		"hop 1  from [192.168.1.20] ([198.51.100.7])",
		"(+5s after hop 1)",
		"transit 5s from hop 1 to hop 2",
		"  informational\n    Subject: Réunion de lundi\n",
		"MIME structure\n  TEXT  multipart/alternative",
		"| La réunion est à 10h",
		"Problems\n  none found",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	r.WriteText(&b, TextOptions{Raw: true})
	if !strings.Contains(b.String(), "Subject: =?ISO-8859-1?Q?R=E9union_de_lundi?=") {
		t.Errorf("raw output lacks the encoded Subject:\n%s", b.String())
	}
	r = analyzeFile(t, "postfix-bounce.eml", Options{})
	b.Reset()
	r.WriteText(&b, TextOptions{})
	for _, want := range []string{
		"3.1  text/plain  (charset us-ascii by default)  7bit",
		"bob@example.net: failed 5.1.1 from mx.example.net: 550 5.1.1",
		"        Subject: lunch\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("bounce output lacks %q:\n%s", want, b.String())
		}
	}
	evil := analyzeString(t, "Subject: =?utf-8?q?a=1B]2;pwned=07b?=\n\n\x1b[31mred\n", Options{})
	b.Reset()
	evil.WriteText(&b, TextOptions{})
	if strings.ContainsAny(b.String(), "\x1b\x07") {
		t.Errorf("control characters reach the output:\n%q", b.String())
	}
}
