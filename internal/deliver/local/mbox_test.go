package local

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"facteur/internal/envelope"
	"facteur/internal/queue"
)

func TestMboxAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	d := newDeliverer(nil, nil, Options{})
	r := rcpt("bob@example.org", path, "")
	for _, sender := range []string{"alice@example.com", ""} {
		got := d.deliver(context.Background(), newMessage(t, sender, testMessage), []*envelope.Recipient{r})[0]
		want := queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "delivered to file: " + path, Relay: "local"}
		if got != want {
			t.Fatalf("result %+v, want %+v", got, want)
		}
	}
	entry := func(sender, returnPath string) string {
		return "From " + sender + " Fri Nov 27 23:14:58 2026\n" +
			"Return-Path: <" + returnPath + ">\nDelivered-To: bob@example.org\n" +
			"From: alice@example.com\nSubject: test\n\nHello,\n>From here on.\n>From there.\n\n"
	}
	want := entry("alice@example.com", "alice@example.com") + entry("MAILER-DAEMON", "")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Errorf("mbox:\n%s\nwant:\n%s", b, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mbox mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestMboxNoFinalNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	d := newDeliverer(nil, nil, Options{})
	d.deliver(context.Background(), newMessage(t, "a@b", "Subject: x\r\n\r\nno newline"),
		[]*envelope.Recipient{rcpt("c@d", path, "")})
	b, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(b), "\n\nno newline\n\n") {
		t.Errorf("mbox ends %q, want the last line completed and an empty line", b)
	}
}

// failingContent yields some of the message, then a read error.
type failingContent struct{}

func (failingContent) Open() (io.ReadCloser, error) {
	return io.NopCloser(io.MultiReader(strings.NewReader(strings.Repeat("line\r\n", 20000)),
		errReader{})), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk read error") }

func TestMboxFailureRestoresFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	const before = "From x Fri Nov 27 23:14:58 2026\nSubject: old\n\nold\n\n"
	if err := os.WriteFile(path, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	d := newDeliverer(nil, nil, Options{})
	msg := message{env: &envelope.Envelope{ID: "X", Sender: "a@b"}, content: failingContent{}}
	got := d.deliver(context.Background(), msg, []*envelope.Recipient{rcpt("c@d", path, "")})[0]
	if got.Status != queue.Deferred || got.DSN != "4.3.0" || strings.Contains(got.Text, "disk read error") {
		t.Errorf("result %+v, want deferred 4.3.0 with a generic text", got)
	}
	if b, _ := os.ReadFile(path); string(b) != before {
		t.Errorf("mbox after a failed append holds %d bytes, want the %d it had", len(b), len(before))
	}
}

func TestMboxErrorsDefer(t *testing.T) {
	dir := t.TempDir()
	d := newDeliverer(nil, nil, Options{})
	for _, dest := range []string{dir, filepath.Join(dir, "missing", "mbox")} {
		got := d.deliver(context.Background(), newMessage(t, "a@b", testMessage),
			[]*envelope.Recipient{rcpt("c@d", dest, "")})[0]
		if got.Status != queue.Deferred || got.DSN != "4.3.0" {
			t.Errorf("%s: result %+v, want deferred 4.3.0", dest, got)
		}
	}
}

func TestMboxWaitsForLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	// Held by someone else: the delivery waits, and gives up with ctx.
	d := newDeliverer(nil, nil, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	got := d.deliver(ctx, newMessage(t, "a@b", testMessage), []*envelope.Recipient{rcpt("c@d", path, "")})[0]
	if got.Status != queue.Deferred {
		t.Errorf("result %+v while the lock is held, want deferred", got)
	}
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Errorf("mbox written while locked: %q", b)
	}
	// Released while a delivery waits: it goes through.
	done := make(chan queue.Result)
	go func() {
		done <- d.deliver(context.Background(), newMessage(t, "a@b", testMessage), []*envelope.Recipient{rcpt("c@d", path, "")})[0]
	}()
	time.Sleep(150 * time.Millisecond) // let it find the lock taken (either way it must deliver)
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Errorf("mbox written while locked: %q", b)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if got := <-done; got.Status != queue.Delivered {
		t.Errorf("result %+v after the lock was released, want delivered", got)
	}
}

// TestMboxRefusesSymlink: a symbolic link at the target must not redirect
// the delivery to the file it names.
func TestMboxRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "mbox")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	d := newDeliverer(nil, nil, Options{})
	got := d.deliver(context.Background(), newMessage(t, "a@b", testMessage),
		[]*envelope.Recipient{rcpt("c@d", link, "")})[0]
	if got.Status == queue.Delivered {
		t.Errorf("delivered through a symbolic link: %+v", got)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("the link's target was written: %q", b)
	}
}
