package queue

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"facteur/internal/envelope"
)

func TestEachSkipsUndecodableEntries(t *testing.T) {
	q := openTest(t, "", Options{})
	a := enqueue(t, q.Queue, "s@x", "a", rcpt("a1@x", "local"), rcpt("a2@x", "local"))
	b := enqueue(t, q.Queue, "s@x", "b", rcpt("b@x", "local"))
	c := enqueue(t, q.Queue, "s@x", "c", rcpt("c1@x", "local"), rcpt("c2@x", "local"))
	if _, err := q.db.Exec(`UPDATE recipients SET state = 'lost' WHERE msg_id = ?`, b); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := q.Each(context.Background(), func(env *envelope.Envelope) error {
		s := env.ID + ":"
		for _, r := range env.Recipients {
			s += " " + r.Addr
		}
		got = append(got, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{a + ": a1@x a2@x", c + ": c1@x c2@x"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Each (-want +got):\n%s", diff)
	}
	stop := errors.New("stop")
	n := 0
	err = q.Each(context.Background(), func(*envelope.Envelope) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("Each after fn failed: %d calls, %v", n, err)
	}
}

// BenchmarkEachFirst measures how soon the first envelope of a queue of
// 100,000 deferred messages comes (`facteur queue list` starts printing).
func BenchmarkEachFirst(b *testing.B) {
	q := openTest(b, "", Options{})
	tx, err := q.db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range 100000 {
		id := fmt.Sprintf("B%09d", i)
		if _, err := tx.Exec(`INSERT INTO messages (id, sender, envid, ret, body, smtputf8, arrival, size, client)
			VALUES (?, 's@x', '', '', '7BIT', 0, 1, 10, '{}')`, id); err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO recipients (msg_id, idx, addr, orcpt_type, orcpt_addr, notify, transport,
			dest, final, state, next_try, last_reply, attempts) VALUES (?, 0, 'r@y', '', '', 0, 'smtp', 'r@y', '',
			'deferred', 1, '4.4.1 connection refused', 3)`, id); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	stop := errors.New("first")
	b.ResetTimer()
	for b.Loop() {
		if err := q.Each(context.Background(), func(*envelope.Envelope) error { return stop }); !errors.Is(err, stop) {
			b.Fatal(err)
		}
	}
}
