package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// watchPoll is how often changes made by other processes (a `facteur
// mailbox import` beside the server, say) are looked for while a mailbox
// is watched. Changes made through this Store wake watchers at once.
const watchPoll = time.Second

// watchers is the set of channels waiting for changes, per mailbox id.
type watchers struct {
	mu      sync.Mutex
	subs    map[int64]map[chan struct{}]struct{}
	seen    map[int64]int64 // the HIGHESTMODSEQ the poller last saw
	polling bool
}

// Watch returns a channel that receives when the mailbox may have changed
// (new messages, flags, expunges, its deletion): the receiver then asks
// Changes. Several changes may be folded into one receive. The returned
// function stops the watch; it must be called.
func (s *Store) Watch(account, mailbox string) (<-chan struct{}, func(), error) {
	mb, err := s.lookupMailbox(context.Background(), nil, account, mailbox)
	if err != nil {
		return nil, nil, err
	}
	ch := make(chan struct{}, 1)
	w := &s.watch
	w.mu.Lock()
	if w.subs == nil {
		w.subs = make(map[int64]map[chan struct{}]struct{})
		w.seen = make(map[int64]int64)
	}
	if w.subs[mb.id] == nil {
		w.subs[mb.id] = make(map[chan struct{}]struct{})
		w.seen[mb.id] = mb.highestModSeq
	}
	w.subs[mb.id][ch] = struct{}{}
	if !w.polling {
		w.polling = true
		go s.pollWatched()
	}
	w.mu.Unlock()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			delete(w.subs[mb.id], ch)
			if len(w.subs[mb.id]) == 0 {
				delete(w.subs, mb.id)
				delete(w.seen, mb.id)
			}
		})
	}
	return ch, stop, nil
}

// watched reports whether some session of this process watches the
// mailbox.
func (s *Store) watched(id int64) bool {
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	return len(s.watch.subs[id]) > 0
}

// notify wakes the watchers of the mailboxes with the given ids (0 is
// ignored). It never blocks: a watcher with a wake-up pending needs no
// second one.
func (s *Store) notify(ids ...int64) {
	w := &s.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		for ch := range w.subs[id] {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// pollWatched runs while some mailbox is watched, and wakes the watchers
// of a mailbox whose HIGHESTMODSEQ moved without notify: the change came
// from another process. Every change raises HIGHESTMODSEQ (deliveries,
// flags, expunges); a deleted mailbox wakes its watchers too.
func (s *Store) pollWatched() {
	t := time.NewTicker(watchPoll)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		w := &s.watch
		w.mu.Lock()
		if len(w.subs) == 0 {
			w.polling = false
			w.mu.Unlock()
			return
		}
		ids := make([]int64, 0, len(w.subs))
		for id := range w.subs {
			ids = append(ids, id)
		}
		w.mu.Unlock()
		moved, err := s.modseqs(ids)
		if err != nil {
			continue // the store is closing, or busy: the next tick tries again
		}
		w.mu.Lock()
		var wake []int64
		for id, m := range moved {
			if old, ok := w.seen[id]; ok && old != m {
				w.seen[id] = m
				wake = append(wake, id)
			}
		}
		w.mu.Unlock()
		s.notify(wake...)
	}
}

// modseqs reads the HIGHESTMODSEQ of each mailbox; a mailbox that is gone
// reads as -1.
func (s *Store) modseqs(ids []int64) (map[int64]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), watchPoll)
	defer cancel()
	conn, err := s.rdb.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("polling mailboxes: %w", err)
	}
	defer conn.Close()
	out := make(map[int64]int64, len(ids))
	for _, id := range ids {
		var m int64
		err := conn.QueryRowContext(ctx, `SELECT highestmodseq FROM mailboxes WHERE id = ?`, id).Scan(&m)
		if errors.Is(err, sql.ErrNoRows) {
			m = -1
		} else if err != nil {
			return nil, fmt.Errorf("polling mailboxes: %w", err)
		}
		out[id] = m
	}
	return out, nil
}
