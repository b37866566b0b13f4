package local

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"facteur/internal/envelope"
	"facteur/internal/maillog"
	"facteur/internal/queue"
	"facteur/internal/store"
)

const testMessage = "From: alice@example.com\r\nSubject: test\r\n\r\nHello,\r\nFrom here on.\r\n>From there.\r\n"

var testNow = time.Date(2026, 11, 27, 23, 14, 58, 0, time.UTC)

// fileContent is a queued message's content kept in a file that is never
// modified, as a queue file: mailbox delivery links it into the store.
type fileContent string

func (f fileContent) Open() (io.ReadCloser, error) { return os.Open(string(f)) }
func (f fileContent) Path() string                 { return string(f) }

// openOnly is content that can only be opened: mailbox delivery copies it.
type openOnly struct{ fileContent }

func (o openOnly) Open() (io.ReadCloser, error) { return o.fileContent.Open() }

func newMessage(t *testing.T, sender, body string) message {
	t.Helper()
	path := filepath.Join(t.TempDir(), "content")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return message{env: &envelope.Envelope{ID: "4A5B6C7D8E", Sender: sender}, content: fileContent(path)}
}

func openStore(t *testing.T, users ...string) (*store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenWith(dir, store.Options{Argon2Time: 1, Argon2MemoryKiB: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, u := range users {
		if err := st.AddUser(context.Background(), u, "secret"); err != nil {
			t.Fatal(err)
		}
	}
	return st, dir
}

func newDeliverer(st *store.Store, log *bytes.Buffer, opt Options) *Deliverer {
	if log != nil {
		opt.Log = maillog.New(slog.New(slog.NewTextHandler(log, nil)))
	}
	opt.Now = func() time.Time { return testNow }
	return New(st, opt)
}

func rcpt(addr, dest, final string) *envelope.Recipient {
	return &envelope.Recipient{Addr: addr, Dest: dest, Final: final, Transport: envelope.TransportLocal}
}

// stored returns the messages of an account's INBOX, read back through
// the store, in UID order.
func stored(t *testing.T, st *store.Store, account string) []string {
	t.Helper()
	ctx := context.Background()
	msgs, err := st.Messages(ctx, account, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		rc, err := st.OpenMessage(ctx, account, "", m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != m.Size {
			t.Errorf("%s UID %d: read %d bytes, size says %d", account, m.UID, len(b), m.Size)
		}
		out = append(out, string(b))
	}
	return out
}

// blobCount counts the content files under the store's blobs directory
// (the layout the store's package comment documents).
func blobCount(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, "blobs"), func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMailboxes(t *testing.T) {
	for _, tt := range []struct {
		name string
		wrap func(fileContent) content
	}{
		{"linked queue file", func(f fileContent) content { return f }},
		{"copied content", func(f fileContent) content { return openOnly{f} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, dir := openStore(t, "alice", "bob", "carol@example.org")
			var log bytes.Buffer
			msg := newMessage(t, "", testMessage)
			msg.content = tt.wrap(msg.content.(fileContent))
			testMailboxes(t, st, dir, &log, msg)
		})
	}
}

func testMailboxes(t *testing.T, st *store.Store, dir string, log *bytes.Buffer, msg message) {
	d := newDeliverer(st, log, Options{})
	rcpts := []*envelope.Recipient{
		rcpt("alice@example.org", "alice", "alice@example.org"),
		rcpt("postmaster@example.org", "bob", "bob@example.org"),
		rcpt("nobody@example.org", "nobody", "nobody@example.org"),
		rcpt("carol@example.org", "carol@example.org", ""),
		rcpt("alice@example.org", "alice", "alice@example.org"), // duplicate
	}
	got := d.deliver(context.Background(), msg, rcpts)
	ok := queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "delivered to mailbox", Relay: "local"}
	want := []queue.Result{ok, ok,
		{Status: queue.Bounced, DSN: "5.1.1", Text: `unknown user: "nobody"`, Relay: "local"}, ok, ok}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("results (-want +got):\n%s", diff)
	}
	for acct, to := range map[string]string{"alice": "alice@example.org", "bob": "bob@example.org",
		"carol@example.org": "carol@example.org"} {
		want := []string{"Return-Path: <>\r\nDelivered-To: " + to + "\r\n" + testMessage}
		if diff := cmp.Diff(want, stored(t, st, acct)); diff != "" {
			t.Errorf("%s INBOX (-want +got):\n%s", acct, diff)
		}
	}
	if n := blobCount(t, dir); n != 1 {
		t.Errorf("%d content files, want one shared by every mailbox", n)
	}
}

func TestMailboxReturnPath(t *testing.T) {
	st, _ := openStore(t, "bob")
	d := newDeliverer(st, nil, Options{})
	r := d.deliver(context.Background(), newMessage(t, "alice@example.com", testMessage),
		[]*envelope.Recipient{rcpt("bob@example.org", "bob", "")})
	if r[0].Status != queue.Delivered {
		t.Fatalf("result %+v", r[0])
	}
	want := []string{"Return-Path: <alice@example.com>\r\nDelivered-To: bob@example.org\r\n" + testMessage}
	if diff := cmp.Diff(want, stored(t, st, "bob")); diff != "" {
		t.Errorf("bob's INBOX (-want +got):\n%s", diff)
	}
}

// TestVanishedAccount delivers to an account deleted after policy accepted
// it: the optimistic delivery fails, the accounts are looked up, the gone
// one bounces and the others are delivered, leaving no stray content.
func TestVanishedAccount(t *testing.T) {
	st, dir := openStore(t, "alice", "bob", "carol")
	if err := st.DeleteUser(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}
	d := newDeliverer(st, nil, Options{})
	got := d.deliver(context.Background(), newMessage(t, "", testMessage), []*envelope.Recipient{
		rcpt("bob@example.org", "bob", ""),
		rcpt("alice@example.org", "alice", ""),
		rcpt("bob@example.org", "bob", ""), // duplicate of a vanished account
		rcpt("carol@example.org", "carol", ""),
	})
	ok := queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "delivered to mailbox", Relay: "local"}
	gone := queue.Result{Status: queue.Bounced, DSN: "5.1.1", Text: `unknown user: "bob"`, Relay: "local"}
	if diff := cmp.Diff([]queue.Result{gone, ok, gone, ok}, got); diff != "" {
		t.Fatalf("results (-want +got):\n%s", diff)
	}
	for _, acct := range []string{"alice", "carol"} {
		if n := len(stored(t, st, acct)); n != 1 {
			t.Errorf("%s's INBOX holds %d messages, want 1", acct, n)
		}
	}
	if n := blobCount(t, dir); n != 1 {
		t.Errorf("%d content files, want the one delivered (the failed try's removed)", n)
	}
}

