package bounce

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"facteur/internal/address"
	"facteur/internal/dsn"
	"facteur/internal/envelope"
	"facteur/internal/queue"
	"facteur/internal/smtp"
)

// fakeQueue keeps what was committed.
type fakeQueue struct {
	committed []*fakeFile
}

type fakeFile struct {
	bytes.Buffer
	q         *fakeQueue
	env       *envelope.Envelope
	committed bool
}

func (f *fakeFile) ID() string { return "NOTICE1" }
func (f *fakeFile) Commit(context.Context) error {
	f.committed = true
	f.q.committed = append(f.q.committed, f)
	return nil
}
func (f *fakeFile) Abort() {}

func (q *fakeQueue) Create(_ context.Context, env *envelope.Envelope) (File, error) {
	return &fakeFile{q: q, env: env}, nil
}

// fakeResolver routes every address to itself, but those in refuse.
type fakeResolver struct {
	refuse map[string]*smtp.Reply
}

func (r fakeResolver) Recipient(_ context.Context, _ *envelope.Client, a address.Address) ([]*envelope.Recipient, *smtp.Reply) {
	if reply := r.refuse[a.String()]; reply != nil {
		return nil, reply
	}
	return []*envelope.Recipient{{Addr: a.String(), Transport: envelope.TransportLocal, Dest: a.Local}}, nil
}

const original = "From: s@example.org\r\nTo: a@remote.test\r\nSubject: hi\r\n\r\nbody\r\n"

func message(t *testing.T, sender, notice string, ret dsn.Ret) *queue.Message {
	t.Helper()
	path := filepath.Join(t.TempDir(), "msg")
	if err := os.WriteFile(path, []byte(original), 0o600); err != nil {
		t.Fatal(err)
	}
	env := &envelope.Envelope{ID: "ORIG1", Sender: sender, Notice: notice, Ret: ret, EnvID: "env-42",
		Arrival: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), Client: envelope.Client{Helo: "client.example.org"}}
	return queue.NewMessage(env, path)
}

var (
	now     = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	bounced = &envelope.Recipient{Addr: "a@remote.test", State: envelope.Bounced, Relay: "mx.remote.test[192.0.2.1]:25",
		Reply:     "550 5.1.1 <a@remote.test>: no such user",
		LastReply: "5.1.1 host mx.remote.test[192.0.2.1] said: 550 5.1.1 <a@remote.test>: no such user (in reply to RCPT TO command)",
		ORCPT:     dsn.ORCPT{Type: "rfc822", Addr: "alias@example.org"}}
	deferred = &envelope.Recipient{Addr: "b@remote.test", State: envelope.Deferred, LastReply: "4.4.1 connect to mx.remote.test[192.0.2.1]:25: Connection refused", Relay: "none"}
	relayed  = &envelope.Recipient{Addr: "c@remote.test", State: envelope.Delivered, Action: "relayed", Reply: "250 ok", Relay: "mx.remote.test[192.0.2.1]:25", LastReply: "2.0.0 host mx.remote.test[192.0.2.1] said: 250 ok"}
)

