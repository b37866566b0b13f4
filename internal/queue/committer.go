package queue

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"facteur/internal/envelope"
	"facteur/internal/safeio"
)

// maxBatch bounds the requests of one group commit, and the settlements
// that wait for one.
const maxBatch = 1024

// settleDelay bounds how long a settlement waits for a commit of new mail
// to ride along with before it is committed alone.
const settleDelay = 50 * time.Millisecond

// request is a change a caller waits for: a new message whose content is
// fsync'd (insert), a message to mark corrupt, or, with neither, a flush of
// the settlements waiting.
type request struct {
	insert  *envelope.Envelope
	file    *os.File // the insert's content, written but not yet fsync'd
	corrupt string
	op      func(*txWriter) error // an operator's change
	done    chan error
}

func (r *request) isFlush() bool { return r.insert == nil && r.corrupt == "" && r.op == nil }

// settlement is what a delivery pass leaves to record: new recipient
// states, or the removal of a message that has left the queue. No caller
// waits for it: losing it in a crash only makes the queue deliver again (at
// least once, never lost), so it rides along with the next transaction.
type settlement struct {
	id      string
	updates []rcptUpdate
	warned  bool // the delay notice went out
	remove  bool // the message has left the queue
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
// request that arrives while it is busy, with the settlements waiting, and
// commits them together; settlements alone wait up to settleDelay for
// company.
func (q *Queue) committer() {
	defer close(q.committed)
	defer q.stopReaper()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	for {
		select {
		case r := <-q.reqs:
			q.commitBatch(q.drain([]*request{r}), q.takeSettlements(false))
		case <-q.settleWake:
			if q.settlementsWaiting() >= maxBatch {
				q.commitBatch(nil, q.takeSettlements(false))
			} else if !armed {
				timer.Reset(q.opt.settleDelay)
				armed = true
			}
			continue
		case <-timer.C:
			q.commitBatch(nil, q.takeSettlements(false))
		case <-q.stop:
			q.commitBatch(q.drain(nil), q.takeSettlements(true))
			return
		}
		// Whatever was waiting has just been committed.
		timer.Stop()
		armed = false
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

// settleLater queues s for the committer's next transaction. The message
// stays hidden from scans until then, so that its old rows do not send it
// to delivery again.
func (q *Queue) settleLater(s settlement) error {
	id := s.id
	q.settleMu.Lock()
	if q.settleClosed {
		q.settleMu.Unlock()
		return ErrClosed
	}
	q.settling = append(q.settling, s)
	q.unsettled[id]++
	q.settleMu.Unlock()
	select {
	case q.settleWake <- struct{}{}:
	default:
	}
	return nil
}

// takeSettlements returns the settlements waiting; last refuses later ones.
func (q *Queue) takeSettlements(last bool) []settlement {
	q.settleMu.Lock()
	defer q.settleMu.Unlock()
	q.settleClosed = q.settleClosed || last
	s := q.settling
	q.settling = nil
	return s
}

func (q *Queue) settlementsWaiting() int {
	q.settleMu.Lock()
	defer q.settleMu.Unlock()
	return len(q.settling)
}

// isUnsettled reports whether message id has a settlement not yet
// committed.
func (q *Queue) isUnsettled(id string) bool {
	q.settleMu.Lock()
	defer q.settleMu.Unlock()
	return q.unsettled[id] > 0
}

// settled ends the hiding of committed settlements.
func (q *Queue) settled(done []settlement) {
	q.settleMu.Lock()
	defer q.settleMu.Unlock()
	for _, s := range done {
		if q.unsettled[s.id]--; q.unsettled[s.id] <= 0 {
			delete(q.unsettled, s.id)
		}
	}
}

// flush commits the settlements waiting and waits until the files of the
// messages they remove are gone.
func (q *Queue) flush() error { return q.submit(&request{}) }

// commitBatch makes a batch durable in one transaction and answers the
// callers. The new content files and their directories are fsync'd while
// the transaction is written, and the commit waits for them: a row is
// durable only once its content is, so a crash never leaves a row without
// its file. A message whose fsync failed is left out of the commit (its
// rows deleted in the same transaction) and its caller told, so that no
// scan can deliver mail whose client was refused.
func (q *Queue) commitBatch(batch []*request, settle []settlement) {
	if len(batch) == 0 && len(settle) == 0 {
		return
	}
	dirs := q.syncDirsAsync(batch)
	failed := make(map[*request]error)
	err := q.inTx(context.Background(), func(w *txWriter) error {
		for _, r := range batch {
			if err := applyRequest(w, r); err != nil {
				return err
			}
		}
		for _, s := range settle {
			if err := applySettlement(w, s); err != nil {
				return err
			}
		}
		syncErr := dirs.wait()
		for _, r := range batch {
			if err := q.syncErr(syncErr, r); err != nil {
				failed[r] = fmt.Errorf("committing %s: %w", r.insert.ID, err)
				if err := deleteMessage(w, r.insert.ID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		// One bad change must not fail its neighbours: redo them one by one.
		q.opt.Debug.Warn("group commit failed, committing one by one", "n", len(batch)+len(settle), "err", err)
		q.commitEach(batch, settle, dirs.wait())
		return
	}
	var flushes []*request
	for _, r := range batch {
		if r.isFlush() {
			flushes = append(flushes, r)
			continue
		}
		r.done <- failed[r]
	}
	q.reap(settle, flushes)
}

// commitEach commits every request and settlement in a transaction of its
// own, after a group commit failed.
func (q *Queue) commitEach(batch []*request, settle []settlement, dirErr map[string]error) {
	ctx := context.Background()
	var flushes []*request
	for _, r := range batch {
		if r.isFlush() {
			flushes = append(flushes, r)
			continue
		}
		if err := q.syncErr(dirErr, r); err != nil {
			r.done <- fmt.Errorf("committing %s: %w", r.insert.ID, err)
			continue
		}
		r.done <- q.inTx(ctx, func(w *txWriter) error { return applyRequest(w, r) })
	}
	var done []settlement
	for _, s := range settle {
		err := q.inTx(ctx, func(w *txWriter) error { return applySettlement(w, s) })
		if err != nil {
			q.opt.Debug.Error("recording delivery results", "err", err)
			q.settled([]settlement{s}) // the next scan finds it again
			continue
		}
		done = append(done, s)
	}
	q.reap(done, flushes)
}

// dirSync is the fsync of a batch's directories under way.
type dirSync struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs map[string]error // only the failures
}

// syncDirsAsync starts an fsync of each directory holding a new content
// file of batch, at once: the content is already fsync'd by its session,
// only the directory entries remain.
func (q *Queue) syncDirsAsync(batch []*request) *dirSync {
	ds := &dirSync{}
	var seen [4]string
	dirs := seen[:0]
	var files []*request
	for _, r := range batch {
		if r.insert == nil {
			continue
		}
		dir := q.shardDir(r.insert.ID)
		if !containsString(dirs, dir) {
			dirs = append(dirs, dir)
		}
		if r.file != nil {
			files = append(files, r)
		}
	}
	for _, dir := range dirs {
		ds.wg.Go(func() { ds.fail(dir, safeio.SyncDir(dir)) })
	}
	// Each fsync holds an OS thread: a few goroutines share the files.
	const workers = 16
	for w := 0; w < workers && w < len(files); w++ {
		ds.wg.Go(func() {
			for i := w; i < len(files); i += workers {
				r := files[i]
				if err := r.file.Sync(); err != nil {
					ds.fail(r.file.Name(), fmt.Errorf("syncing queue file %s: %w", r.insert.ID, err))
				}
			}
		})
	}
	return ds
}

func (ds *dirSync) fail(key string, err error) {
	if err == nil {
		return
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.errs == nil {
		ds.errs = make(map[string]error)
	}
	ds.errs[key] = err
}

// syncErr returns why the content of insert r may not be durable: its
// directory's or its own fsync failed.
func (q *Queue) syncErr(errs map[string]error, r *request) error {
	if r.insert == nil || len(errs) == 0 {
		return nil
	}
	if err := errs[q.shardDir(r.insert.ID)]; err != nil {
		return err
	}
	if r.file != nil {
		return errs[r.file.Name()]
	}
	return nil
}

// wait waits for the fsyncs and returns the failed directories.
func (ds *dirSync) wait() map[string]error {
	ds.wg.Wait()
	return ds.errs
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (q *Queue) inTx(ctx context.Context, fn func(*txWriter) error) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning queue transaction: %w", err)
	}
	if err := fn(&txWriter{ctx: ctx, tx: tx, st: q.st}); err != nil {
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
	case r.op != nil:
		return r.op(w)
	}
	return nil
}

// applySettlement writes s. A removal writes no update first: rows about to
// be deleted need no new state.
func applySettlement(w *txWriter, s settlement) error {
	if s.remove {
		return deleteMessage(w, s.id)
	}
	for _, u := range s.updates {
		if err := updateRecipient(w, u); err != nil {
			return err
		}
	}
	if s.warned {
		if _, err := w.tx.ExecContext(w.ctx, `UPDATE messages SET warned = 1 WHERE id = ?`, s.id); err != nil {
			return fmt.Errorf("recording the delay notice of %s: %w", s.id, err)
		}
	}
	return nil
}
