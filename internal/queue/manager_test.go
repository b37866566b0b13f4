package queue

import (
	"context"
	"testing"

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
	delete(s.inflight, <-s.done)
	s.dispatch()
	if !s.inflight[n(3)] || s.inflight[d(3)] {
		t.Errorf("after a slot freed, started %v; want %s", s.inflight, n(3))
	}
}
