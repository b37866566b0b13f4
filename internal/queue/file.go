package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"

	"facteur/internal/envelope"
	"facteur/internal/safeio"
)

// File is a message being queued: write its content, then Commit or Abort.
// A File is used by one goroutine.
type File struct {
	q    *Queue
	env  *envelope.Envelope
	path string
	f    *os.File
	w    *bufio.Writer
	n    int64
	err  error // first write error
	done bool  // committed or aborted
}

// Create starts a new message for env: it assigns the queue ID (also set in
// env.ID) and opens the content file.
func (q *Queue) Create(ctx context.Context, env *envelope.Envelope) (*File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.readOnly {
		return nil, ErrClosed
	}
	id := q.ids.next()
	path := q.contentPath(id)
	if err := q.ensureDir(q.shardDir(id)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating queue file: %w", err)
	}
	env.ID = id
	return &File{q: q, env: env, path: path, f: f, w: q.writer(f)}, nil
}

// writer returns a buffered writer to f, reusing the buffer of a finished
// File: a 32 KB buffer per message would be most of what queueing one
// allocates.
func (q *Queue) writer(f *os.File) *bufio.Writer {
	if w, ok := q.bufs.Get().(*bufio.Writer); ok {
		w.Reset(f)
		return w
	}
	return bufio.NewWriterSize(f, 32<<10)
}

// releaseWriter gives the write buffer back once it is flushed or its
// content is abandoned.
func (f *File) releaseWriter() {
	if f.w == nil {
		return
	}
	f.w.Reset(nil)
	f.q.bufs.Put(f.w)
	f.w = nil
}

func (q *Queue) ensureDir(dir string) error {
	q.dirMu.Lock()
	defer q.dirMu.Unlock()
	if q.dirs[dir] {
		return nil
	}
	if err := safeio.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating queue directory: %w", err)
	}
	q.dirs[dir] = true
	return nil
}

// ID returns the queue ID.
func (f *File) ID() string { return f.env.ID }

// Write appends p to the content. After an error every later Write and the
// Commit fail.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, errors.New("writing queue file: already committed or aborted")
	}
	if f.err != nil {
		return 0, f.err
	}
	n, err := f.w.Write(p)
	f.n += int64(n)
	if err != nil {
		f.err = fmt.Errorf("writing queue file %s: %w", f.env.ID, err)
		return n, f.err
	}
	return n, nil
}

// Commit makes the message durable: content fsync'd, envelope and
// recipients committed to the database (with other sessions' messages, in
// one group commit). Only after Commit returns nil may the server accept the
// message. On error the message is gone, as after Abort.
func (f *File) Commit(ctx context.Context) error {
	if f.done {
		return errors.New("committing queue file: already committed or aborted")
	}
	if err := f.flush(ctx); err != nil {
		f.Abort()
		return err
	}
	env := f.record()
	// Reserved before the rows become visible, so that no scan of the
	// database takes the message too.
	handed := f.q.fresh.reserve(env.ID)
	// The committer fsyncs the content with the rest of its batch.
	err := f.q.submit(&request{insert: env, file: f.f})
	if cerr := f.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing queue file: %w", cerr)
	}
	f.f = nil
	if err != nil {
		if handed {
			f.q.fresh.cancel(env.ID)
		}
		f.Abort()
		return fmt.Errorf("committing %s: %w", env.ID, err)
	}
	f.done = true
	f.q.qmgr.Event(env.ID, "from=<%s>, size=%d, nrcpt=%d (queue active)", env.Sender, env.Size, len(env.Recipients))
	// New mail goes to delivery at once, with the envelope as committed (a
	// copy that no caller holds); when the hand-off is full, the manager's
	// next scan finds the message in the database.
	if handed {
		f.q.fresh.publish(env)
	} else {
		f.q.fresh.missed()
	}
	return nil
}

// flush writes out the buffered content. The fsync is the committer's,
// which fsyncs every file of a group commit at once, beside the directory
// fsyncs and the transaction (see commitBatch): on ext4 they then share
// one journal commit instead of waiting for one each in turn.
func (f *File) flush(ctx context.Context) error {
	if f.err != nil {
		return f.err
	}
	err := f.w.Flush()
	f.releaseWriter()
	if err != nil {
		return fmt.Errorf("writing queue file %s: %w", f.env.ID, err)
	}
	return ctx.Err()
}

// record returns the envelope as it is queued: a copy, with the size
// written, the arrival time and every recipient's state set. The arrival
// time is kept in microseconds, as the database does, so that the manager
// sees the same envelope from the hand-off as from a scan.
func (f *File) record() *envelope.Envelope {
	env := *f.env
	env.Size = f.n
	if env.Arrival.IsZero() {
		env.Arrival = f.q.now()
	}
	env.Arrival = fromMicros(micros(env.Arrival))
	env.Recipients = make([]*envelope.Recipient, len(f.env.Recipients))
	for i, r := range f.env.Recipients {
		c := *r
		if c.State == "" {
			c.State = envelope.Pending
		}
		env.Recipients[i] = &c
	}
	return &env
}

// Abort discards the message. It does nothing after a successful Commit, so
// that it can be deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.releaseWriter()
	if f.f != nil {
		f.f.Close()
		f.f = nil
	}
	os.Remove(f.path)
}
