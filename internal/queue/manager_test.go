package queue

import (
	"context"
	"testing"
)

func TestDispatchAlternatesNewAndDeferred(t *testing.T) {
	q := openTest(t, "", Options{Concurrency: 4})
	s := &scheduler{q: q.Queue, inflight: map[string]bool{}, done: make(chan string, 4), freshTurn: true,
		backlog: []string{"D1", "D2", "D3", "D4", "D5"}}
	for _, id := range []string{"N1", "N2", "N3", "N4", "N5"} {
		q.fresh <- id
	}
	s.dispatch(context.Background()) // the IDs are unknown: each pass ends at once
	s.wg.Wait()
	want := map[string]bool{"N1": true, "D1": true, "N2": true, "D2": true}
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
	s.dispatch(context.Background())
	s.wg.Wait()
	if !s.inflight["N3"] || s.inflight["D3"] {
		t.Errorf("after a slot freed, started %v; want N3", s.inflight)
	}
}
