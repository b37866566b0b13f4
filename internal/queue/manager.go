package queue

import (
	"context"
	"slices"
	"sync"
	"time"

	"facteur/internal/envelope"
)

// scanLimit bounds the messages one database scan brings into memory; the
// next scan comes as soon as they are started.
const scanLimit = 1000

// scheduler is the queue manager's state, owned by Run's goroutine.
type scheduler struct {
	q          *Queue
	transports map[string]Transport
	inflight   map[string]bool
	backlog    []string // due messages found by the last scan
	full       bool     // the last scan hit scanLimit
	freshTurn  bool     // the next free slot goes to new mail first
	done       chan string
	wg         sync.WaitGroup
}

// Run delivers queued mail through transports (keyed by
// envelope.Recipient.Transport) until ctx is done, then waits for the
// deliveries under way and returns nil. New messages are started as soon as
// they are committed; deferred ones are looked for at start and every
// RunDelay. At most Options.Concurrency messages are in delivery at once,
// and new and deferred work alternate so that a backlog never starves new
// mail.
func (q *Queue) Run(ctx context.Context, transports map[string]Transport) error {
	if q.readOnly {
		return ErrClosed
	}
	s := &scheduler{q: q, transports: transports, inflight: make(map[string]bool),
		done: make(chan string, q.opt.Concurrency), freshTurn: true}
	q.sweepOrphans(ctx)
	s.scan(ctx)
	tick := time.NewTicker(q.opt.RunDelay)
	defer tick.Stop()
	for {
		s.dispatch(ctx)
		var fresh <-chan struct{}
		if s.free() {
			fresh = q.fresh.wake
		}
		select {
		case <-ctx.Done():
			s.wg.Wait()
			return nil
		case <-fresh: // dispatch takes it
		case id := <-s.done:
			delete(s.inflight, id)
			if len(s.backlog) == 0 && s.full {
				s.scan(ctx)
			}
		case <-tick.C:
			s.scan(ctx)
		}
	}
}

func (s *scheduler) free() bool { return len(s.inflight) < s.q.opt.Concurrency }

// dispatch fills the free delivery slots, taking new and deferred messages
// in turn.
func (s *scheduler) dispatch(ctx context.Context) {
	for s.free() {
		var id string
		var env *envelope.Envelope
		var ok bool
		if s.freshTurn {
			env, ok = s.q.fresh.take()
			if !ok {
				id, ok = s.takeBacklog()
			}
		} else {
			id, ok = s.takeBacklog()
			if !ok {
				env, ok = s.q.fresh.take()
			}
		}
		if !ok {
			return
		}
		s.freshTurn = !s.freshTurn
		if env != nil {
			id = env.ID
		}
		s.start(ctx, id, env)
	}
}

func (s *scheduler) takeBacklog() (string, bool) {
	for len(s.backlog) > 0 {
		id := s.backlog[0]
		s.backlog = s.backlog[1:]
		if !s.inflight[id] {
			return id, true
		}
	}
	return "", false
}

// start delivers message id in its own goroutine, unless it is already in
// delivery: from env when it comes from the hand-off, else as loaded from
// the database.
func (s *scheduler) start(ctx context.Context, id string, env *envelope.Envelope) {
	if s.inflight[id] {
		return
	}
	s.inflight[id] = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if env != nil {
			s.q.processFresh(ctx, env, s.transports)
		} else {
			s.q.process(ctx, id, s.transports)
		}
		s.done <- id
	}()
}

// scan replaces the backlog with the messages due now: pending or deferred
// recipients whose time has come, and messages whose recipients are all
// final but that were not finished (a crash, a failed bounce notice).
func (s *scheduler) scan(ctx context.Context) {
	q := s.q
	due, err := dueIDs(ctx, q.db, q.now(), scanLimit)
	if err != nil {
		q.opt.Debug.Error("scanning deferred queue", "err", err)
		return
	}
	finished, err := finishedIDs(ctx, q.db, q.opt.Bouncer != nil, scanLimit)
	if err != nil {
		q.opt.Debug.Error("scanning finished messages", "err", err)
	}
	s.full = len(due) == scanLimit || len(finished) == scanLimit
	// Messages in the hand-off are left to it: their rows may be seen here
	// from the moment they are committed.
	s.backlog = slices.DeleteFunc(append(due, finished...), func(id string) bool {
		return s.inflight[id] || q.fresh.holds(id)
	})
}
