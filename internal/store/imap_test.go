package store

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func appendMsg(t *testing.T, s *Store, account, mailbox, body string, flags ...string) uint32 {
	t.Helper()
	_, uid, err := s.Append(context.Background(), account, mailbox, strings.NewReader(body), flags, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

func TestAppend(t *testing.T) {
	s := newStore(t, "toto")
	ctx := context.Background()
	date := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	body := "Subject: hi\r\n\r\nbody without final newline"
	v, uid, err := s.Append(ctx, "toto", "Drafts", strings.NewReader(body), []string{`\draft`, "$Label", `\Seen`, "$Label"}, date)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := s.Mailbox(ctx, "toto", "Drafts")
	if err != nil {
		t.Fatal(err)
	}
	if v != mb.UIDValidity || uid != 1 || mb.UIDNext != 2 {
		t.Errorf("Append = %d, %d; mailbox has UIDVALIDITY %d UIDNEXT %d", v, uid, mb.UIDValidity, mb.UIDNext)
	}
	msgs, err := s.Messages(ctx, "toto", "Drafts")
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Messages = %v, %v", msgs, err)
	}
	m := msgs[0]
	if want := []string{"$Label", `\Draft`, `\Seen`}; !slices.Equal(m.Flags, want) {
		t.Errorf("flags = %q, want %q", m.Flags, want)
	}
	if !m.InternalDate.Equal(date) || m.Size != int64(len(body)) || m.Subject != "hi" {
		t.Errorf("message = %+v", m)
	}
	if got := readMessage(t, s, "toto", "Drafts", uid); got != body {
		t.Errorf("content = %q, want %q", got, body)
	}
	if _, _, err := s.Append(ctx, "toto", "Nowhere", strings.NewReader(body), nil, time.Time{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Append to a missing mailbox = %v, want ErrNotFound", err)
	}
	if _, _, err := s.Append(ctx, "toto", "INBOX", strings.NewReader(body), []string{`\Recent`}, time.Time{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Append with \\Recent = %v, want ErrInvalid", err)
	}
	if got := uids(t, s, "toto", "INBOX"); len(got) != 0 {
		t.Errorf("a refused Append left messages %v", got)
	}
}

func TestAppendOnce(t *testing.T) {
	s := newStore(t, "toto")
	ctx := context.Background()
	for i, want := range []uint32{1, 0} {
		_, uid, err := s.AppendOnce(ctx, "toto", "INBOX", "import:1", strings.NewReader("x\r\n"), nil, time.Time{})
		if err != nil || uid != want {
			t.Errorf("AppendOnce #%d = uid %d, %v; want %d", i+1, uid, err, want)
		}
	}
	if got := uids(t, s, "toto", "INBOX"); !slices.Equal(got, []uint32{1}) {
		t.Errorf("INBOX = %v, want one message", got)
	}
	if n := len(blobFiles(t, s)); n != 1 {
		t.Errorf("%d blob files, want 1: the repeat's content is not kept", n)
	}
}

func TestMailboxFigures(t *testing.T) {
	s := newStore(t, "toto")
	appendMsg(t, s, "toto", "INBOX", "a\r\n", `\Seen`)
	appendMsg(t, s, "toto", "INBOX", "bb\r\n", `\Deleted`)
	appendMsg(t, s, "toto", "INBOX", "ccc\r\n", "seen")
	mb, err := s.Mailbox(context.Background(), "toto", "inbox")
	if err != nil {
		t.Fatal(err)
	}
	if mb.Name != "INBOX" || mb.Messages != 3 || mb.Size != 12 || mb.Unseen != 2 || mb.Deleted != 1 || !mb.Subscribed {
		t.Errorf("Mailbox = %+v", mb)
	}
}

func TestCopyMove(t *testing.T) {
	s := newStore(t, "toto")
	ctx := context.Background()
	for i := range 4 {
		appendMsg(t, s, "toto", "INBOX", strings.Repeat("x", i+1), `\Flagged`)
	}
	res, err := s.Copy(ctx, "toto", "INBOX", []uint32{4, 2, 9}, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	arch, _ := s.Mailbox(ctx, "toto", "Archive")
	want := CopyResult{UIDValidity: arch.UIDValidity, Source: []uint32{2, 4}, Dest: []uint32{1, 2}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Copy (-want +got):\n%s", diff)
	}
	if got := readMessage(t, s, "toto", "Archive", 2); got != "xxxx" {
		t.Errorf("copied content = %q", got)
	}
	msgs, _ := s.Messages(ctx, "toto", "Archive")
	if len(msgs) != 2 || !slices.Equal(msgs[0].Flags, []string{`\Flagged`}) {
		t.Errorf("copied messages = %+v", msgs)
	}

	// The copies share the originals' blobs: expunging the originals
	// keeps the copies readable; expunging the copies removes the files.
	if _, err := s.SetFlags(ctx, "toto", "INBOX", nil, FlagsAdd, []string{FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, "toto", "INBOX", nil); err != nil {
		t.Fatal(err)
	}
	if got := readMessage(t, s, "toto", "Archive", 1); got != "xx" {
		t.Errorf("copy after expunge of the original = %q", got)
	}
	before := len(blobFiles(t, s))
	if _, err := s.SetFlags(ctx, "toto", "Archive", nil, FlagsAdd, []string{FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, "toto", "Archive", nil); err != nil {
		t.Fatal(err)
	}
	if after := len(blobFiles(t, s)); after != before-2 {
		t.Errorf("blob files: %d before the last expunge, %d after; want 2 fewer", before, after)
	}

	// Move: the rows change mailbox, the source reports them expunged.
	a := appendMsg(t, s, "toto", "INBOX", "moved")
	inbox, _ := s.Mailbox(ctx, "toto", "INBOX")
	res, err = s.Move(ctx, "toto", "INBOX", []uint32{a}, "Trash")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Source, []uint32{a}) || !slices.Equal(res.Dest, []uint32{1}) {
		t.Errorf("Move = %+v", res)
	}
	if got := uids(t, s, "toto", "INBOX"); len(got) != 0 {
		t.Errorf("INBOX after move = %v", got)
	}
	ch, err := s.Changes(ctx, "toto", "INBOX", inbox.HighestModSeq)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.Expunged, []uint32{a}) || len(ch.Messages) != 0 {
		t.Errorf("Changes after move = %+v", ch)
	}
	if got := readMessage(t, s, "toto", "Trash", 1); got != "moved" {
		t.Errorf("moved content = %q", got)
	}
	if _, err := s.Copy(ctx, "toto", "Trash", nil, "Nowhere"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Copy to a missing mailbox = %v, want ErrNotFound", err)
	}
	// COPY into the mailbox itself is allowed and takes new UIDs.
	res, err = s.Copy(ctx, "toto", "Trash", nil, "Trash")
	if err != nil || !slices.Equal(res.Dest, []uint32{2}) {
		t.Errorf("Copy into itself = %+v, %v", res, err)
	}
	if got := uids(t, s, "toto", "Trash"); !slices.Equal(got, []uint32{1, 2}) {
		t.Errorf("Trash = %v", got)
	}
}

func TestChanges(t *testing.T) {
	s := newStore(t, "toto")
	ctx := context.Background()
	appendMsg(t, s, "toto", "INBOX", "1")
	appendMsg(t, s, "toto", "INBOX", "2")
	base, err := s.Changes(ctx, "toto", "INBOX", 0)
	if err != nil || len(base.Messages) != 2 {
		t.Fatalf("Changes(0) = %+v, %v", base, err)
	}
	if again, _ := s.Changes(ctx, "toto", "INBOX", base.HighestModSeq); len(again.Messages)+len(again.Expunged) != 0 {
		t.Errorf("Changes with nothing new = %+v", again)
	}
	appendMsg(t, s, "toto", "INBOX", "3")
	if _, err := s.SetFlags(ctx, "toto", "INBOX", []uint32{1}, FlagsAdd, []string{FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetFlags(ctx, "toto", "INBOX", []uint32{2}, FlagsAdd, []string{FlagSeen}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, "toto", "INBOX", nil); err != nil {
		t.Fatal(err)
	}
	c, err := s.Changes(ctx, "toto", "INBOX", base.HighestModSeq)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint32
	for _, m := range c.Messages {
		got = append(got, m.UID)
	}
	if !slices.Equal(got, []uint32{2, 3}) || !slices.Equal(c.Expunged, []uint32{1}) || c.UIDNext != 4 {
		t.Errorf("Changes = messages %v, expunged %v, uidnext %d", got, c.Expunged, c.UIDNext)
	}
	if c.HighestModSeq <= base.HighestModSeq {
		t.Errorf("HIGHESTMODSEQ did not grow: %d then %d", base.HighestModSeq, c.HighestModSeq)
	}
}

func TestRenameDeleteSubscribe(t *testing.T) {
	s := newStore(t, "toto", "other")
	ctx := context.Background()
	for _, n := range []string{"a", "a/b", "a/b/c", "ab", "x"} {
		if err := s.CreateMailbox(ctx, "toto", n); err != nil {
			t.Fatal(err)
		}
	}
	appendMsg(t, s, "toto", "a/b", "kept")
	before, _ := s.Mailbox(ctx, "toto", "a/b")
	if err := s.RenameMailbox(ctx, "toto", "a", "a/n"); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameMailbox(ctx, "toto", "x", "ab"); !errors.Is(err, ErrExists) {
		t.Errorf("rename onto an existing name = %v, want ErrExists", err)
	}
	if err := s.RenameMailbox(ctx, "toto", "nope", "y"); !errors.Is(err, ErrNotFound) {
		t.Errorf("rename of a missing mailbox = %v, want ErrNotFound", err)
	}
	if err := s.RenameMailbox(ctx, "toto", "x", "../y"); !errors.Is(err, ErrInvalid) {
		t.Errorf("rename to ../y = %v, want ErrInvalid", err)
	}
	after, err := s.Mailbox(ctx, "toto", "a/n/b")
	if err != nil {
		t.Fatal(err)
	}
	if after.UIDValidity != before.UIDValidity || after.Messages != 1 {
		t.Errorf("renamed child = %+v, was %+v", after, before)
	}
	if got := names(t, s, "toto"); !slices.Equal(got, []string{"INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash", "a/n", "a/n/b", "a/n/b/c", "ab", "x"}) {
		t.Errorf("mailboxes after rename = %q", got)
	}

	// Renaming INBOX moves its messages and leaves it empty.
	appendMsg(t, s, "toto", "INBOX", "one")
	appendMsg(t, s, "toto", "INBOX", "two")
	if err := s.RenameMailbox(ctx, "toto", "INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	if got := uids(t, s, "toto", "Old"); !slices.Equal(got, []uint32{1, 2}) {
		t.Errorf("Old = %v", got)
	}
	if got := readMessage(t, s, "toto", "Old", 2); got != "two" {
		t.Errorf("Old/2 = %q", got)
	}
	inbox, _ := s.Mailbox(ctx, "toto", "INBOX")
	if inbox.Messages != 0 || inbox.UIDNext != 3 {
		t.Errorf("INBOX after rename = %+v (UIDs are never reused: UIDNEXT stays 3)", inbox)
	}
	if err := s.RenameMailbox(ctx, "toto", "x", "INBOX"); !errors.Is(err, ErrExists) {
		t.Errorf("rename to INBOX = %v, want ErrExists", err)
	}

	if err := s.DeleteMailbox(ctx, "toto", "INBOX"); !errors.Is(err, ErrInvalid) {
		t.Errorf("delete INBOX = %v, want ErrInvalid", err)
	}
	blobs := len(blobFiles(t, s))
	if err := s.DeleteMailbox(ctx, "toto", "a/n/b"); err != nil {
		t.Fatal(err)
	}
	if got := len(blobFiles(t, s)); got != blobs-1 {
		t.Errorf("blob files after deleting a mailbox of one message: %d, want %d", got, blobs-1)
	}
	if _, err := s.Mailbox(ctx, "toto", "a/n/b/c"); err != nil {
		t.Errorf("child of a deleted mailbox: %v", err)
	}
	if err := s.DeleteMailbox(ctx, "other", "a/n"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting another account's mailbox = %v, want ErrNotFound", err)
	}

	if err := s.Subscribe(ctx, "toto", "ab", false); err != nil {
		t.Fatal(err)
	}
	if mb, _ := s.Mailbox(ctx, "toto", "ab"); mb.Subscribed {
		t.Error("ab still subscribed")
	}
}

func names(t *testing.T, s *Store, account string) []string {
	t.Helper()
	mbs, err := s.Mailboxes(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range mbs {
		out = append(out, m.Name)
	}
	return out
}

// wake waits for a receive on ch; the deadline only stops a broken test.
func wake(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("no wake-up after %s", what)
	}
}

func TestWatch(t *testing.T) {
	first, second := openPair(t, time.Second)
	ctx := context.Background()
	if err := first.AddUser(ctx, "toto", "secret"); err != nil {
		t.Fatal(err)
	}
	ch, stop, err := first.Watch("toto", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := deliver(t, first, "x", rcpt{"toto", "INBOX", ""}); err != nil {
		t.Fatal(err)
	}
	wake(t, ch, "a delivery")
	if _, err := first.SetFlags(ctx, "toto", "INBOX", nil, FlagsAdd, []string{FlagSeen}); err != nil {
		t.Fatal(err)
	}
	wake(t, ch, "a flag change")
	// A change made by another process (here another Store on the same
	// directory) is found by the poll.
	appendMsg(t, second, "toto", "INBOX", "from elsewhere")
	wake(t, ch, "an append by another process")
	c, err := first.Changes(ctx, "toto", "INBOX", 0)
	if err != nil || len(c.Messages) != 2 {
		t.Errorf("Changes after the other process's append = %+v, %v", c, err)
	}
	if _, _, err := first.Watch("toto", "Nowhere"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Watch of a missing mailbox = %v, want ErrNotFound", err)
	}
}

func TestIndex(t *testing.T) {
	s := newStore(t, "toto")
	appendMsg(t, s, "toto", "INBOX", "Subject: a\r\n\r\nx\r\n", `\Seen`)
	appendMsg(t, s, "toto", "INBOX", "Subject: b\r\n\r\nyy\r\n")
	ctx := context.Background()
	full, err := s.Messages(ctx, "toto", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	idx, highest, err := s.Index(ctx, "toto", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if mb, _ := s.Mailbox(ctx, "toto", "INBOX"); highest != mb.HighestModSeq {
		t.Errorf("Index's HIGHESTMODSEQ = %d, the mailbox's %d", highest, mb.HighestModSeq)
	}
	for i := range full {
		full[i].From, full[i].To, full[i].Subject, full[i].Date, full[i].MessageID = "", "", "", "", ""
	}
	if diff := cmp.Diff(full, idx); diff != "" || len(idx) != 2 {
		t.Errorf("Index differs from Messages but for the header fields (-Messages +Index):\n%s", diff)
	}
	if _, _, err := s.Index(ctx, "toto", "Nowhere"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Index of a missing mailbox = %v, want ErrNotFound", err)
	}
}

func TestMatching(t *testing.T) {
	s := newStore(t, "toto")
	long := strings.Repeat("é", 600) // 1200 octets: clipped in the cache
	for _, subj := range []string{"Hello", "the NEEDLE here", "needless", "=?utf-8?q?caf=C3=A9_Needle?=", long + " needle"} {
		appendMsg(t, s, "toto", "INBOX", "From: a@example.org\r\nSubject: "+subj+"\r\n\r\nx\r\n")
	}
	ctx := context.Background()
	got, err := s.Matching(ctx, "toto", "INBOX", "subject", "Needle")
	if err != nil {
		t.Fatal(err)
	}
	var uids []uint32
	for _, m := range got {
		uids = append(uids, m.UID)
	}
	// 2, 3 and 4 contain it (4 once decoded), 5 is clipped: the caller
	// decides; 1 does not.
	if !slices.Equal(uids, []uint32{2, 3, 4, 5}) {
		t.Errorf("Matching subject Needle = UIDs %v, want [2 3 4 5]", uids)
	}
	if len(got) > 0 && got[0].From != "a@example.org" {
		t.Errorf("Matching's rows lack From: %+v", got[0])
	}
	if got, _ := s.Matching(ctx, "toto", "INBOX", "from", "EXAMPLE.org"); len(got) != 5 {
		t.Errorf("Matching from = %d messages, want 5", len(got))
	}
	if _, err := s.Matching(ctx, "toto", "INBOX", "cc", "x"); err == nil {
		t.Error("Matching on a field that is not cached: no error")
	}
}

func TestContents(t *testing.T) {
	s := newStore(t, "toto")
	ctx := context.Background()
	if err := deliver(t, s, "Subject: a\r\n\r\nx\r\n", rcpt{"toto", "INBOX", "Return-Path: <p@q>\r\n"}); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, s, "toto", "INBOX", "Subject: b\r\n\r\nyy\r\n")
	cs, err := s.Contents(ctx, "toto", "INBOX")
	if err != nil || len(cs) != 2 {
		t.Fatalf("Contents = %v, %v", cs, err)
	}
	for _, c := range cs {
		rc, err := s.OpenContent(c)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if want := readMessage(t, s, "toto", "INBOX", c.UID); string(b) != want || int64(len(b)) != c.Size {
			t.Errorf("OpenContent(%d) = %q (size %d), OpenMessage %q", c.UID, b, c.Size, want)
		}
	}
	if _, err := s.SetFlags(ctx, "toto", "INBOX", []uint32{1}, FlagsAdd, []string{FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, "toto", "INBOX", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenContent(cs[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenContent of an expunged message = %v, want ErrNotFound", err)
	}
	if _, err := s.OpenContent(Content{UID: 2}); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenContent of a Content not from Contents = %v, want ErrNotFound", err)
	}
}

// TestExpungedPruned checks that expunges are remembered while a session
// watches the mailbox, and forgotten at the next expunge when none does.
func TestExpungedPruned(t *testing.T) {
	s := newStore(t, "toto")
	ctx := context.Background()
	expungeAll := func() {
		t.Helper()
		if _, err := s.SetFlags(ctx, "toto", "INBOX", nil, FlagsAdd, []string{FlagDeleted}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Expunge(ctx, "toto", "INBOX", nil); err != nil {
			t.Fatal(err)
		}
	}
	rows := func() int {
		var n int
		if err := s.rdb.QueryRow(`SELECT COUNT(*) FROM expunged`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	_, stop, err := s.Watch("toto", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		appendMsg(t, s, "toto", "INBOX", "x")
		expungeAll()
	}
	if n := rows(); n != 3 {
		t.Errorf("%d expunged rows while watched, want 3", n)
	}
	stop()
	appendMsg(t, s, "toto", "INBOX", "x")
	_, base, _ := s.Index(ctx, "toto", "INBOX")
	expungeAll()
	if n := rows(); n != 1 {
		t.Errorf("%d expunged rows after an expunge unwatched, want 1 (its own)", n)
	}
	// What a session listing before that expunge needs is still there.
	if c, err := s.Changes(ctx, "toto", "INBOX", base); err != nil || !slices.Equal(c.Expunged, []uint32{4}) {
		t.Errorf("Changes after the pruning expunge = %v, %v; want UID 4", c.Expunged, err)
	}
}
