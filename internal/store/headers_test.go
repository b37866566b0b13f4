package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHeaderSection(t *testing.T) {
	tests := []struct {
		head  string
		whole bool
		want  string
		isNil bool
	}{
		{"A: 1\r\nB: 2\r\n\r\nbody", true, "A: 1\r\nB: 2\r\n\r\n", false},
		{"A: 1\n\nbody", true, "A: 1\n\n", false},
		{"\r\nbody", true, "\r\n", false},
		{"A: 1\r\nB: 2", true, "A: 1\r\nB: 2", false},
		{"A: 1\r\nB: 2\r\n", false, "", true},
		{"A: 1\r\n \r\nB: 2\r\n\r\n", true, "A: 1\r\n \r\nB: 2\r\n\r\n", false},
	}
	for _, tt := range tests {
		got := headerSection([]byte(tt.head), tt.whole)
		if string(got) != tt.want || (got == nil) != tt.isNil {
			t.Errorf("headerSection(%q, %v) = %q, want %q", tt.head, tt.whole, got, tt.want)
		}
	}
}

func collectHeaders(t *testing.T, s *Store, mailbox string, uids []uint32) map[uint32]string {
	t.Helper()
	got := make(map[uint32]string)
	var last uint32
	err := s.Headers(context.Background(), "toto", mailbox, uids, func(uid uint32, h []byte) error {
		if uid <= last {
			t.Errorf("UID %d after %d: not in UID order", uid, last)
		}
		last = uid
		got[uid] = string(h)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestHeaders(t *testing.T) {
	s := newStore(t, "toto")
	ctx := context.Background()
	big := "Subject: big\r\nX-Long: " + strings.Repeat("y", maxHeaderCapture) + "\r\n\r\nbody\r\n"
	bodies := map[uint32]string{
		1: "Subject: one\r\n\r\nbody one\r\n",
		2: "Subject: no body\r\n",
		3: big,
	}
	if err := deliver(t, s, bodies[1], rcpt{"toto", "INBOX", "Return-Path: <a@b>\r\n"}); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, s, "toto", "INBOX", bodies[2])
	appendMsg(t, s, "toto", "INBOX", bodies[3])
	want := map[uint32]string{
		1: "Return-Path: <a@b>\r\nSubject: one\r\n\r\n",
		2: "Subject: no body\r\n",
		3: big[:strings.Index(big, "\r\n\r\n")+4],
	}
	if diff := cmp.Diff(want, collectHeaders(t, s, "INBOX", nil)); diff != "" {
		t.Errorf("Headers (-want +got):\n%s", diff)
	}
	// Rows written before the column existed hold NULL: the blob is read.
	if _, err := s.wdb.ExecContext(ctx, `UPDATE messages SET header = NULL`); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, collectHeaders(t, s, "INBOX", nil)); diff != "" {
		t.Errorf("Headers without the cached column (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[uint32]string{2: want[2]}, collectHeaders(t, s, "INBOX", []uint32{2, 9})); diff != "" {
		t.Errorf("Headers of UIDs 2 and 9 (-want +got):\n%s", diff)
	}
}

func TestHeadersMany(t *testing.T) {
	s := newStore(t, "toto")
	const n = headersBatch + 240 // every seventh UID is more than pointLimit
	for i := 1; i <= n; i++ {
		appendMsg(t, s, "toto", "INBOX", fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i))
	}
	// More than pointLimit UIDs: every third is read as a range across
	// batches, the others skipped; every seventh, sparse, in batches of
	// explicit UIDs. UIDs past the last are not there.
	for _, step := range []uint32{3, 7} {
		var uids []uint32
		want := make(map[uint32]string)
		for i := step; i <= n+2*step; i += step {
			uids = append(uids, i)
			if i <= n {
				want[i] = fmt.Sprintf("Subject: %d\r\n\r\n", i)
			}
		}
		if diff := cmp.Diff(want, collectHeaders(t, s, "INBOX", uids)); diff != "" {
			t.Errorf("Headers of every %dth UID (-want +got):\n%s", step, diff)
		}
	}
	// Flags of many UIDs at once, read as a range: only those asked change.
	var odd []uint32
	for i := uint32(1); i <= n; i += 2 {
		odd = append(odd, i)
	}
	if _, err := s.SetFlags(context.Background(), "toto", "INBOX", odd, FlagsAdd, []string{FlagSeen}); err != nil {
		t.Fatal(err)
	}
	msgs, _ := s.Messages(context.Background(), "toto", "INBOX")
	for _, m := range msgs {
		if seen := slices.Contains(m.Flags, FlagSeen); seen != (m.UID%2 == 1) {
			t.Errorf("UID %d: seen %v after flagging the odd UIDs", m.UID, seen)
		}
	}
	if got := collectHeaders(t, s, "INBOX", nil); len(got) != n || got[n] != fmt.Sprintf("Subject: %d\r\n\r\n", n) {
		t.Errorf("Headers of all: %d headers, last %q", len(got), got[n])
	}
	// A copy keeps the cached header.
	if _, err := s.Copy(context.Background(), "toto", "INBOX", []uint32{7}, "Archive"); err != nil {
		t.Fatal(err)
	}
	var cached []byte
	if err := s.rdb.QueryRow(`SELECT header FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
		WHERE b.name = 'Archive'`).Scan(&cached); err != nil || string(cached) != "Subject: 7\r\n\r\n" {
		t.Errorf("the copy's cached header = %q, %v", cached, err)
	}
}
