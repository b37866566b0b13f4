package queue

import (
	"context"
	"database/sql"
	"fmt"

	"facteur/internal/envelope"
	"facteur/internal/safeio"
)

// maxBatch bounds the requests of one group commit.
const maxBatch = 1024

// request is one unit of work for the committer. Exactly one of insert,
// updates (possibly with remove), remove or corrupt is set.
type request struct {
	insert  *envelope.Envelope // a new message whose content is fsync'd
	updates []rcptUpdate
	remove  string // a message to delete, after updates
	corrupt string // a message to mark corrupt
	done    chan error
}

// submit hands r to the committer and waits for its answer. Once the
// committer has taken r it always answers, Close included.
func (q *Queue) submit(r *request) error {
	r.done = make(chan error, 1)
	select {
	case q.reqs <- r:
	case <-q.committed:
		return ErrClosed
	}
	return <-r.done
}

// committer is the one goroutine that writes the database. It takes every
// request that arrives while it is busy and commits them together.
func (q *Queue) committer() {
	defer close(q.committed)
	for {
		select {
		case r := <-q.reqs:
			q.commitBatch(q.drain([]*request{r}))
		case <-q.stop:
			if batch := q.drain(nil); len(batch) > 0 {
				q.commitBatch(batch)
			}
			return
		}
	}
}

// drain adds to batch the requests already waiting, without blocking.
func (q *Queue) drain(batch []*request) []*request {
	for len(batch) < maxBatch {
		select {
		case r := <-q.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// commitBatch makes a batch durable: each new message's directory entry
// (one fsync per msg/XX directory), then one transaction for all rows.
func (q *Queue) commitBatch(batch []*request) {
	batch = q.syncDirs(batch)
	if len(batch) == 0 {
		return
	}
	ctx := context.Background()
	err := q.inTx(ctx, func(w *txWriter) error {
		for _, r := range batch {
			if err := applyRequest(w, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// One bad request must not fail its neighbours: redo them one by one.
		q.opt.Debug.Warn("group commit failed, committing one by one", "n", len(batch), "err", err)
		for _, r := range batch {
			r.done <- q.inTx(ctx, func(w *txWriter) error { return applyRequest(w, r) })
		}
		return
	}
	for _, r := range batch {
		r.done <- nil
	}
}

// syncDirs fsyncs the directories of new content files, once each, answers
// the inserts whose directory fails, and returns the rest of batch.
func (q *Queue) syncDirs(batch []*request) []*request {
	synced := make(map[string]error)
	kept := batch[:0]
	for _, r := range batch {
		if r.insert != nil {
			dir := q.shardDir(r.insert.ID)
			err, done := synced[dir]
			if !done {
				err = safeio.SyncDir(dir)
				synced[dir] = err
			}
			if err != nil {
				r.done <- fmt.Errorf("committing %s: %w", r.insert.ID, err)
				continue
			}
		}
		kept = append(kept, r)
	}
	return kept
}

func (q *Queue) inTx(ctx context.Context, fn func(*txWriter) error) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning queue transaction: %w", err)
	}
	if err := fn(&txWriter{ctx: ctx, tx: tx, st: q.st, bound: make(map[*sql.Stmt]*sql.Stmt)}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing queue transaction: %w", err)
	}
	return nil
}

func applyRequest(w *txWriter, r *request) error {
	switch {
	case r.insert != nil:
		return insertMessage(w, r.insert)
	case r.corrupt != "":
		return markCorrupt(w, r.corrupt)
	}
	for _, u := range r.updates {
		if err := updateRecipient(w, u); err != nil {
			return err
		}
	}
	if r.remove != "" {
		return deleteMessage(w, r.remove)
	}
	return nil
}
