package main

import (
	"context"

	"facteur/internal/cleanup"
	"facteur/internal/envelope"
	"facteur/internal/queue"
	"facteur/internal/smtpd"
)

// queueAdapter lets cleanup write into the queue through the interface
// cleanup declares.
type queueAdapter struct{ q *queue.Queue }

func (a queueAdapter) Create(ctx context.Context, env *envelope.Envelope) (cleanup.QueueFile, error) {
	f, err := a.q.Create(ctx, env)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// sinkAdapter is what smtpd hands accepted mail to: cleanup in front of
// the queue (DESIGN: smtpd → cleanup → queue).
type sinkAdapter struct {
	q *queue.Queue
	c *cleanup.Cleanup
}

func (a sinkAdapter) SpaceOK() bool { return a.q.SpaceOK() }

func (a sinkAdapter) Begin(ctx context.Context, env *envelope.Envelope) (smtpd.Message, error) {
	m, err := a.c.Begin(ctx, env)
	if err != nil {
		return nil, err
	}
	return m, nil
}
