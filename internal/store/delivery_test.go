package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConcurrentDeliveries(t *testing.T) {
	s := newStore(t, "toto", "bob")
	const workers, each = 40, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				body := fmt.Sprintf("Subject: %d-%d\r\n\r\nbody\r\n", w, i)
				errs <- deliver(t, s, body, rcpt{"toto", "", ""}, rcpt{"bob", "", ""})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for _, who := range []string{"toto", "bob"} {
		msgs, err := s.Messages(ctx, who, "")
		if err != nil {
			t.Fatal(err)
		}
		subjects := make(map[string]bool)
		for i, m := range msgs {
			if m.UID != uint32(i+1) {
				t.Fatalf("%s: message %d has UID %d, want %d", who, i, m.UID, i+1)
			}
			subjects[m.Subject] = true
		}
		if len(msgs) != workers*each || len(subjects) != workers*each {
			t.Errorf("%s: %d messages, %d distinct, want %d", who, len(msgs), len(subjects), workers*each)
		}
		if n, _ := s.Count(ctx, who, ""); n != workers*each {
			t.Errorf("%s: Count = %d, want %d", who, n, workers*each)
		}
	}
	if n := len(blobFiles(t, s)); n != workers*each {
		t.Errorf("%d blob files, want %d (one per delivery)", n, workers*each)
	}
}

// TestBatchIsolation checks that one failing delivery in a group commit
// does not take the others down with it.
func TestBatchIsolation(t *testing.T) {
	s := newStore(t, "toto")
	batch := []*commitReq{
		{blob: "00/a", size: 1, rcpts: []recipient{{account: "toto", mailbox: "INBOX", prefix: []byte{}, key: ""}}},
		{blob: "00/b", size: 1, rcpts: []recipient{{account: "toto", mailbox: "INBOX", prefix: []byte{}, key: ""}, {account: "ghost", mailbox: "INBOX", prefix: []byte{}, key: ""}}},
		{blob: "00/c", size: 1, rcpts: []recipient{{account: "toto", mailbox: "INBOX", prefix: []byte{}, key: ""}}},
	}
	if err := s.writeBatch(context.Background(), batch, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, true} {
		if ok := batch[i].err == nil; ok != want {
			t.Errorf("request %d: err %v, want success=%v", i, batch[i].err, want)
		}
	}
	if !errors.Is(batch[1].err, ErrNotFound) {
		t.Errorf("request 1: %v, want ErrNotFound", batch[1].err)
	}
	if diff := cmp.Diff([]uint32{1, 2}, uids(t, s, "toto", "")); diff != "" {
		t.Errorf("UIDs (-want +got):\n%s", diff)
	}

	// A failed blob directory fsync commits nothing: no row may name a
	// blob whose directory entry a crash could lose.
	failed := []*commitReq{{blob: "00/d", size: 1, rcpts: []recipient{{account: "toto", mailbox: "INBOX", prefix: []byte{}, key: ""}}}}
	if err := s.writeBatch(context.Background(), failed, func() error { return errors.New("fsync: I/O error") }); err == nil {
		t.Fatal("writeBatch committed although the directory fsync failed")
	}
	if diff := cmp.Diff([]uint32{1, 2}, uids(t, s, "toto", "")); diff != "" {
		t.Errorf("UIDs after a failed fsync (-want +got):\n%s", diff)
	}
}

func TestSetFlags(t *testing.T) {
	s := newStore(t, "toto")
	ctx := context.Background()
	for range 3 {
		if err := deliver(t, s, sample, rcpt{"toto", "", ""}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		uids   []uint32
		op     FlagOp
		flags  []string
		want   [][]string
		bumped bool
	}{
		{[]uint32{1, 2}, FlagsAdd, []string{`\seen`, "$Label1"}, [][]string{{"$Label1", `\Seen`}, {"$Label1", `\Seen`}, nil}, true},
		{[]uint32{1, 2}, FlagsAdd, []string{`\Seen`}, [][]string{{"$Label1", `\Seen`}, {"$Label1", `\Seen`}, nil}, false},
		{nil, FlagsRemove, []string{"$Label1"}, [][]string{{`\Seen`}, {`\Seen`}, nil}, true},
		{[]uint32{3, 99}, FlagsReplace, []string{`\Flagged`, `\Draft`}, [][]string{{`\Seen`}, {`\Seen`}, {`\Draft`, `\Flagged`}}, true},
	}
	last := uint64(0)
	for i, st := range steps {
		before, _ := s.Mailboxes(ctx, "toto")
		modseq, err := s.SetFlags(ctx, "toto", "", st.uids, st.op, st.flags)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if bumped := modseq != 0; bumped != st.bumped || (bumped && modseq != before[0].HighestModSeq+1) {
			t.Errorf("step %d: modseq %d from HIGHESTMODSEQ %d, want bumped=%v", i, modseq, before[0].HighestModSeq, st.bumped)
		}
		msgs, _ := s.Messages(ctx, "toto", "")
		var got [][]string
		for _, m := range msgs {
			got = append(got, m.Flags)
			if m.ModSeq > max(last, modseq) && st.bumped {
				t.Errorf("step %d: message %d modseq %d above HIGHESTMODSEQ", i, m.UID, m.ModSeq)
			}
		}
		if diff := cmp.Diff(st.want, got); diff != "" {
			t.Errorf("step %d flags (-want +got):\n%s", i, diff)
		}
		last = max(last, modseq)
	}
	for _, bad := range []string{`\Recent`, "a b", "", "x]", "é"} {
		if _, err := s.SetFlags(ctx, "toto", "", nil, FlagsAdd, []string{bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetFlags(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}
