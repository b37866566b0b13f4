package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path"
	"slices"
	"sync"

	"facteur/internal/safeio"
)

// commitReq is one delivery handed to the committer goroutine.
type commitReq struct {
	blob string
	size int64
	date int64 // internal date, Unix seconds
	hdr  header
	// section is the content's header section, nil when it is longer
	// than the captured head.
	section []byte
	rcpts   []recipient // names already normalised

	// Set by the committer before it closes done.
	err       error
	ambiguous bool // the commit itself failed: rows may exist, keep the blob
	unused    bool // every recipient was skipped (delivery key seen): no row names the blob
	done      chan struct{}
}

// submit hands req to the committer and waits for its answer. Once the
// committer holds req, the answer is awaited even if ctx ends: the outcome
// must be known to keep or remove the blob.
func (s *Store) submit(ctx context.Context, req *commitReq) error {
	select {
	case s.reqs <- req:
	case <-s.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-req.done
	return req.err
}

// committer is the one goroutine that writes deliveries. It takes every
// request waiting when it becomes free, up to MaxBatch, and commits them in
// one transaction: one WAL fsync for the whole group (group commit).
func (s *Store) committer() {
	defer close(s.done)
	batch := make([]*commitReq, 0, s.opt.MaxBatch)
	for {
		select {
		case r := <-s.reqs:
			batch = append(batch[:0], r)
		case <-s.quit:
			return
		}
	fill:
		for len(batch) < s.opt.MaxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commitBatch(batch)
		for _, r := range batch {
			close(r.done)
		}
	}
}

// commitBatch writes the rows of every request in one transaction and
// sets each request's err. A request whose mailbox is missing fails alone;
// any other error fails the whole batch.
func (s *Store) commitBatch(batch []*commitReq) {
	ctx := context.Background()
	wait := s.syncBlobDirs(batch)
	err := s.writeBatch(ctx, batch, wait)
	wait() // when the transaction failed early, let the fsyncs end
	if err != nil {
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
		}
	}
}

// syncBlobDirs fsyncs, in parallel with the transaction, the directories
// holding the batch's new blobs, so that their entries are durable before
// any row names them. It returns a function waiting for the result.
func (s *Store) syncBlobDirs(batch []*commitReq) func() error {
	var dirs []string // "XX", a handful at most: blob names follow the clock
	for _, r := range batch {
		if d := path.Dir(r.blob); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(dirs))
	for i, d := range dirs {
		wg.Go(func() { errs[i] = safeio.SyncDir(s.blobPath(d)) })
	}
	return func() error {
		wg.Wait()
		return errors.Join(errs...)
	}
}

// writeBatch runs the batch's transaction. The directory fsyncs (waited
// for with synced) must be finished before the commit makes rows durable:
// a row naming a blob whose directory entry a crash could still lose
// would be a message without content. When they fail, nothing commits.
func (s *Store) writeBatch(ctx context.Context, batch []*commitReq, synced func() error) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning delivery transaction: %w", err)
	}
	defer tx.Rollback()
	st := s.batchStmts(ctx, tx)
	defer st.close()
	boxes := make(map[[2]string]*batchMailbox)
	for _, r := range batch {
		targets, err := st.resolve(ctx, r, boxes)
		if err != nil {
			r.err = err // this delivery alone fails; nothing was written for it
			continue
		}
		if err := st.insert(ctx, r, targets); err != nil {
			return err
		}
	}
	for _, mb := range boxes {
		if !mb.dirty {
			continue
		}
		if _, err := st.updateMailbox.ExecContext(ctx, mb.uidnext, mb.highestModSeq, mb.messages, mb.id); err != nil {
			return fmt.Errorf("updating mailbox: %w", err)
		}
	}
	if err := synced(); err != nil {
		return fmt.Errorf("syncing blob directories: %w", err)
	}
	if err := tx.Commit(); err != nil {
		for _, r := range batch {
			r.ambiguous = r.err == nil
		}
		return fmt.Errorf("committing deliveries: %w", err)
	}
	for _, mb := range boxes {
		if mb.dirty {
			s.notify(mb.id)
		}
	}
	return nil
}

// batchMailbox is a mailbox row as the running batch has changed it; it
// is written back once per batch.
type batchMailbox struct {
	mailboxRow
	dirty bool
}

type batchStmts struct {
	lookup, insertBlob, insertMessage, updateMailbox *sql.Stmt
}

