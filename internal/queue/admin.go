package queue

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// All names every message in the operations below, as postsuper's ALL.
const All = "ALL"

// The operator's commands on a running queue (Postfix's postqueue -f and
// postsuper -d, -h, -H, -r). Each one goes through the committer like any
// other change, returns how many messages it touched, and wakes the
// manager. A message in delivery at that moment finishes its pass: a
// deleted one may still reach the recipients that pass was trying.

// Flush makes the deferred recipients of message id ("" or All: of every
// message not on hold) due now, and has the transports forget the
// destinations they cooled down after failures.
func (q *Queue) Flush(ctx context.Context, id string) (int, error) {
	where, args, err := q.selectFor(id)
	if err != nil {
		return 0, err
	}
	ids, err := q.operate(ctx, id, `SELECT id FROM messages WHERE held = 0 AND corrupt = 0`+where, args,
		`UPDATE recipients SET next_try = 0 WHERE msg_id = ? AND state = 'deferred'`)
	if err == nil {
		q.flushing.Store(true)
		q.wake()
	}
	return len(ids), err
}

// Requeue makes every recipient of message id (or All) not yet final due
// now as if never tried (attempts back to zero), and releases it from hold.
func (q *Queue) Requeue(ctx context.Context, id string) (int, error) {
	return q.change(ctx, id, `UPDATE recipients SET next_try = 0, attempts = 0
		WHERE msg_id = ? AND state IN ('pending', 'deferred')`, `UPDATE messages SET held = 0 WHERE id = ?`)
}

// Hold puts message id (or All) on hold: it stays queued, undelivered and
// unexpired in its place, until Release.
func (q *Queue) Hold(ctx context.Context, id string) (int, error) {
	return q.change(ctx, id, `UPDATE messages SET held = 1 WHERE id = ?`)
}

// Release takes message id (or All) off hold.
func (q *Queue) Release(ctx context.Context, id string) (int, error) {
	return q.change(ctx, id, `UPDATE messages SET held = 0 WHERE id = ?`)
}

// Delete removes message id (or All) from the queue without a notice.
func (q *Queue) Delete(ctx context.Context, id string) (int, error) {
	where, args, err := q.selectFor(id)
	if err != nil {
		return 0, err
	}
	ids, err := q.operate(ctx, id, `SELECT id FROM messages WHERE 1 = 1`+where, args, deleteMessage)
	// Rows first, files second, as the reaper does: a crash between them
	// leaves an orphan file for the sweep, never a row without content.
	for _, id := range ids {
		if err := os.Remove(q.contentPath(id)); err != nil && !os.IsNotExist(err) {
			q.opt.Debug.Warn("removing queue file", "id", id, "err", err)
		}
		q.qmgr.Event(id, "removed by the operator")
	}
	return len(ids), err
}

// change runs updates (each with the message ID as its one argument) on
// message id or, for All, on every message.
func (q *Queue) change(ctx context.Context, id string, updates ...string) (int, error) {
	where, args, err := q.selectFor(id)
	if err != nil {
		return 0, err
	}
	ops := make([]any, len(updates))
	for i, u := range updates {
		ops[i] = u
	}
	ids, err := q.operate(ctx, id, `SELECT id FROM messages WHERE corrupt = 0`+where, args, ops...)
	if err == nil {
		q.wake()
	}
	return len(ids), err
}

// selectFor returns the condition that picks message id, none for All.
func (q *Queue) selectFor(id string) (string, []any, error) {
	if id == "" || strings.EqualFold(id, All) {
		return "", nil, nil
	}
	if !validID(id) {
		return "", nil, fmt.Errorf("%q: %w", id, ErrNotFound)
	}
	return " AND id = ?", []any{id}, nil
}

// operate applies each of ops (SQL taking the message ID, or a
// func(*txWriter, string) error) to every message that sel picks, in one
// transaction of the committer, and returns their IDs. A named message
// that sel does not pick is ErrNotFound.
func (q *Queue) operate(ctx context.Context, id, sel string, args []any, ops ...any) ([]string, error) {
	if q.readOnly {
		return nil, ErrClosed
	}
	var picked []string
	r := &request{op: func(w *txWriter) error {
		picked = nil // a failed group commit runs the op again alone
		rows, err := w.tx.QueryContext(w.ctx, sel, args...)
		if err != nil {
			return fmt.Errorf("selecting queue entries: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("selecting queue entries: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("selecting queue entries: %w", err)
		}
		for _, id := range ids {
			for _, op := range ops {
				var err error
				switch op := op.(type) {
				case string:
					_, err = w.tx.ExecContext(w.ctx, op, id)
				case func(*txWriter, string) error:
					err = op(w, id)
				}
				if err != nil {
					return fmt.Errorf("changing %s: %w", id, err)
				}
			}
		}
		picked = ids
		return nil
	}}
	if err := q.submit(r); err != nil {
		return nil, err
	}
	if len(picked) == 0 && len(args) > 0 {
		return nil, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	return picked, nil
}

// wake tells the manager to scan the queue again.
func (q *Queue) wake() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}
