package store

import (
	"context"
	"database/sql"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type keyed struct{ account, key string }

// keyedDeliver delivers body to the INBOX of every recipient under its key.
func keyedDeliver(t *testing.T, s *Store, body string, rcpts ...keyed) error {
	t.Helper()
	d, err := s.BeginDelivery(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rcpts {
		d.AddKeyed(r.account, "", r.key, []byte("Delivered-To: "+r.account+"\r\n"))
	}
	if _, err := io.WriteString(d, body); err != nil {
		t.Fatal(err)
	}
	return d.Commit(context.Background())
}

func uidNext(t *testing.T, s *Store, account string) uint32 {
	t.Helper()
	boxes, err := s.Mailboxes(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range boxes {
		if b.Name == "INBOX" {
			return b.UIDNext
		}
	}
	t.Fatalf("%s has no INBOX", account)
	return 0
}

func TestDeliveryKey(t *testing.T) {
	tests := []struct {
		name       string
		deliveries [][]keyed
		uids       map[string][]uint32 // per account, in INBOX
		blobs      int
	}{
		{"same key twice", [][]keyed{{{"toto", "Q1 toto"}}, {{"toto", "Q1 toto"}}},
			map[string][]uint32{"toto": {1}}, 1},
		{"different keys", [][]keyed{{{"toto", "Q1 toto"}}, {{"toto", "Q2 toto"}}},
			map[string][]uint32{"toto": {1, 2}}, 2},
		{"no key is never skipped", [][]keyed{{{"toto", ""}}, {{"toto", ""}}},
			map[string][]uint32{"toto": {1, 2}}, 2},
		{"a key is per mailbox", [][]keyed{{{"toto", "K"}, {"bob", "K"}}, {{"toto", "K"}, {"bob", "K"}}},
			map[string][]uint32{"toto": {1}, "bob": {1}}, 1},
		{"repeat reaching a new recipient", [][]keyed{{{"toto", "K"}}, {{"toto", "K"}, {"bob", "K"}}},
			map[string][]uint32{"toto": {1}, "bob": {1}}, 2},
		{"repeat sharing its blob", [][]keyed{{{"toto", "K"}}, {{"toto", "K"}, {"bob", "K"}, {"bob", "L"}}},
			map[string][]uint32{"toto": {1}, "bob": {1, 2}}, 2},
		{"twice in one delivery", [][]keyed{{{"toto", "K"}, {"toto", "K"}}},
			map[string][]uint32{"toto": {1}}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, "toto", "bob")
			for i, rs := range tc.deliveries {
				if err := keyedDeliver(t, s, sample, rs...); err != nil {
					t.Fatalf("delivery %d: %v", i, err)
				}
			}
			for account, want := range tc.uids {
				if diff := cmp.Diff(want, uids(t, s, account, "")); diff != "" {
					t.Errorf("%s UIDs (-want +got):\n%s", account, diff)
				}
				if got, want := uidNext(t, s, account), uint32(len(want)+1); got != want {
					t.Errorf("%s UIDNEXT = %d, want %d", account, got, want)
				}
			}
			if n := len(blobFiles(t, s)); n != tc.blobs {
				t.Errorf("%d blob files, want %d", n, tc.blobs)
			}
			// The reference counts are right: expunging every message
			// removes every blob.
			ctx := context.Background()
			for account, us := range tc.uids {
				if _, err := s.SetFlags(ctx, account, "", nil, FlagsAdd, []string{FlagDeleted}); err != nil {
					t.Fatal(err)
				}
				if gone, err := s.Expunge(ctx, account, "", nil); err != nil || len(gone) != len(us) {
					t.Fatalf("%s: expunged %v, %v; want %v", account, gone, err, us)
				}
			}
			if n := len(blobFiles(t, s)); n != 0 {
				t.Errorf("%d blob files left after expunging everything", n)
			}
		})
	}
}

// TestDeliveryKeyInOneBatch checks a repeat committed in the same group
// commit as the first delivery.
func TestDeliveryKeyInOneBatch(t *testing.T) {
	s := newStore(t, "toto")
	batch := []*commitReq{
		{blob: "00/a", size: 1, rcpts: []recipient{{account: "toto", mailbox: "INBOX", prefix: []byte{}, key: "K"}}},
		{blob: "00/b", size: 1, rcpts: []recipient{{account: "toto", mailbox: "INBOX", prefix: []byte{}, key: "K"}}},
	}
	if err := s.writeBatch(context.Background(), batch, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, true} {
		if batch[i].err != nil || batch[i].unused != want {
			t.Errorf("request %d: err %v, unused %v, want nil, %v", i, batch[i].err, batch[i].unused, want)
		}
	}
	if diff := cmp.Diff([]uint32{1}, uids(t, s, "toto", "")); diff != "" {
		t.Errorf("UIDs (-want +got):\n%s", diff)
	}
}

// TestUpgrade opens a store.db of schema version 1, made by taking out of
// a new one what versions 2 and 3 added: delivery keys (column and
// index), the cached header column and the expunged table.
func TestUpgrade(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	ctx := context.Background()
	if err := s.AddUser(ctx, "toto", "secret"); err != nil {
		t.Fatal(err)
	}
	if err := deliver(t, s, sample, rcpt{"toto", "", ""}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", filepath.Join(dir, "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DROP INDEX messages_delivery_key`,
		`ALTER TABLE messages DROP COLUMN delivery_key`,
		`ALTER TABLE messages DROP COLUMN header`,
		`DROP TABLE expunged`,
		`UPDATE meta SET value = 1 WHERE name = 'schema'`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s = openTest(t, dir)
	for i := range 2 {
		if err := keyedDeliver(t, s, sample, keyed{"toto", "K"}); err != nil {
			t.Fatalf("delivery %d after upgrade: %v", i, err)
		}
	}
	if diff := cmp.Diff([]uint32{1, 2}, uids(t, s, "toto", "")); diff != "" {
		t.Errorf("UIDs (-want +got):\n%s", diff)
	}
	// The message from before the upgrade has no cached header: Headers
	// reads it from the blob; the one after has it cached.
	hdrs := collectHeaders(t, s, "INBOX", nil)
	end := strings.Index(sample, "\r\n\r\n") + 4
	if hdrs[1] != sample[:end] || !strings.HasSuffix(hdrs[2], "\r\n"+sample[:end]) {
		t.Errorf("Headers after upgrade = %v", hdrs)
	}
	var v int
	if err := s.rdb.QueryRow(`SELECT value FROM meta WHERE name = 'schema'`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != schemaVersion {
		t.Errorf("schema version %d after upgrade, want %d", v, schemaVersion)
	}
}