// batchStmts binds the Store's prepared delivery statements to tx. They
// were prepared on the writer's one connection, which tx holds, so no SQL
// is parsed again.
func (s *Store) batchStmts(ctx context.Context, tx *sql.Tx) *batchStmts {
	return &batchStmts{
		lookup:        tx.StmtContext(ctx, s.st.wLookupMailbox),
		insertBlob:    tx.StmtContext(ctx, s.st.insertBlob),
		insertMessage: tx.StmtContext(ctx, s.st.insertMessage),
		updateMailbox: tx.StmtContext(ctx, s.st.updateMailbox),
	}
}

func (st *batchStmts) close() {
	for _, s := range []*sql.Stmt{st.lookup, st.insertBlob, st.insertMessage, st.updateMailbox} {
		if s != nil {
			s.Close()
		}
	}
}

// maxUID is the largest UID (RFC 9051 §2.3.1.1: a 32-bit value).
const maxUID = 1<<32 - 1

// resolve finds every recipient's mailbox, writing nothing, so that a
// delivery with a missing mailbox can fail without touching the batch.
func (st *batchStmts) resolve(ctx context.Context, r *commitReq, boxes map[[2]string]*batchMailbox) ([]*batchMailbox, error) {
	targets := make([]*batchMailbox, len(r.rcpts))
	for i, rc := range r.rcpts {
		key := [2]string{rc.account, rc.mailbox}
		mb := boxes[key]
		if mb == nil {
			mb = new(batchMailbox)
			err := st.lookup.QueryRowContext(ctx, rc.account, rc.mailbox).Scan(&mb.id, &mb.uidvalidity, &mb.uidnext, &mb.highestModSeq, &mb.messages)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, fmt.Errorf("mailbox %s of %s: %w", rc.mailbox, rc.account, ErrNotFound)
			}
			if err != nil {
				return nil, fmt.Errorf("looking up mailbox %s of %s: %w", rc.mailbox, rc.account, err)
			}
			boxes[key] = mb
		}
		if mb.uidnext+int64(len(r.rcpts)) > maxUID {
			return nil, fmt.Errorf("mailbox %s of %s: no UIDs left", rc.mailbox, rc.account)
		}
		targets[i] = mb
	}
	return targets, nil
}

// insert writes one message row per recipient, and the blob row when
// several rows share the blob (a blob without a row has one message: see
// the schema). A recipient whose delivery key the mailbox holds already
// gets no row and takes no UID. RFC 9051 §2.3.1.1: UIDs are assigned in
// strictly ascending order; RFC 7162 §3.1: each new message gets a
// mod-sequence above every earlier one.
func (st *batchStmts) insert(ctx context.Context, r *commitReq, targets []*batchMailbox) error {
	rows := 0
	for i, mb := range targets {
		ok, err := st.insertOne(ctx, r, &r.rcpts[i], mb)
		if err != nil {
			return err
		}
		if ok {
			rows++
		}
	}
	switch {
	case rows == 0:
		r.unused = true
	case rows > 1:
		if _, err := st.insertBlob.ExecContext(ctx, r.blob, r.size, rows); err != nil {
			return fmt.Errorf("inserting blob: %w", err)
		}
	}
	return nil
}

// insertOne writes the message row of rc into mb and reports whether it
// did: false when rc's delivery key is in mb already.
func (st *batchStmts) insertOne(ctx context.Context, r *commitReq, rc *recipient, mb *batchMailbox) (bool, error) {
	var key any // NULL: unique indexes treat NULLs as distinct
	if rc.key != "" {
		key = rc.key
	}
	h := r.hdr
	var section any // NULL: not cached
	if r.section != nil {
		section = append(rc.prefix[:len(rc.prefix):len(rc.prefix)], r.section...)
	}
	res, err := st.insertMessage.ExecContext(ctx, mb.id, mb.uidnext, r.blob, rc.prefix, rc.flags, mb.highestModSeq+1,
		r.date, int64(len(rc.prefix))+r.size, h.from, h.to, h.subject, h.date, h.messageID, key, section)
	if err != nil {
		return false, fmt.Errorf("inserting message: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("inserting message: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	rc.uidvalidity, rc.uid = mb.uidvalidity, uint32(mb.uidnext)
	mb.uidnext++
	mb.highestModSeq++
	mb.messages++
	mb.dirty = true
	return true, nil
}
