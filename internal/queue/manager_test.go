package queue

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"facteur/internal/envelope"
)

func TestDispatchAlternatesNewAndDeferred(t *testing.T) {
	q := openTest(t, "", Options{Concurrency: 4})
	// Queue-ID-shaped names; none is in the database.
	n := func(i int) string { return "NEWMAIL0000000" + string(rune('0'+i)) }
	d := func(i int) string { return "DEFERRED000000" + string(rune('0'+i)) }
	s := newScheduler(q.Queue, nil)
	s.backlog = []string{d(1), d(2), d(3), d(4), d(5)}
	s.startWorkers(context.Background())
	defer s.stopWorkers()
	for i := 1; i <= 5; i++ {
		q.fresh.reserve(n(i))
		q.fresh.publish(&envelope.Envelope{ID: n(i)}) // no recipient: each pass ends at once
	}
	s.dispatch() // the backlog IDs are unknown: their passes end at once too
	want := map[string]bool{n(1): true, d(1): true, n(2): true, d(2): true}
	for id := range want {
		if !s.inflight[id] {
			t.Errorf("%s not started; started %v", id, s.inflight)
		}
	}
	if len(s.inflight) != 4 {
		t.Errorf("%d messages started, want the Concurrency of 4", len(s.inflight))
	}
	// A finished slot goes to the other kind than the last one started.
	delete(s.inflight, (<-s.done).id)
	s.dispatch()
	if !s.inflight[n(3)] || s.inflight[d(3)] {
		t.Errorf("after a slot freed, started %v; want %s", s.inflight, n(3))
	}
}

// gateTransport holds the deliveries of the messages in hold until release
// is closed (or their context ends), and passes every delivery on to next.
type gateTransport struct {
	hold    map[string]bool
	release chan struct{}
	next    Transport
}

func (g *gateTransport) Deliver(ctx context.Context, msg *Message, rcpts []*envelope.Recipient) []Result {
	if g.hold[msg.Env.ID] {
		select {
		case <-g.release:
		case <-ctx.Done():
		}
	}
	return g.next.Deliver(ctx, msg, rcpts)
}

// TestScanGoesPastMessagesInFlight: when the first scanLimit due messages
// are all in delivery, the scan must still reach the ones after them,
// without waiting for a periodic scan.
func TestScanGoesPastMessagesInFlight(t *testing.T) {
	for _, tc := range []struct {
		name        string
		limit, held int
		total       int
	}{
		{"one page held", 2, 2, 5},
		{"two pages held", 2, 4, 7},
		{"page end inside the held ones", 3, 4, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := openTest(t, "", Options{RunDelay: time.Hour, Concurrency: tc.held + 1, scanLimit: tc.limit})
			var ids []string
			addr := make(map[string]string) // message ID → its recipient
			for i := range tc.total {
				a := fmt.Sprintf("r%d@x", i)
				id := enqueue(t, q.Queue, "s@x", "body", rcpt(a, "local"))
				ids, addr[id] = append(ids, id), a
			}
			for range ids { // leave them to the scan, as mail deferred earlier
				if _, ok := q.fresh.take(); !ok {
					t.Fatal("hand-off shorter than the messages queued")
				}
			}
			slices.Sort(ids) // the scan's order
			tr := newTransport(nil)
			gate := &gateTransport{hold: map[string]bool{}, release: make(chan struct{}), next: tr}
			for _, id := range ids[:tc.held] {
				gate.hold[id] = true
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- q.Run(ctx, map[string]Transport{"local": gate}) }()
			waitFor(t, "the messages after the held ones", func() bool {
				for _, id := range ids[tc.held:] {
					if tr.count(addr[id]) != 1 {
						return false
					}
				}
				return true
			})
			for _, id := range ids[:tc.held] {
				if n := tr.count(addr[id]); n != 0 {
					t.Errorf("held message %s delivered %d times", id, n)
				}
			}
			close(gate.release)
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
		})
	}
}

// TestScanPages: scans go on from where the last page ended, skip pages
// whose messages are all in flight, start over after a short page, and the
// periodic refresh reads again the page of an unfinished backlog.
func TestScanPages(t *testing.T) {
	q := openTest(t, "", Options{scanLimit: 2})
	var ids []string
	for i := range 5 {
		ids = append(ids, enqueue(t, q.Queue, "s@x", "body", rcpt(fmt.Sprintf("r%d@x", i), "local")))
		if _, ok := q.fresh.take(); !ok {
			t.Fatal("nothing in the hand-off")
		}
	}
	slices.Sort(ids)
	s := newScheduler(q.Queue, nil)
	s.inflight[ids[0]], s.inflight[ids[1]] = true, true
	ctx := context.Background()
	steps := []struct {
		name string
		op   func()
		want []string
		full bool
	}{
		{"past the page in flight", func() { s.scan(ctx) }, ids[2:4], true},
		{"refresh with a backlog", func() { s.takeBacklog(); s.refresh(ctx) }, ids[2:4], true},
		{"next page", func() { s.backlog = nil; s.scan(ctx) }, ids[4:], false},
		{"over again", func() { s.scan(ctx) }, ids[2:4], true},
		{"refresh with none", func() { s.backlog = nil; s.refresh(ctx) }, ids[4:], false},
	}
	for _, st := range steps {
		st.op()
		if !slices.Equal(s.backlog, st.want) || s.full != st.full {
			t.Errorf("%s: backlog %v full %v, want %v %v", st.name, s.backlog, s.full, st.want, st.full)
		}
	}
}
