package queue

import (
	"context"
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
	ids, err := queryIDs(ctx, q.db, `SELECT id FROM messages WHERE corrupt = 0 ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing queue: %w", err)
	}
	envs := make([]*envelope.Envelope, 0, len(ids))
	for _, id := range ids {
		env, _, err := loadEnvelope(ctx, q.st, id)
		switch {
		case errors.Is(err, ErrNotFound):
			continue // removed since the first query
		case errors.Is(err, errUndecodable):
			q.opt.Debug.Warn("skipping undecodable queue entry", "id", id, "err", err)
			continue
		case err != nil:
			return nil, fmt.Errorf("listing queue: %w", err)
		}
		envs = append(envs, env)
	}
	return envs, nil
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
