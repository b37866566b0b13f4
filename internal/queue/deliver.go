package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"facteur/internal/envelope"
)

// Status is the outcome of one delivery attempt for one recipient.
type Status int

const (
	Delivered Status = iota + 1
	Deferred         // temporary failure: try again later
	Bounced          // permanent failure
	// Postponed: not tried, because the destination is busy. The queue
	// tries the recipient again soon, without counting an attempt or
	// logging a deferral.
	Postponed
)

// Result is a Transport's answer for one recipient.
type Result struct {
	Status Status
	DSN    string // RFC 3463 status code, "2.0.0"
	Text   string // "delivered to mailbox" or the remote reply
	Relay  string // "local", "host[ip]:port"
	// Reply is the next hop's own reply, "550 5.1.1 <a@b>: no such user",
	// when the result is one; "" when this system decided. A notice quotes
	// it as the Diagnostic-Code (RFC 3464 §2.3.6).
	Reply string
	// Relayed: delivered to a next hop that does not offer DSN, so a
	// sender who asked NOTIFY=SUCCESS gets a "relayed" notice from here
	// (RFC 3461 §5.2.2). False when the next hop took the request on.
	Relayed bool
}

// Transport delivers messages for one transport name.
type Transport interface {
	// Deliver delivers msg to rcpts (all with the same Transport name) and
	// returns one Result per recipient, in order. It must honour ctx.
	Deliver(ctx context.Context, msg *Message, rcpts []*envelope.Recipient) []Result
}

// noTransport is the result for a recipient whose transport is not
// configured: remote mail waits in the queue until outbound delivery exists.
var noTransport = Result{Status: Deferred, DSN: "4.4.0",
	Text: "delivery temporarily suspended: no transport for remote mail", Relay: "none"}

// noResult stands in for a result a transport failed to give.
var noResult = Result{Status: Deferred, DSN: "4.3.0", Text: "transport gave no result", Relay: "none"}

// process makes one delivery pass over message id as the database has it,
// and reports whether a recipient was postponed.
func (q *Queue) process(ctx context.Context, id string, transports map[string]Transport) bool {
	msg, err := q.load(ctx, id)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			q.opt.Debug.Error("loading queue entry", "id", id, "err", err)
		}
		return false
	}
	return q.pass(ctx, msg, transports)
}

// processFresh makes the first delivery pass over a message just
// committed, from the envelope Commit handed over: its rows are exactly
// that envelope and its content file was fsync'd a moment ago, so nothing
// is read back. A content file damaged meanwhile makes the transport defer,
// and the retry, loaded from the database, moves the entry aside.
func (q *Queue) processFresh(ctx context.Context, env *envelope.Envelope, transports map[string]Transport) bool {
	return q.pass(ctx, &Message{Env: env, path: q.contentPath(env.ID)}, transports)
}

// pass tries every due recipient of msg, sends the delay notice when it is
// time, commits the results, and finishes a message whose recipients are
// all final. It reports whether a recipient was postponed.
func (q *Queue) pass(ctx context.Context, msg *Message, transports map[string]Transport) bool {
	var updates []rcptUpdate
	postponed := false
	if due := q.due(msg.Env); len(due) > 0 {
		updates, postponed = q.deliver(ctx, msg, due, transports)
	}
	warned := q.warnDelay(ctx, msg)
	if err := q.settle(ctx, msg, updates, warned); err != nil {
		q.opt.Debug.Error("recording delivery results", "id", msg.Env.ID, "err", err)
	}
	return postponed
}

// load reads message id and checks its content file; an entry that cannot
// be read back is moved aside.
func (q *Queue) load(ctx context.Context, id string) (*Message, error) {
	env, corrupt, err := loadEnvelope(ctx, q.st, id)
	if errors.Is(err, errUndecodable) {
		q.moveAside(id, err.Error())
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if corrupt {
		return nil, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	msg := &Message{Env: env, path: q.contentPath(id)}
	fi, err := os.Stat(msg.path)
	switch {
	case err != nil:
		q.moveAside(id, "content file: "+err.Error())
		return nil, fmt.Errorf("%s: %w", id, err)
	case fi.Size() != env.Size:
		q.moveAside(id, fmt.Sprintf("content file has %d bytes, queued with %d", fi.Size(), env.Size))
		return nil, fmt.Errorf("%s: truncated content", id)
	}
	return msg, nil
}

// moveAside moves a corrupt entry's content to corrupt/ and marks its row,
// so that the rest of the queue flows.
func (q *Queue) moveAside(id, reason string) {
	err := os.Rename(q.contentPath(id), filepath.Join(q.dir, "corrupt", id))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		q.opt.Debug.Error("moving corrupt queue file", "id", id, "err", err)
	}
	if err := q.submit(&request{corrupt: id}); err != nil {
		q.opt.Debug.Error("marking corrupt queue entry", "id", id, "err", err)
	}
	q.qmgr.Warn("%s: corrupt queue entry moved to corrupt/: %s", id, reason)
}

// due returns the indexes of the recipients to try now: pending ones and
// deferred ones whose time has come.
func (q *Queue) due(env *envelope.Envelope) []int {
	now := q.now()
	var idx []int
	for i, r := range env.Recipients {
		if r.State == envelope.Pending || r.State == envelope.Deferred && !r.NextTry.After(now) {
			idx = append(idx, i)
		}
	}
	return idx
}

// deliver hands the due recipients to their transports, one call per
// transport name, and returns their new states, and whether one was
// postponed (it keeps its state).
func (q *Queue) deliver(ctx context.Context, msg *Message, due []int, transports map[string]Transport) ([]rcptUpdate, bool) {
	var names []string
	groups := make(map[string][]int)
	for _, i := range due {
		name := msg.Env.Recipients[i].Transport
		if _, ok := groups[name]; !ok {
			names = append(names, name)
		}
		groups[name] = append(groups[name], i)
	}
	var updates []rcptUpdate
	postponed := false
	for _, name := range names {
		idx := groups[name]
		results := q.attempt(ctx, msg, idx, transports[name])
		for k, i := range idx {
			if results[k].Status == Postponed {
				postponed = true
				continue
			}
			updates = append(updates, q.record(msg.Env, i, results[k]))
		}
	}
	return updates, postponed
}

// attempt returns one result per recipient in idx, from t.
func (q *Queue) attempt(ctx context.Context, msg *Message, idx []int, t Transport) []Result {
	results := make([]Result, len(idx))
	if t == nil {
		for k := range results {
			results[k] = noTransport
		}
		return results
	}
	rcpts := make([]*envelope.Recipient, len(idx))
	for k, i := range idx {
		rcpts[k] = msg.Env.Recipients[i]
	}
	got := t.Deliver(ctx, msg, rcpts)
	for k := range results {
		if k < len(got) && got[k].Status >= Delivered && got[k].Status <= Postponed {
			results[k] = got[k]
			continue
		}
		results[k] = noResult
	}
	return results
}
