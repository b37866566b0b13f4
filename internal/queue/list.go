package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"

	"facteur/internal/envelope"
)

// Message is a queued message as handed to a Transport or a Bouncer.
type Message struct {
	Env  *envelope.Envelope
	path string
}

// NewMessage returns the Message of env whose content is the file at path:
// for tools and for the tests of transports and notifiers.
func NewMessage(env *envelope.Envelope, path string) *Message {
	return &Message{Env: env, path: path}
}

// Open opens the content as queued.
func (m *Message) Open() (io.ReadCloser, error) {
	f, err := os.Open(m.path)
	if err != nil {
		return nil, fmt.Errorf("opening queue file: %w", err)
	}
	return f, nil
}

// Path returns the content file, for transports that link or copy it. It
// must not be modified.
func (m *Message) Path() string { return m.path }

// List returns the envelopes of every queued message, by queue ID, each
// recipient with its state. Entries moved aside as corrupt are left out.
func (q *Queue) List(ctx context.Context) ([]*envelope.Envelope, error) {
	var envs []*envelope.Envelope
	err := q.Each(ctx, func(env *envelope.Envelope) error {
		envs = append(envs, env)
		return nil
	})
	return envs, err
}

// Each calls fn with the envelope of every queued message, by queue ID, as
// it reads them: two queries walked side by side (messages, and recipients
// in the same order), so that the first comes at once however long the
// queue. The queue may change meanwhile: a message removed during the walk
// may be left out. Entries moved aside as corrupt are left out; an error
// from fn stops the walk and is returned.
func (q *Queue) Each(ctx context.Context, fn func(*envelope.Envelope) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, err := q.db.QueryContext(ctx, `SELECT id, `+msgColumns+` FROM messages WHERE corrupt = 0 ORDER BY id`)
	if err != nil {
		return fmt.Errorf("listing queue: %w", err)
	}
	defer msgs.Close()
	rcpts, err := q.db.QueryContext(ctx, `SELECT msg_id, `+rcptColumns+` FROM recipients ORDER BY msg_id, idx`)
	if err != nil {
		return fmt.Errorf("listing queue: %w", err)
	}
	defer rcpts.Close()
	rw := &rcptWalk{rows: rcpts}
	for msgs.Next() {
		var id string
		env, _, err := scanMessage(&prefixScanner{rows: msgs, first: &id}, "")
		if err != nil {
			q.opt.Debug.Warn("skipping undecodable queue entry", "id", id, "err", err)
			continue
		}
		env.ID = id
		if err := rw.fill(env); err != nil {
			q.opt.Debug.Warn("skipping undecodable queue entry", "id", id, "err", err)
			continue
		}
		if len(env.Recipients) == 0 {
			continue // removed since the walk began
		}
		if err := fn(env); err != nil {
			return err
		}
	}
	if err := msgs.Err(); err != nil {
		return fmt.Errorf("listing queue: %w", err)
	}
	if rw.err != nil {
		return fmt.Errorf("listing queue: %w", rw.err)
	}
	return nil
}

// prefixScanner scans a row whose first column goes into first and the
// rest into the destinations it is given.
type prefixScanner struct {
	rows  *sql.Rows
	first *string
}

func (p *prefixScanner) Scan(dest ...any) error {
	return p.rows.Scan(append([]any{p.first}, dest...)...)
}

// rcptWalk reads the recipients query alongside the messages query, one
// row ahead.
type rcptWalk struct {
	rows *sql.Rows
	id   string // message of the row read ahead, "" for none
	idx  int
	r    *envelope.Recipient
	rerr error // the row read ahead could not be decoded
	done bool
	err  error
}

// fill appends the recipients of env, skipping those of messages before
// it (removed or corrupt ones).
func (w *rcptWalk) fill(env *envelope.Envelope) error {
	var bad error
	for {
		if w.id == "" && !w.advance() {
			break
		}
		if w.id > env.ID {
			break
		}
		if w.id == env.ID && bad == nil {
			if w.rerr != nil {
				bad = fmt.Errorf("%w: %s: %v", errUndecodable, env.ID, w.rerr)
			} else {
				bad = addRecipient(env, w.idx, w.r)
			}
		}
		w.id = ""
	}
	return bad
}

// advance reads the next row; false at the end.
func (w *rcptWalk) advance() bool {
	if w.done {
		return false
	}
	if !w.rows.Next() {
		w.done, w.err = true, w.rows.Err()
		return false
	}
	w.idx, w.r, w.rerr = scanRecipientRow(w.rows, &w.id)
	if w.id == "" {
		w.id = "\x00" // an empty ID sorts first and is skipped
	}
	return true
}

// Get returns the envelope of message id; the error wraps ErrNotFound when
// there is none.
func (q *Queue) Get(ctx context.Context, id string) (*envelope.Envelope, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%q: %w", id, ErrNotFound)
	}
	env, _, err := loadEnvelope(ctx, q.st, id)
	return env, err
}

// OpenContent opens the content of message id.
func (q *Queue) OpenContent(id string) (io.ReadCloser, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%q: %w", id, ErrNotFound)
	}
	f, err := os.Open(q.contentPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("opening queue file: %w", err)
	}
	return f, nil
}
