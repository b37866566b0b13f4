package queue

import (
	"sync"

	"facteur/internal/envelope"
)

// handoff passes new messages from Commit to the manager with their
// envelopes, so that a first delivery attempt reads nothing back from the
// database. It holds at most max messages (freshCap); what does not fit is
// found by the manager's next scan of the database.
//
// A message is reserved before its rows are committed and stays held until
// the manager takes it, so a scan that sees the rows leaves it out: the
// in-memory envelope is only right for the first pass, and one message must
// never be delivered from both paths.
type handoff struct {
	max   int
	mu    sync.Mutex
	held  map[string]bool      // reserved or ready
	ready []*envelope.Envelope // committed, oldest first
	wake  chan struct{}        // signalled when ready grows or on a miss
	miss  bool                 // a message did not fit since the last scan
}

func newHandoff(max int) *handoff {
	return &handoff{max: max, held: make(map[string]bool), wake: make(chan struct{}, 1)}
}

// reserve makes room for message id before its commit; it reports false
// when the hand-off is full.
func (h *handoff) reserve(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.held) >= h.max {
		return false
	}
	h.held[id] = true
	return true
}

// cancel gives up the room of a message whose commit failed.
func (h *handoff) cancel(id string) {
	h.mu.Lock()
	delete(h.held, id)
	h.mu.Unlock()
}

// publish hands over the committed envelope of a reserved message; the
// manager owns it from then on.
func (h *handoff) publish(env *envelope.Envelope) {
	h.mu.Lock()
	h.ready = append(h.ready, env)
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// missed records that a message that did not fit is committed, so that
// the manager scans the database for it rather than wait for its next
// periodic scan.
func (h *handoff) missed() {
	h.mu.Lock()
	h.miss = true
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// takeMissed reports and clears whether a message did not fit.
func (h *handoff) takeMissed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.miss
	h.miss = false
	return m
}

// take returns the oldest committed envelope, if any.
func (h *handoff) take() (*envelope.Envelope, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ready) == 0 {
		return nil, false
	}
	env := h.ready[0]
	h.ready[0] = nil
	h.ready = h.ready[1:]
	delete(h.held, env.ID)
	return env, true
}

// holds reports whether message id is reserved or waiting to be taken.
func (h *handoff) holds(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held[id]
}