func TestNotify(t *testing.T) {
	tests := []struct {
		name       string
		sender     string
		notice     string // Notice of the original
		delay      bool
		rcpts      []*envelope.Recipient
		refuse     map[string]*smtp.Reply
		wantTo     string // "" = nothing queued
		wantKind   string
		wantAction []dsn.Action
	}{
		{"failure to the sender", "s@example.org", "", false, []*envelope.Recipient{bounced},
			nil, "s@example.org", envelope.NoticeSender, []dsn.Action{dsn.ActionFailed}},
		{"delay", "s@example.org", "", true, []*envelope.Recipient{deferred},
			nil, "s@example.org", envelope.NoticeSender, []dsn.Action{dsn.ActionDelayed}},
		{"failure and relayed in one", "s@example.org", "", false, []*envelope.Recipient{bounced, relayed},
			nil, "s@example.org", envelope.NoticeSender, []dsn.Action{dsn.ActionFailed, dsn.ActionRelayed}},
		{"null sender goes to the postmaster", "", "", false, []*envelope.Recipient{bounced},
			nil, "postmaster", envelope.NoticePostmaster, []dsn.Action{dsn.ActionFailed}},
		{"a failed postmaster notice is dropped", "", envelope.NoticePostmaster, false, []*envelope.Recipient{bounced},
			nil, "", "", nil},
		{"an unknown sender: the postmaster instead", "nobody@example.org", "", false, []*envelope.Recipient{bounced},
			map[string]*smtp.Reply{"nobody@example.org": smtp.NewReply(550, "5.1.1", "no such user")},
			"postmaster", envelope.NoticePostmaster, []dsn.Action{dsn.ActionFailed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &fakeQueue{}
			n := New(q, fakeResolver{refuse: tt.refuse}, Options{Hostname: "mx.example.org", Origin: "example.org",
				MaxLifetime: 5 * 24 * time.Hour, Now: func() time.Time { return now }})
			if err := n.Notify(context.Background(), message(t, tt.sender, tt.notice, ""), tt.delay, tt.rcpts); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if tt.wantTo == "" {
				if len(q.committed) != 0 {
					t.Fatalf("%d notices queued, want none", len(q.committed))
				}
				return
			}
			if len(q.committed) != 1 {
				t.Fatalf("%d notices queued, want 1", len(q.committed))
			}
			f := q.committed[0]
			if f.env.Sender != "" || f.env.Notice != tt.wantKind || len(f.env.Recipients) != 1 ||
				f.env.Recipients[0].Addr != tt.wantTo || f.env.Recipients[0].State != envelope.Pending {
				t.Errorf("notice envelope: sender %q, notice %q, recipients %+v", f.env.Sender, f.env.Notice, f.env.Recipients)
			}
			p, err := dsn.ParseReport(bytes.NewReader(f.Bytes()))
			if err != nil {
				t.Fatalf("ParseReport: %v\n%s", err, f.String())
			}
			var actions []dsn.Action
			for _, r := range p.Report.Recipients {
				actions = append(actions, r.Action)
			}
			if diff := cmp.Diff(tt.wantAction, actions); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			if p.Report.ReportingMTA != "mx.example.org" || p.Report.EnvID != "env-42" {
				t.Errorf("report %+v", p.Report)
			}
			if !strings.Contains(f.String(), "From: MAILER-DAEMON@example.org") &&
				!strings.Contains(f.String(), "<MAILER-DAEMON@example.org>") {
				t.Errorf("notice not from MAILER-DAEMON@example.org:\n%s", f.String())
			}
		})
	}
}

func TestReportFields(t *testing.T) {
	q := &fakeQueue{}
	n := New(q, fakeResolver{}, Options{Hostname: "mx.example.org", MaxLifetime: 48 * time.Hour, Now: func() time.Time { return now }})
	msg := message(t, "s@example.org", "", "")
	if err := n.Notify(context.Background(), msg, false, []*envelope.Recipient{bounced}); err != nil {
		t.Fatal(err)
	}
	p, err := dsn.ParseReport(bytes.NewReader(q.committed[0].Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	got := p.Report.Recipients[0]
	if got.Status != "5.1.1" || got.RemoteMTA != "mx.remote.test" || got.FinalRecipient != "a@remote.test" ||
		got.DiagnosticCode != "550 5.1.1 <a@remote.test>: no such user" ||
		got.OriginalRecipient.Addr != "alias@example.org" {
		t.Errorf("recipient fields %+v", got)
	}
	if !bytes.Contains(p.Original, []byte("Subject: hi")) {
		t.Errorf("original not attached: %q", p.Original)
	}
}

func TestLocalDecisionIsTheDiagnostic(t *testing.T) {
	q := &fakeQueue{}
	n := New(q, fakeResolver{}, Options{Hostname: "mx.example.org", Now: func() time.Time { return now }})
	loop := &envelope.Recipient{Addr: "x@loop.test", State: envelope.Bounced, Relay: "none",
		LastReply: "5.4.6 mail for loop.test loops back to myself"}
	if err := n.Notify(context.Background(), message(t, "s@example.org", "", ""), false, []*envelope.Recipient{loop}); err != nil {
		t.Fatal(err)
	}
	p, err := dsn.ParseReport(bytes.NewReader(q.committed[0].Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	got := p.Report.Recipients[0]
	if !strings.EqualFold(got.DiagnosticType, "X-Facteur") || got.DiagnosticCode != "mail for loop.test loops back to myself" || got.RemoteMTA != "" {
		t.Errorf("diagnostic %q; %q, Remote-MTA %q", got.DiagnosticType, got.DiagnosticCode, got.RemoteMTA)
	}
	if !strings.Contains(p.Text, "loops back to myself") {
		t.Errorf("the notice's text does not say why:\n%s", p.Text)
	}
}

func TestTemporaryRoutingFailureIsRetried(t *testing.T) {
	q := &fakeQueue{}
	n := New(q, fakeResolver{refuse: map[string]*smtp.Reply{"s@example.org": smtp.NewReply(451, "4.3.0", "lookup failed")}},
		Options{Now: func() time.Time { return now }})
	if err := n.Notify(context.Background(), message(t, "s@example.org", "", ""), false, []*envelope.Recipient{bounced}); err == nil {
		t.Fatal("Notify succeeded though the sender's route is unknown for now")
	}
	if len(q.committed) != 0 {
		t.Errorf("%d notices queued", len(q.committed))
	}
}
