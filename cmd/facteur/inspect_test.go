package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"facteur/internal/dsn"
	"facteur/internal/envelope"
	"facteur/internal/queue"
	"facteur/internal/store"
)

const inspectMsg = "Return-Path: <bounce@lists.example.org>\r\n" +
	"Received: from mail.example.org (mail.example.org [192.0.2.10])\r\n" +
	"\t(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits))\r\n" +
	"\tby mx.example.net (facteur) with ESMTPS id 7QK3C5VXNM2Q8\r\n" +
	"\tfor <bob@example.net>; Tue, 04 Jun 2024 10:00:07 +0200 (CEST)\r\n" +
	"From: =?UTF-8?Q?Am=C3=A9lie?= <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: =?UTF-8?Q?r=C3=A9union?=\r\n" +
	"Date: Tue, 04 Jun 2024 10:00:00 +0200\r\n" +
	"Message-ID: <m1@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour\r\n" +
	"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n" +
	"Content-Disposition: attachment; filename=\"../report.pdf\"\r\n\r\nJVBERi0xLjQK\r\n" +
	"--b--\r\n"

func TestInspectFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.eml")
	if err := os.WriteFile(path, []byte(inspectMsg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, nil, "", "inspect", path)
	if code != 0 {
		t.Fatalf("inspect FILE: exit %d, %s", code, errs)
	}
	for _, want := range []string{
		"Envelope (as final delivery recorded it",
		"MAIL FROM:<bounce@lists.example.org>",
		"differs from From",
		"Trace (oldest hop first)",
		"by mx.example.net with ESMTPS",
		"TLS TLSv1.3 TLS_AES_128_GCM_SHA256",
		"Subject: réunion",
		"MIME structure",
		`file "../report.pdf"`,
		"Problems\n  none found",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	_, out, _ = runCmd(t, nil, "", "inspect", "--raw", path)
	if !strings.Contains(out, "Subject: =?UTF-8?Q?r=C3=A9union?=") {
		t.Errorf("--raw does not show the encoded word:\n%s", out)
	}
}

// TestInspectStdinJSON: "-" reads standard input; --json writes one
// document.
func TestInspectStdinJSON(t *testing.T) {
	code, out, errs := runCmd(t, nil, inspectMsg, "inspect", "--json", "-")
	if code != 0 {
		t.Fatalf("inspect --json -: exit %d, %s", code, errs)
	}
	var doc struct {
		Envelope struct {
			Source   string `json:"source"`
			MailFrom string `json:"mail_from"`
		} `json:"envelope"`
		Message struct {
			Trace struct {
				Hops []struct {
					With string `json:"with"`
					TLS  string `json:"tls"`
				} `json:"hops"`
			} `json:"trace"`
			Body struct {
				Type  string `json:"type"`
				Parts []struct {
					ID       string `json:"id"`
					Filename string `json:"filename"`
					Size     int64  `json:"size"`
				} `json:"parts"`
			} `json:"body"`
		} `json:"message"`
		Problems []any `json:"problems"`
	}
	if !strings.Contains(out, `"raw": "<m1@example.org>"`) {
		t.Errorf("JSON escapes the angle brackets:\n%s", out)
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if doc.Envelope.Source != "header" || doc.Envelope.MailFrom != "bounce@lists.example.org" {
		t.Errorf("envelope = %+v", doc.Envelope)
	}
	if h := doc.Message.Trace.Hops; len(h) != 1 || h[0].With != "ESMTPS" || h[0].TLS != "TLSv1.3" {
		t.Errorf("hops = %+v", h)
	}
	b := doc.Message.Body
	if b.Type != "multipart/mixed" || len(b.Parts) != 2 || b.Parts[1].ID != "2" || b.Parts[1].Filename != "../report.pdf" || b.Parts[1].Size != 9 {
		t.Errorf("body = %+v", b)
	}
	if doc.Problems == nil || len(doc.Problems) != 0 {
		t.Errorf("problems = %v", doc.Problems)
	}
}

// TestInspectExtract: --extract writes attachments inside DIR only.
func TestInspectExtract(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "att")
	for i, want := range []string{"report.pdf", "report-1.pdf"} {
		code, out, errs := runCmd(t, nil, inspectMsg, "inspect", "--extract", dir, "-")
		if code != 0 {
			t.Fatalf("inspect --extract: exit %d, %s", code, errs)
		}
		if !strings.Contains(out, `saved as "`+want+`"`) {
			t.Errorf("run %d: output does not say %q:\n%s", i+1, want, out)
		}
		got, err := os.ReadFile(filepath.Join(dir, want))
		if err != nil || string(got) != "%PDF-1.4\n" {
			t.Errorf("run %d: %s = %q, %v", i+1, want, got, err)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "report.pdf")); err == nil {
		t.Error("an attachment was written outside DIR")
	}
}

func TestInspectQueue(t *testing.T) {
	path := writeConfig(t)
	q, err := queue.Open(filepath.Join(filepath.Dir(path), "data", "queue"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e := &envelope.Envelope{Sender: "alice@example.org", Arrival: time.Now(), Recipients: []*envelope.Recipient{
		{Addr: "bob@example.net", Notify: dsn.NotifySuccess | dsn.NotifyFailure, ORCPT: dsn.ORCPT{Type: "rfc822", Addr: "bob@example.net"},
			Transport: envelope.TransportSMTP, Dest: "bob@example.net", State: envelope.Pending},
		{Addr: "hidden@example.com", Transport: envelope.TransportSMTP, Dest: "hidden@example.com", State: envelope.Pending},
	}}
	f, err := q.Create(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(inspectMsg)); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	id := f.ID()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, nil, "", "inspect", "queue:"+id, "-config", path)
	if code != 0 {
		t.Fatalf("inspect queue:%s: exit %d, %s", id, code, errs)
	}
	for _, want := range []string{
		"Envelope (queue " + id + ")",
		"MAIL FROM:<alice@example.org>",
		"RCPT TO:<bob@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.net [pending]",
		"RCPT TO <hidden@example.com> is in neither To nor Cc",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code, _, _ := runCmd(t, nil, "", "inspect", "queue:NOSUCHID", "-config", path); code != exNoInput {
		t.Errorf("unknown queue ID: exit %d, want %d", code, exNoInput)
	}
}

func TestInspectMailbox(t *testing.T) {
	path := writeConfig(t)
	st, err := store.Open(filepath.Join(filepath.Dir(path), "data", "store"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.AddUser(ctx, "toto", "secret"); err != nil {
		t.Fatal(err)
	}
	for _, mb := range []string{"Archives", "Archives/2024"} {
		if err := st.CreateMailbox(ctx, "toto", mb); err != nil {
			t.Fatal(err)
		}
	}
	_, uid, err := st.Append(ctx, "toto", "Archives/2024", strings.NewReader(inspectMsg), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	src := "mailbox:toto/Archives/2024/" + strconv.FormatUint(uint64(uid), 10)
	code, out, errs := runCmd(t, nil, "", "inspect", src, "-config", path)
	if code != 0 {
		t.Fatalf("inspect %s: exit %d, %s", src, code, errs)
	}
	if !strings.Contains(out, "Subject: réunion") || !strings.Contains(out, "2  application/pdf") {
		t.Errorf("output:\n%s", out)
	}
	if code, _, _ := runCmd(t, nil, "", "inspect", "mailbox:toto/Archives/2024/999", "-config", path); code != exNoInput {
		t.Errorf("unknown UID: exit %d, want %d", code, exNoInput)
	}
}

func TestParseMailboxSource(t *testing.T) {
	tests := []struct {
		in, account, mailbox string
		uid                  uint32
		bad                  bool
	}{
		{"toto/INBOX/3", "toto", "INBOX", 3, false},
		{"bob@example.org/Archives/2024/12", "bob@example.org", "Archives/2024", 12, false},
		{"toto/INBOX", "", "", 0, true},
		{"toto//3", "", "", 0, true},
		{"/INBOX/3", "", "", 0, true},
		{"toto/INBOX/x", "", "", 0, true},
		{"toto/INBOX/0", "", "", 0, true},
	}
	for _, tt := range tests {
		a, m, u, err := parseMailboxSource(tt.in)
		if (err != nil) != tt.bad || a != tt.account || m != tt.mailbox || u != tt.uid {
			t.Errorf("parseMailboxSource(%q) = %q, %q, %d, %v", tt.in, a, m, u, err)
		}
	}
}

func TestInspectUsage(t *testing.T) {
	if code, _, _ := runCmd(t, nil, "", "inspect"); code != exUsage {
		t.Errorf("no argument: exit %d, want %d", code, exUsage)
	}
	if code, _, _ := runCmd(t, nil, "", "inspect", "a", "b"); code != exUsage {
		t.Errorf("two arguments: exit %d, want %d", code, exUsage)
	}
	if code, _, _ := runCmd(t, nil, "", "inspect", filepath.Join(t.TempDir(), "missing.eml")); code != exNoInput {
		t.Errorf("missing file: exit %d, want %d", code, exNoInput)
	}
	if code, _, _ := runCmd(t, nil, "", "inspect", "mailbox:nouid"); code != exUsage {
		t.Errorf("bad mailbox source: exit %d, want %d", code, exUsage)
	}
}
