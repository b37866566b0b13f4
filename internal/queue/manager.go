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

// cursor is where a scan stands in the ID order of the due and the
// finished messages: the next page starts after these IDs, "" at the start.
type cursor struct{ due, finished string }

// scheduler is the queue manager's state, owned by Run's goroutine.
type scheduler struct {
	q          *Queue
	transports map[string]Transport
	inflight   map[string]bool
	backlog    []string     // due messages found by the last scan
	full       bool         // the last scan hit scanLimit: more pages follow
	next       cursor       // where the next page starts
	page       cursor       // where the page of the backlog started
	freshTurn  bool         // the next free slot goes to new mail first
	jobs       chan job     // to the workers; never more than Concurrency
	done       chan passEnd // from the workers: a pass has ended
	wg         sync.WaitGroup

	// Messages with a recipient postponed (its destination was busy) come
	// back through retry after a wait that doubles while it goes on.
	postponed map[string]int // consecutive postponements
	retry     chan string
	stopped   chan struct{} // closed when Run returns: pending retries are dropped
}

// passEnd is a worker's word that the pass over message id has ended.
type passEnd struct {
	id        string
	postponed bool
}

// Waits before a postponed message is tried again: from postponeMin,
// doubling while it stays postponed, up to postponeMax.
const (
	postponeMin = 50 * time.Millisecond
	postponeMax = 5 * time.Second
	// maxPostponed bounds the postponement counts kept.
	maxPostponed = 10000
)

// job is one delivery pass: over env when it comes from the hand-off,
// else over message id as the database has it.
type job struct {
	id  string
	env *envelope.Envelope
}

func newScheduler(q *Queue, transports map[string]Transport) *scheduler {
	n := q.opt.Concurrency
	return &scheduler{q: q, transports: transports, inflight: make(map[string]bool), freshTurn: true,
		jobs: make(chan job, n), done: make(chan passEnd, n),
		postponed: make(map[string]int), retry: make(chan string, n), stopped: make(chan struct{})}
}

// startWorkers starts Concurrency long-lived delivery goroutines: a new
// goroutine per message would grow its stack anew through the deep calls
// of SQLite and the transports.
func (s *scheduler) startWorkers(ctx context.Context) {
	for range s.q.opt.Concurrency {
		s.wg.Go(func() {
			for j := range s.jobs {
				var postponed bool
				if j.env != nil {
					postponed = s.q.processFresh(ctx, j.env, s.transports)
				} else {
					postponed = s.q.process(ctx, j.id, s.transports)
				}
				s.done <- passEnd{j.id, postponed}
			}
		})
	}
}

// stopWorkers waits for the passes under way and stops the workers.
func (s *scheduler) stopWorkers() {
	close(s.jobs)
	s.wg.Wait()
}

// Run delivers queued mail through transports (keyed by
// envelope.Recipient.Transport) until ctx is done, then lets the
// deliveries under way finish (cancelling them after
// Options.DrainTimeout) and returns nil. New messages are started as soon as
// they are committed; deferred ones are looked for at start and every
// RunDelay. At most Options.Concurrency messages are in delivery at once,
// and new and deferred work alternate so that a backlog never starves new
// mail.
func (q *Queue) Run(ctx context.Context, transports map[string]Transport) error {
	if q.readOnly {
		return ErrClosed
	}
	s := newScheduler(q, transports)
	defer close(s.stopped)
	// Deliveries under way when ctx ends may finish within DrainTimeout:
	// an interrupted one would be deferred, and wait a whole backoff.
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	s.startWorkers(dctx)
	q.sweepOrphans(ctx)
	s.scan(ctx)
	tick := time.NewTicker(q.opt.RunDelay)
	defer tick.Stop()
	for {
		s.fill(ctx)
		var fresh <-chan struct{}
		if s.free() {
			fresh = q.fresh.wake
		}
		select {
		case <-ctx.Done():
			drain := time.AfterFunc(q.opt.DrainTimeout, cancel)
			s.stopWorkers()
			drain.Stop()
			return nil
		case <-fresh: // dispatch takes it
			s.rescan(ctx)
		case end := <-s.done:
			delete(s.inflight, end.id)
			s.ended(end)
			s.rescan(ctx)
		case id := <-s.retry:
			s.backlog = append([]string{id}, s.backlog...)
		case <-q.kick:
			if q.flushing.Swap(false) {
				forgetFailures(transports)
			}
			s.next = cursor{}
			s.scan(ctx)
		case <-tick.C:
			s.refresh(ctx)
		}
	}
}

