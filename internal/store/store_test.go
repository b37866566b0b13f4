package store

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// cheap makes password hashing fast in tests.
var cheap = Options{Argon2Time: 1, Argon2MemoryKiB: 64, Argon2Threads: 1}

func openTest(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := OpenWith(dir, cheap)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t testing.TB, users ...string) *Store {
	t.Helper()
	s := openTest(t, t.TempDir())
	for _, u := range users {
		if err := s.AddUser(context.Background(), u, "secret"); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

type rcpt struct{ account, mailbox, prefix string }

func deliver(t testing.TB, s *Store, body string, rcpts ...rcpt) error {
	t.Helper()
	d, err := s.BeginDelivery(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rcpts {
		d.Add(r.account, r.mailbox, []byte(r.prefix))
	}
	if _, err := io.WriteString(d, body); err != nil {
		t.Fatal(err)
	}
	return d.Commit(context.Background())
}

func readMessage(t *testing.T, s *Store, account, mailbox string, uid uint32) string {
	t.Helper()
	rc, err := s.OpenMessage(context.Background(), account, mailbox, uid)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// blobFiles lists the content files under the store's blobs directory.
func blobFiles(t *testing.T, s *Store) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(s.dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func uids(t *testing.T, s *Store, account, mailbox string) []uint32 {
	t.Helper()
	msgs, err := s.Messages(context.Background(), account, mailbox)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	for _, m := range msgs {
		out = append(out, m.UID)
	}
	return out
}

const sample = "From: =?utf-8?q?Ren=C3=A9?= <rene@example.org>\r\n" +
	"To: toto@localhost,\r\n bob@example.org\r\n" +
	"Subject: hello\r\n" +
	"Date: Mon, 2 Jun 2025 10:00:00 +0000\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"\r\n" +
	"Subject: not a header\r\n"

func TestDeliverSeveralRecipientsOneBlob(t *testing.T) {
	s := newStore(t, "toto", "bob@example.org")
	rs := []rcpt{
		{"toto", "", "Return-Path: <a@b>\r\nDelivered-To: toto@localhost\r\n"},
		{"BOB@example.org", "inbox", "Delivered-To: bob@example.org\r\n"},
		{"toto", "Archive", ""},
	}
	if err := deliver(t, s, sample, rs...); err != nil {
		t.Fatal(err)
	}
	if n := len(blobFiles(t, s)); n != 1 {
		t.Errorf("%d blob files, want 1 shared", n)
	}
	for _, r := range rs {
		if got := readMessage(t, s, r.account, r.mailbox, 1); got != r.prefix+sample {
			t.Errorf("%s/%s read back %q, want %q", r.account, r.mailbox, got, r.prefix+sample)
		}
		msgs, err := s.Messages(context.Background(), r.account, r.mailbox)
		if err != nil {
			t.Fatal(err)
		}
		want := []MessageInfo{{
			UID: 1, Size: int64(len(r.prefix + sample)), ModSeq: 2,
			From: "René <rene@example.org>", To: "toto@localhost, bob@example.org", Subject: "hello",
			Date: "Mon, 2 Jun 2025 10:00:00 +0000", MessageID: "<1@example.org>",
		}}
		if len(msgs) == 1 {
			want[0].InternalDate = msgs[0].InternalDate
		}
		if diff := cmp.Diff(want, msgs); diff != "" {
			t.Errorf("%s/%s messages (-want +got):\n%s", r.account, r.mailbox, diff)
		}
	}
}

func TestUIDsAscendAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	ctx := context.Background()
	if err := s.AddUser(ctx, "toto", ""); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := deliver(t, s, "x\r\n", rcpt{"toto", "", ""}); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := s.Mailboxes(ctx, "toto")
	if _, err := s.SetFlags(ctx, "toto", "", []uint32{3}, FlagsAdd, []string{FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, "toto", "", nil); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openTest(t, dir)
	for range 2 {
		if err := deliver(t, s, "y\r\n", rcpt{"toto", "", ""}); err != nil {
			t.Fatal(err)
		}
	}
	// RFC 9051 §2.3.1.1: UID 3 was expunged and is never given again.
	if diff := cmp.Diff([]uint32{1, 2, 4, 5}, uids(t, s, "toto", "")); diff != "" {
		t.Errorf("UIDs (-want +got):\n%s", diff)
	}
	after, _ := s.Mailboxes(ctx, "toto")
	if after[0].UIDValidity != before[0].UIDValidity || after[0].UIDNext != 6 || after[0].Messages != 4 {
		t.Errorf("INBOX after restart = %+v, want UIDVALIDITY %d, UIDNEXT 6, 4 messages", after[0], before[0].UIDValidity)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	s := newStore(t, "toto")
	ctx := context.Background()
	d, err := s.BeginDelivery(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d.Add("toto", "", []byte("Delivered-To: toto\r\n"))
	io.WriteString(d, sample)
	d.Abort()
	if err := d.Commit(ctx); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if err := deliver(t, s, sample); err == nil {
		t.Error("Commit with no recipients succeeded")
	}
	if files := blobFiles(t, s); len(files) != 0 {
		t.Errorf("blob files left: %v", files)
	}
	if n, err := s.Count(ctx, "toto", ""); err != nil || n != 0 {
		t.Errorf("Count = %d, %v; want 0", n, err)
	}
}

func TestCommitToMissingAccount(t *testing.T) {
	s := newStore(t, "toto", "bob")
	ctx := context.Background()
	d, err := s.BeginDelivery(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d.Add("bob", "", nil)
	d.Add("toto", "", nil)
	io.WriteString(d, sample)
	if err := s.DeleteUser(ctx, "toto"); err != nil {
		t.Fatal(err)
	}
	err = d.Commit(ctx)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "toto") {
		t.Errorf("Commit = %v, want ErrNotFound naming toto", err)
	}
	if n, _ := s.Count(ctx, "bob", ""); n != 0 {
		t.Errorf("bob got %d messages from a failed delivery, want 0", n)
	}
	if files := blobFiles(t, s); len(files) != 0 {
		t.Errorf("blob files left: %v", files)
	}
	for _, r := range []rcpt{{"nobody", "", ""}, {"bob", "Nope", ""}, {"bad/name", "", ""}} {
		if err := deliver(t, s, sample, r); !errors.Is(err, ErrNotFound) {
			t.Errorf("delivery to %s/%s = %v, want ErrNotFound", r.account, r.mailbox, err)
		}
	}
}

func TestBlobsRemovedWhenUnreferenced(t *testing.T) {
	s := newStore(t, "toto", "bob", "carol")
	ctx := context.Background()
	if err := deliver(t, s, sample, rcpt{"toto", "", "A\r\n"}, rcpt{"bob", "", "B\r\n"}, rcpt{"carol", "", ""}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	// Not flagged \Deleted: EXPUNGE keeps it.
	if got, err := s.Expunge(ctx, "toto", "", nil); err != nil || len(got) != 0 {
		t.Fatalf("Expunge of unflagged = %v, %v", got, err)
	}
	for i, who := range []string{"toto", "bob"} {
		if len(blobFiles(t, s)) != 1 {
			t.Fatalf("blob gone while %s still holds the message", who)
		}
		if _, err := s.SetFlags(ctx, who, "", nil, FlagsAdd, []string{`\deleted`}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Expunge(ctx, who, "", []uint32{1, 1, 7})
		if err != nil || !cmp.Equal(got, []uint32{1}) {
			t.Fatalf("Expunge(%s) = %v, %v; want [1]", who, got, err)
		}
		if i == 0 && readMessage(t, s, "bob", "", 1) != "B\r\n"+sample {
			t.Error("bob's copy changed after toto's expunge")
		}
	}
	if files := blobFiles(t, s); len(files) != 0 {
		t.Errorf("blob files left after last expunge: %v", files)
	}
	if _, err := s.OpenMessage(ctx, "bob", "", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenMessage of expunged = %v, want ErrNotFound", err)
	}
}

func TestDeleteUserRemovesBlobs(t *testing.T) {
	s := newStore(t, "toto")
	for range 3 {
		if err := deliver(t, s, sample, rcpt{"toto", "", ""}, rcpt{"toto", "Trash", ""}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteUser(context.Background(), "toto"); err != nil {
		t.Fatal(err)
	}
	if files := blobFiles(t, s); len(files) != 0 {
		t.Errorf("blob files left after DeleteUser: %v", files)
	}
	var rows int
	if err := s.rdb.QueryRow(`SELECT COUNT(*) FROM blobs`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("%d blob rows left, %v", rows, err)
	}
}

func TestClosed(t *testing.T) {
	s := newStore(t, "toto")
	d, err := s.BeginDelivery(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d.Add("toto", "", nil)
	io.WriteString(d, sample)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Close = %v, want ErrClosed", err)
	}
	if files := blobFiles(t, s); len(files) != 0 {
		t.Errorf("blob files left: %v", files)
	}
	if _, err := s.BeginDelivery(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("BeginDelivery after Close = %v, want ErrClosed", err)
	}
}

// TestSingleRecipientBlob: a blob with one message has no blob row, and
// its file still goes with its message, by EXPUNGE or DeleteUser.
func TestSingleRecipientBlob(t *testing.T) {
	s := newStore(t, "toto")
	ctx := context.Background()
	for range 2 {
		if err := deliver(t, s, sample, rcpt{"toto", "", ""}); err != nil {
			t.Fatal(err)
		}
	}
	var rows int
	if err := s.rdb.QueryRow(`SELECT COUNT(*) FROM blobs`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("%d blob rows for single-recipient mail, %v; want none", rows, err)
	}
	if _, err := s.SetFlags(ctx, "toto", "", []uint32{1}, FlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Expunge(ctx, "toto", "", nil); err != nil || !cmp.Equal(got, []uint32{1}) {
		t.Fatalf("Expunge = %v, %v; want [1]", got, err)
	}
	if files := blobFiles(t, s); len(files) != 1 {
		t.Errorf("blob files after expunging one of two: %v", files)
	}
	if got := readMessage(t, s, "toto", "", 2); got != sample {
		t.Errorf("message 2 reads %q", got)
	}
	if err := s.DeleteUser(ctx, "toto"); err != nil {
		t.Fatal(err)
	}
	if files := blobFiles(t, s); len(files) != 0 {
		t.Errorf("blob files left after DeleteUser: %v", files)
	}
}
