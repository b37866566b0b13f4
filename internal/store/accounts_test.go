package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"
)

func TestAccountNames(t *testing.T) {
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"toto", "toto", true},
		{"Bob@Example.ORG", "bob@example.org", true},
		{"élodie", "élodie", true},
		{strings.Repeat("a", 255), strings.Repeat("a", 255), true},
		{"", "", false},
		{strings.Repeat("a", 256), "", false},
		{"a/b", "", false},
		{"a\x00b", "", false},
		{"a\nb", "", false},
		{"a\x7fb", "", false},
		{"a\u0085b", "", false},
		{"\xff", "", false},
	}
	for _, tt := range tests {
		got, err := accountName(tt.name)
		if ok := err == nil; ok != tt.ok || got != tt.want {
			t.Errorf("accountName(%q) = %q, %v; want %q, ok=%v", tt.name, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("accountName(%q) error %v is not ErrInvalid", tt.name, err)
		}
	}
}

func TestAccounts(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, u := range []string{"toto", "Bob@Example.org", "nopass"} {
		pw := "pw-" + strings.ToLower(u)
		if u == "nopass" {
			pw = ""
		}
		if err := s.AddUser(ctx, u, pw); err != nil {
			t.Fatalf("AddUser(%s): %v", u, err)
		}
	}
	if err := s.AddUser(ctx, "TOTO", "x"); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate AddUser = %v, want ErrExists", err)
	}
	if err := s.AddUser(ctx, "a/b", "x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddUser(a/b) = %v, want ErrInvalid", err)
	}
	users, err := s.Users(ctx)
	if diff := cmp.Diff([]string{"bob@example.org", "nopass", "toto"}, users); err != nil || diff != "" {
		t.Errorf("Users (-want +got): %v\n%s", err, diff)
	}
	auth := []struct {
		name, pw string
		want     bool
	}{
		{"toto", "pw-toto", true},
		{"Toto", "pw-toto", true},
		{"toto", "pw-tot", false},
		{"bob@example.org", "pw-bob@example.org", true},
		{"nopass", "", false},
		{"nobody", "pw-toto", false},
		{"bad/name", "x", false},
	}
	for _, a := range auth {
		if ok, err := s.Authenticate(ctx, a.name, a.pw); ok != a.want || err != nil {
			t.Errorf("Authenticate(%s, %s) = %v, %v; want %v", a.name, a.pw, ok, err, a.want)
		}
	}
	if err := s.SetPassword(ctx, "TOTO", "new"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Authenticate(ctx, "toto", "pw-toto"); ok {
		t.Error("old password still accepted after SetPassword")
	}
	if ok, _ := s.Authenticate(ctx, "toto", "new"); !ok {
		t.Error("new password refused after SetPassword")
	}
	if err := s.SetPassword(ctx, "nobody", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetPassword(nobody) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteUser(ctx, "toto"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.UserExists(ctx, "toto"); ok || err != nil {
		t.Errorf("UserExists(toto) after delete = %v, %v", ok, err)
	}
	if ok, err := s.UserExists(ctx, "BOB@example.org"); !ok || err != nil {
		t.Errorf("UserExists(BOB@example.org) = %v, %v", ok, err)
	}
	if err := s.DeleteUser(ctx, "toto"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteUser = %v, want ErrNotFound", err)
	}
	if _, err := s.Mailboxes(ctx, "toto"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Mailboxes of deleted account = %v, want ErrNotFound", err)
	}
}

func TestDefaultMailboxes(t *testing.T) {
	s := newStore(t, "toto", "bob")
	ctx := context.Background()
	if err := s.CreateMailbox(ctx, "toto", "Lists/go"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMailbox(ctx, "toto", "inbox"); !errors.Is(err, ErrExists) {
		t.Errorf("CreateMailbox(inbox) = %v, want ErrExists", err)
	}
	if err := s.CreateMailbox(ctx, "nobody", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("CreateMailbox for unknown account = %v, want ErrNotFound", err)
	}
	got, err := s.Mailboxes(ctx, "toto")
	if err != nil {
		t.Fatal(err)
	}
	var names, uses []string
	seen := make(map[uint32]bool)
	for _, m := range got {
		names = append(names, m.Name)
		uses = append(uses, m.SpecialUse)
		if seen[m.UIDValidity] || m.UIDNext != 1 || !m.Subscribed {
			t.Errorf("mailbox %+v: want a unique UIDVALIDITY, UIDNEXT 1, subscribed", m)
		}
		seen[m.UIDValidity] = true
	}
	if diff := cmp.Diff([]string{"INBOX", "Archive", "Drafts", "Junk", "Lists/go", "Sent", "Trash"}, names); diff != "" {
		t.Errorf("mailbox names (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"", `\Archive`, `\Drafts`, `\Junk`, "", `\Sent`, `\Trash`}, uses); diff != "" {
		t.Errorf("special-use (-want +got):\n%s", diff)
	}
	bob, _ := s.Mailboxes(ctx, "bob")
	for _, m := range bob {
		if seen[m.UIDValidity] {
			t.Errorf("bob's %s reuses UIDVALIDITY %d", m.Name, m.UIDValidity)
		}
	}
}

func TestMailboxNames(t *testing.T) {
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"", "INBOX", true},
		{"inbox", "INBOX", true},
		{"Inbox/Sub", "INBOX/Sub", true},
		{"Sent", "Sent", true},
		{"Lists/go-nuts", "Lists/go-nuts", true},
		{"Été", "Été", true},
		{"/x", "", false},
		{"x/", "", false},
		{"a//b", "", false},
		{"a*", "", false},
		{"a%", "", false},
		{"a\rb", "", false},
		{"../x", "", false},
		{"a/../b", "", false},
		{"./a", "", false},
		{"/etc", "", false},
		{"a..b", "a..b", true},
		{strings.Repeat("m", 256), "", false},
	}
	for _, tt := range tests {
		got, err := mailboxName(tt.name)
		if ok := err == nil; ok != tt.ok || got != tt.want {
			t.Errorf("mailboxName(%q) = %q, %v; want %q, ok=%v", tt.name, got, err, tt.want, tt.ok)
		}
	}
}

func TestPasswordHashes(t *testing.T) {
	s := newStore(t)
	argon, err := s.hashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(argon, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q is not a PHC argon2id string with the configured cost", argon)
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		hash, pw string
		want, ok bool
	}{
		{argon, "correct horse", true, true},
		{argon, "correct horsE", false, true},
		{string(bc), "correct horse", true, true},
		{string(bc), "wrong", false, true},
		{"", "", false, true},
		{"{PLAIN}correct horse", "correct horse", false, false},
		{"$argon2id$v=19$m=64,t=1$AAAA$AAAA", "x", false, false},
		{"$argon2id$v=16$m=64,t=1,p=1$AAAA$AAAA", "x", false, false},
		{"$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", "x", false, false},
		{"$argon2id$v=19$m=64,t=1,p=1$!!$AAAA", "x", false, false},
	}
	for _, tt := range tests {
		got, err := checkPassword(tt.hash, tt.pw)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("checkPassword(%q, %q) = %v, %v; want %v, ok=%v", tt.hash, tt.pw, got, err, tt.want, tt.ok)
		}
	}
	// A bcrypt hash imported from another system logs in.
	ctx := context.Background()
	if err := s.AddUser(ctx, "old", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.wdb.ExecContext(ctx, `UPDATE accounts SET password = ? WHERE name = 'old'`, string(bc)); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Authenticate(ctx, "old", "correct horse"); !ok || err != nil {
		t.Errorf("Authenticate with bcrypt hash = %v, %v", ok, err)
	}
}