func TestStoreFailureDefers(t *testing.T) {
	st, _ := openStore(t, "bob")
	var log bytes.Buffer
	d := newDeliverer(st, &log, Options{})
	st.Close()
	got := d.deliver(context.Background(), newMessage(t, "a@b", testMessage),
		[]*envelope.Recipient{rcpt("bob@example.org", "bob", "")})
	want := []queue.Result{{Status: queue.Deferred, DSN: "4.3.0", Text: tempMailbox, Relay: "local"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	// The detail is for the operator's mail log, not for the sender.
	if !strings.Contains(log.String(), "warning: 4A5B6C7D8E: delivering to mailbox: ") {
		t.Errorf("mail log lacks the store fault:\n%s", log.String())
	}
}

func TestUnreadableQueueFileDefers(t *testing.T) {
	st, _ := openStore(t, "bob")
	d := newDeliverer(st, nil, Options{})
	msg := &queue.Message{Env: &envelope.Envelope{ID: "X"}} // no content file
	mbox := filepath.Join(t.TempDir(), "mbox")
	got := d.Deliver(context.Background(), msg, []*envelope.Recipient{
		rcpt("bob@example.org", "bob", ""), rcpt("f@example.org", mbox, ""), rcpt("c@example.org", "|cat", "")})
	for i, r := range got {
		if r.Status != queue.Deferred || r.DSN != "4.3.0" {
			t.Errorf("result %d = %+v, want deferred 4.3.0", i, r)
		}
	}
	if n, _ := st.Count(context.Background(), "bob", "INBOX"); n != 0 {
		t.Errorf("bob's INBOX holds %d messages", n)
	}
}

func TestCancelledContextDefers(t *testing.T) {
	st, _ := openStore(t, "bob")
	d := newDeliverer(st, nil, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := d.deliver(ctx, newMessage(t, "a@b", testMessage), []*envelope.Recipient{
		rcpt("bob@example.org", "bob", ""), rcpt("c@example.org", "|cat", "")})
	for i, r := range got {
		if r.Status != queue.Deferred {
			t.Errorf("result %d = %+v, want deferred", i, r)
		}
	}
}

func TestExitMeaning(t *testing.T) {
	tests := []struct {
		code int
		want sysexit
	}{
		{64, sysexit{"5.3.0", "command line usage error"}},
		{67, sysexit{"5.1.1", "user unknown"}},
		{71, sysexit{"4.3.0", "system resource problem"}},
		{73, sysexit{"5.2.0", "can't create user output file"}},
		{75, sysexit{"4.3.0", "temporary failure"}},
		{78, sysexit{"5.3.5", "local configuration error"}},
		{1, sysexit{"5.3.0", "unknown mail system error"}},
		{79, sysexit{"5.3.0", "unknown mail system error"}},
		{255, sysexit{"5.3.0", "unknown mail system error"}},
	}
	for _, tt := range tests {
		if got := exitMeaning(tt.code); got != tt.want {
			t.Errorf("exitMeaning(%d) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func TestCommandEnv(t *testing.T) {
	d := newDeliverer(nil, nil, Options{RecipientDelimiter: "+-", Hostname: "mx.example.org"})
	env := &envelope.Envelope{Sender: "alice@example.com"}
	r := rcpt("bob+lists@example.org", "|x", "")
	r.ORCPT.Type, r.ORCPT.Addr = "rfc822", "Bob@Example.ORG"
	got := d.commandEnv(env, r)
	want := []string{"PATH=/usr/bin:/bin", "SHELL=/bin/sh", "SENDER=alice@example.com",
		"RECIPIENT=bob+lists@example.org", "ORIGINAL_RECIPIENT=Bob@Example.ORG",
		"LOCAL=bob+lists", "DOMAIN=example.org", "EXTENSION=lists"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	got = d.commandEnv(&envelope.Envelope{}, rcpt("root", "|x", ""))
	want = []string{"PATH=/usr/bin:/bin", "SHELL=/bin/sh", "SENDER=", "RECIPIENT=root",
		"ORIGINAL_RECIPIENT=root", "LOCAL=root", "DOMAIN=mx.example.org", "EXTENSION="}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("env without domain (-want +got):\n%s", diff)
	}
}
