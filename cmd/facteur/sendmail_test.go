package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"facteur/internal/address"
	"facteur/internal/envelope"
	"facteur/internal/maildrop"
	"facteur/internal/maillog"
	"facteur/internal/smtp"
	"facteur/internal/smtpd"

	"github.com/google/go-cmp/cmp"
)

func TestParseSendmailArgs(t *testing.T) {
	tests := []struct {
		args []string
		want sendmailOpts
		code int // exit code of the error; 0 for none
	}{
		{args: []string{"toto"}, want: sendmailOpts{mode: "m", rcpts: []string{"toto"}}},
		{args: []string{"-t", "-i"}, want: sendmailOpts{mode: "m", extract: true, ignoreDots: true}},
		{args: []string{"-ti", "-oi", "-oem", "a", "-f", "", "b"}, want: sendmailOpts{mode: "m", extract: true, ignoreDots: true, senderSet: true, rcpts: []string{"a", "b"}}},
		{args: []string{"-fme@x", "-FJean Dupont", "a"}, want: sendmailOpts{mode: "m", sender: "me@x", senderSet: true, fullName: "Jean Dupont", rcpts: []string{"a"}}},
		{args: []string{"-f", "<>", "-F", "J", "a"}, want: sendmailOpts{mode: "m", sender: "<>", senderSet: true, fullName: "J", rcpts: []string{"a"}}},
		{args: []string{"-bs"}, want: sendmailOpts{mode: "s"}},
		{args: []string{"-bp"}, want: sendmailOpts{mode: "p"}},
		{args: []string{"-q"}, want: sendmailOpts{mode: "q"}},
		{args: []string{"-q30m"}, want: sendmailOpts{mode: "q"}},
		{args: []string{"-B", "8BITMIME", "-N", "never", "-odi", "-v", "a", "-config", "/etc/f.cf"}, want: sendmailOpts{mode: "m", config: "/etc/f.cf", rcpts: []string{"a"}}},
		{args: []string{"-C/x/main.cf", "--", "-odd"}, want: sendmailOpts{mode: "m", config: "/x/main.cf", rcpts: []string{"-odd"}}},
		{args: []string{"-k"}, code: exUsage},
		{args: []string{"-f"}, code: exUsage},
		{args: []string{"-bi"}, code: exUsage},
		{args: []string{"-bd"}, code: exUsage},
	}
	for _, tt := range tests {
		got, err := parseSendmailArgs(tt.args)
		var ee *exitError
		switch {
		case tt.code != 0 && !(errors.As(err, &ee) && ee.code == tt.code):
			t.Errorf("%q: error %v, want exit %d", tt.args, err, tt.code)
		case tt.code == 0 && err != nil:
			t.Errorf("%q: %v", tt.args, err)
		case tt.code == 0:
			if diff := cmp.Diff(tt.want, *got, cmp.AllowUnexported(sendmailOpts{})); diff != "" {
				t.Errorf("%q (-want +got):\n%s", tt.args, diff)
			}
		}
	}
}

func TestArgv0Args(t *testing.T) {
	for argv0, want := range map[string][]string{
		"/usr/sbin/sendmail": {"sendmail"},
		"mailq":              {"sendmail", "-bp"},
		"/usr/bin/facteur":   nil,
	} {
		if got := argv0Args(argv0); !cmp.Equal(got, want) {
			t.Errorf("argv0Args(%q) = %q, want %q", argv0, got, want)
		}
	}
}