// fill dispatches, and while slots stay free after the backlog ran out of a
// scan that was cut short, scans the next page: messages that cannot be
// taken now (in flight, unsettled) must not keep the rest waiting.
func (s *scheduler) fill(ctx context.Context) {
	s.dispatch()
	for s.free() && len(s.backlog) == 0 && s.full {
		s.scan(ctx) // ends with a backlog, or with full unset
		s.dispatch()
	}
}

// refresh is the periodic scan: it reads again the page the backlog came
// from, which drops what is no longer due and adds what fell due within
// it, or goes on to the next page when the backlog is used up.
func (s *scheduler) refresh(ctx context.Context) {
	if len(s.backlog) > 0 {
		s.next = s.page
	}
	s.scan(ctx)
}

// rescan scans again once the backlog is empty if the last scan was cut
// short or new mail did not fit in the hand-off: without it, that mail
// would wait for the next periodic scan.
func (s *scheduler) rescan(ctx context.Context) {
	if len(s.backlog) == 0 && (s.full || s.q.fresh.takeMissed()) {
		s.scan(ctx)
	}
}

// ended notes how a pass ended: a postponed message is tried again after
// its wait.
func (s *scheduler) ended(end passEnd) {
	if !end.postponed {
		delete(s.postponed, end.id)
		return
	}
	if len(s.postponed) >= maxPostponed {
		// A message deleted while postponed leaves its count behind: the
		// counts only pace the retries, so forgetting them all is safe.
		clear(s.postponed)
	}
	n := s.postponed[end.id]
	s.postponed[end.id] = n + 1
	wait := postponeMin << min(n, 10)
	time.AfterFunc(min(wait, postponeMax), func() {
		select {
		case s.retry <- end.id:
		case <-s.stopped:
		}
	})
}

// forgetFailures tells the transports that keep destinations cooled down
// after failures to try them again (a flush asks for it).
func forgetFailures(transports map[string]Transport) {
	for _, t := range transports {
		if f, ok := t.(interface{ ForgetFailures() }); ok {
			f.ForgetFailures()
		}
	}
}

func (s *scheduler) free() bool { return len(s.inflight) < s.q.opt.Concurrency }

// dispatch fills the free delivery slots, taking new and deferred messages
// in turn.
func (s *scheduler) dispatch() {
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
		s.start(id, env)
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

// start hands message id to a worker, unless it is already in delivery:
// from env when it comes from the hand-off, else as loaded from the
// database. The send never blocks: jobs holds Concurrency, and no more are
// in flight.
func (s *scheduler) start(id string, env *envelope.Envelope) {
	if s.inflight[id] {
		return
	}
	s.inflight[id] = true
	s.jobs <- job{id: id, env: env}
}

// scan replaces the backlog with the messages due now: pending or deferred
// recipients whose time has come, and messages whose recipients are all
// final but that were not finished (a crash, a failed bounce notice). It
// reads pages of scanLimit in ID order from where the last one ended, past
// pages whose messages are all left out, and goes back to the start after
// a short page: so every due message is reached however many before it
// cannot be taken now.
func (s *scheduler) scan(ctx context.Context) {
	s.backlog = nil
	for {
		s.page = s.next
		if err := s.scanPage(ctx); err != nil {
			s.q.opt.Debug.Error("scanning deferred queue", "err", err)
			s.full = false
			s.next = cursor{}
			return
		}
		if len(s.backlog) > 0 || !s.full {
			return
		}
	}
}

// scanPage reads the page after s.next into the backlog and moves s.next
// past it, back to the start for a list whose page came back short.
func (s *scheduler) scanPage(ctx context.Context) error {
	q, limit := s.q, s.q.opt.scanLimit
	due, err := dueIDs(ctx, q.db, q.now(), s.next.due, limit)
	if err != nil {
		return err
	}
	finished, err := finishedIDs(ctx, q.db, q.opt.Notifier != nil, s.next.finished, limit)
	if err != nil {
		q.opt.Debug.Error("scanning finished messages", "err", err)
		finished = nil
	}
	s.next = cursor{due: pageEnd(due, limit), finished: pageEnd(finished, limit)}
	s.full = s.next != cursor{}
	// Messages in the hand-off are left to it: their rows may be seen here
	// from the moment they are committed. Messages with a settlement not yet
	// committed still show their old state and wait for it.
	s.backlog = slices.DeleteFunc(append(due, finished...), func(id string) bool {
		return s.inflight[id] || q.fresh.holds(id) || q.isUnsettled(id)
	})
	return nil
}

// pageEnd is where the page after ids starts: after its last ID when it is
// full, else at the start.
func pageEnd(ids []string, limit int) string {
	if len(ids) < limit {
		return ""
	}
	return ids[len(ids)-1]
}