func TestReadMessage(t *testing.T) {
	tests := []struct {
		name, in   string
		ignoreDots bool
		want       string
	}{
		{"LF to CRLF", "a\nb\n", false, "a\r\nb\r\n"},
		{"CRLF kept", "a\r\nb\r\n", false, "a\r\nb\r\n"},
		{"last line without end", "a\nb", false, "a\r\nb\r\n"},
		{"dot ends", "a\n.\nafter\n", false, "a\r\n"},
		{"dot CRLF ends", "a\r\n.\r\nafter\r\n", false, "a\r\n"},
		{"dot with -i is data", "a\n.\nafter\n", true, "a\r\n.\r\nafter\r\n"},
		{"dots not unstuffed", "..x\n.y\n", false, "..x\r\n.y\r\n"},
		{"final dot without LF is data", "a\n.", false, "a\r\n.\r\n"},
		{"empty", "", false, ""},
	}
	for _, tt := range tests {
		got, err := readMessage(strings.NewReader(tt.in), tt.ignoreDots, 0)
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	_, err := readMessage(strings.NewReader(strings.Repeat("x\n", 100)), false, 150)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exDataErr {
		t.Errorf("a message over the limit: %v, want exit %d", err, exDataErr)
	}
	if got, err := readMessage(strings.NewReader("x\n"), false, 3); err != nil || string(got) != "x\r\n" {
		t.Errorf("a message at the limit: %q, %v", got, err)
	}
}

func TestPrepare(t *testing.T) {
	u := localUser{login: "jean", fullName: "Jean Gecos", uid: 1000}
	tests := []struct {
		name     string
		opts     sendmailOpts
		in       string
		sender   string
		rcpts    []string
		out      string // the message as prepared; "" to skip
		contains []string
		lacks    []string
		code     int
	}{
		{
			name: "bare names qualified, From added", opts: sendmailOpts{rcpts: []string{"toto", "Bob <bob@example.org>"}, fullName: "Jean Gecos"},
			in: "Subject: x\r\n\r\nbody\r\n", sender: "jean@example.test", rcpts: []string{"toto@example.test", "bob@example.org"},
			out: "Subject: x\r\nFrom: \"Jean Gecos\" <jean@example.test>\r\n\r\nbody\r\n",
		},
		{
			name: "-f and -F", opts: sendmailOpts{rcpts: []string{"a@b.c"}, sender: "me", senderSet: true, fullName: `Dr "Who"`},
			in: "\r\nbody\r\n", sender: "me@example.test", rcpts: []string{"a@b.c"},
			out: "From: \"Dr \\\"Who\\\"\" <me@example.test>\r\n\r\nbody\r\n",
		},
		{
			name: "null sender", opts: sendmailOpts{rcpts: []string{"a@b.c"}, sender: "<>", senderSet: true},
			in: "From: x@y\r\n\r\nb\r\n", sender: "", rcpts: []string{"a@b.c"}, out: "From: x@y\r\n\r\nb\r\n",
		},
		{
			name: "non-ASCII full name", opts: sendmailOpts{rcpts: []string{"a@b.c"}, fullName: "Zoé"},
			in: "\r\nb\r\n", sender: "jean@example.test", rcpts: []string{"a@b.c"}, contains: []string{"From: =?utf-8?q?Zo=C3=A9?= <jean@example.test>\r\n"},
		},
		{
			name:     "-t with groups, folding and Bcc removed",
			opts:     sendmailOpts{extract: true, rcpts: []string{"extra"}},
			in:       "To: Team: a@x.org, \"B, b\" <b@x.org>;\r\nCc: toto, undisclosed-recipients:;\r\nBcc: secret@x.org,\r\n\tother@x.org\r\nSubject: s\r\n\r\nbody\r\n",
			sender:   "jean@example.test",
			rcpts:    []string{"a@x.org", "b@x.org", "toto@example.test", "secret@x.org", "other@x.org", "extra@example.test"},
			lacks:    []string{"Bcc", "secret", "other@x.org"},
			contains: []string{"To: Team: a@x.org", "Subject: s\r\n", "From: <jean@example.test>\r\n\r\nbody"},
		},
		{
			name: "-t with Resent- fields", opts: sendmailOpts{extract: true},
			in:     "To: old@x.org\r\nResent-To: new@x.org\r\nResent-Bcc: hidden@x.org\r\n\r\nb\r\n",
			sender: "jean@example.test", rcpts: []string{"new@x.org", "hidden@x.org"}, lacks: []string{"hidden"},
		},
		{
			name: "-t without recipients", opts: sendmailOpts{extract: true},
			in: "Subject: s\r\n\r\nb\r\n", code: exUsage,
		},
		{
			name: "-t with a malformed address", opts: sendmailOpts{extract: true},
			in: "To: <a@@b>\r\n\r\nb\r\n", code: exDataErr,
		},
		{
			name: "malformed recipient", opts: sendmailOpts{rcpts: []string{"a@@b"}}, in: "x\r\n", code: exDataErr,
		},
		{
			name: "no header: From, then the empty line", opts: sendmailOpts{rcpts: []string{"a@b.c"}},
			in: "just text\r\n", sender: "jean@example.test", rcpts: []string{"a@b.c"},
			out: "From: <jean@example.test>\r\n\r\njust text\r\n",
		},
		{
			name: "duplicate recipients once", opts: sendmailOpts{rcpts: []string{"a", "a@example.test", "A@Example.Test"}},
			in: "From: x@y\r\n\r\nb\r\n", sender: "jean@example.test", rcpts: []string{"a@example.test", "A@example.test"},
		},
	}
	for _, tt := range tests {
		o := tt.opts
		de, out, err := prepare([]byte(tt.in), &o, u, "example.test")
		if tt.code != 0 {
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != tt.code {
				t.Errorf("%s: error %v, want exit %d", tt.name, err, tt.code)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if de.Sender != tt.sender {
			t.Errorf("%s: sender %q, want %q", tt.name, de.Sender, tt.sender)
		}
		if diff := cmp.Diff(tt.rcpts, de.Recipients); diff != "" {
			t.Errorf("%s: recipients (-want +got):\n%s", tt.name, diff)
		}
		if tt.out != "" && string(out) != tt.out {
			t.Errorf("%s: message\n%q, want\n%q", tt.name, out, tt.out)
		}
		for _, s := range tt.contains {
			if !bytes.Contains(out, []byte(s)) {
				t.Errorf("%s: message lacks %q:\n%s", tt.name, s, out)
			}
		}
		for _, s := range tt.lacks {
			if bytes.Contains(out, []byte(s)) {
				t.Errorf("%s: message still has %q:\n%s", tt.name, s, out)
			}
		}
	}
}

func TestPermanentRefusal(t *testing.T) {
	for text, want := range map[string]bool{
		"554 5.4.6 Error: too many hops": true,
		"451 4.3.0 Error":                false,
		"queue: disk full":               false,
		"5":                              false,
	} {
		if got := permanentRefusal(errors.New(text)); got != want {
			t.Errorf("permanentRefusal(%q) = %v", text, got)
		}
	}
}

// fakeRcptPolicy refuses "nobody" for good and "later" for now.
type fakeRcptPolicy struct{}

func (fakeRcptPolicy) Recipient(_ context.Context, client *envelope.Client, a address.Address) ([]*envelope.Recipient, *smtp.Reply) {
	switch {
	case client != nil:
		return nil, smtp.NewReply(554, "5.7.1", "not a local submission")
	case a.Local == "nobody":
		return nil, smtp.NewReply(550, "5.1.1", "<"+a.String()+">: Recipient address rejected: User unknown")
	case a.Local == "later":
		return nil, smtp.NewReply(450, "4.3.0", "try later")
	}
	return []*envelope.Recipient{{Addr: a.String(), Transport: envelope.TransportLocal, Dest: a.Local}}, nil
}

type fakeSubmitSink struct{ msgs []*fakeSubmitted }

type fakeSubmitted struct {
	env       *envelope.Envelope
	buf       bytes.Buffer
	committed bool
}

func (*fakeSubmitSink) SpaceOK() bool { return true }
func (s *fakeSubmitSink) Begin(_ context.Context, env *envelope.Envelope) (smtpd.Message, error) {
	m := &fakeSubmitted{env: env}
	s.msgs = append(s.msgs, m)
	return m, nil
}
func (m *fakeSubmitted) ID() string                  { return "QID" }
func (m *fakeSubmitted) Write(p []byte) (int, error) { return m.buf.Write(p) }
func (m *fakeSubmitted) Commit(context.Context) error {
	m.committed = true
	return nil
}
func (m *fakeSubmitted) Abort() {}

func newTestPickup(t *testing.T) (*pickup, *fakeSubmitSink) {
	sink := &fakeSubmitSink{}
	return &pickup{dir: t.TempDir(), pol: fakeRcptPolicy{}, sink: sink, log: maillog.New(nil), kick: make(chan struct{}, 1)}, sink
}

func TestPickupSubmit(t *testing.T) {
	p, sink := newTestPickup(t)
	ctx := context.Background()
	de := &maildrop.Envelope{Sender: "me@example.test", Recipients: []string{"toto@example.test", "nobody@example.test"}, Size: 3}
	id, err := p.submit(ctx, de, strings.NewReader("x\r\n"))
	if err != nil || id != "QID" {
		t.Fatalf("submit = %q, %v", id, err)
	}
	m := sink.msgs[0]
	if !m.committed || m.buf.String() != "x\r\n" || !m.env.Client.Local || m.env.Client.Protocol != "local" || m.env.Client.Addr.IsValid() {
		t.Errorf("queued %+v %q", m.env, m.buf.String())
	}
	got := m.env.Recipients
	if len(got) != 2 || got[0].State != "" || got[1].State != envelope.Bounced || !strings.HasPrefix(got[1].LastReply, "5.1.1 ") {
		t.Errorf("recipients %+v %+v: want toto queued and nobody bounced", got[0], got[1])
	}

	// A temporary refusal of one recipient: nothing is queued, to retry.
	de = &maildrop.Envelope{Recipients: []string{"toto@example.test", "later@example.test"}, Size: 3}
	if _, err := p.submit(ctx, de, strings.NewReader("x\r\n")); err == nil || permanentRefusal(err) {
		t.Errorf("temporary refusal: %v", err)
	}
	// A message shorter than its envelope says is not committed.
	de = &maildrop.Envelope{Recipients: []string{"toto@example.test"}, Size: 10}
	if _, err := p.submit(ctx, de, strings.NewReader("x\r\n")); err == nil || sink.msgs[len(sink.msgs)-1].committed {
		t.Errorf("short message: %v", err)
	}
}

func TestPickupScan(t *testing.T) {
	p, sink := newTestPickup(t)
	_, err := maildrop.Write(p.dir, &maildrop.Envelope{Recipients: []string{"toto@example.test"}}, []byte("hi\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	later, _ := maildrop.Write(p.dir, &maildrop.Envelope{Recipients: []string{"later@example.test"}}, []byte("hi\r\n"))
	os.WriteFile(filepath.Join(p.dir, "broken"), []byte("not a drop file"), 0o600)
	p.scan(context.Background())

	if len(sink.msgs) != 1 || sink.msgs[0].buf.String() != "hi\r\n" || !sink.msgs[0].committed {
		t.Fatalf("queued %d messages", len(sink.msgs))
	}
	left, _ := maildrop.List(p.dir)
	if diff := cmp.Diff([]string{later}, left); diff != "" {
		t.Errorf("maildrop after the scan (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(p.dir, maildrop.CorruptDir, "broken")); err != nil {
		t.Errorf("the corrupt file was not moved aside: %v", err)
	}
}

func TestStreamConn(t *testing.T) {
	in, w := io.Pipe()
	var out bytes.Buffer
	c := newStreamConn(in, &out)
	go func() { w.Write([]byte("hello")); w.Close() }()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hello" {
		t.Errorf("read %q, %v", got, err)
	}
	c.Write([]byte("reply"))
	if out.String() != "reply" {
		t.Errorf("wrote %q", out.String())
	}

	// A read waiting for input ends at Close.
	in2, w2 := io.Pipe()
	defer w2.Close()
	c2 := newStreamConn(in2, io.Discard)
	done := make(chan error, 1)
	go func() {
		_, err := c2.Read(make([]byte, 10))
		done <- err
	}()
	c2.Close()
	if err := <-done; err == nil {
		t.Error("Read after Close succeeded")
	}
}
