package queue

import (
	"context"
	"testing"
	"time"

	"facteur/internal/envelope"
)

// blockingTransport holds each delivery until released (or its context
// ends), then reports how it ended.
type blockingTransport struct {
	started chan struct{}
	release chan struct{}
}

func (b *blockingTransport) Deliver(ctx context.Context, msg *Message, rcpts []*envelope.Recipient) []Result {
	b.started <- struct{}{}
	res := Result{Status: Delivered, DSN: "2.0.0", Text: "delivered to mailbox", Relay: "local"}
	select {
	case <-b.release:
	case <-ctx.Done():
		res = Result{Status: Deferred, DSN: "4.3.0", Text: "delivery interrupted", Relay: "local"}
	}
	out := make([]Result, len(rcpts))
	for i := range out {
		out[i] = res
	}
	return out
}

// TestStopLetsDeliveriesFinish: when Run's context ends, a delivery under
// way finishes (within DrainTimeout) instead of being interrupted and
// deferred for a whole backoff.
func TestStopLetsDeliveriesFinish(t *testing.T) {
	for _, tc := range []struct {
		name    string
		drain   time.Duration
		release bool
		want    envelope.State
	}{
		{"finishes within the drain time", time.Hour, true, ""}, // removed: delivered
		{"cut off after the drain time", time.Millisecond, false, envelope.Deferred},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tq := openTest(t, dir, Options{RunDelay: time.Hour, DrainTimeout: tc.drain})
			bt := &blockingTransport{started: make(chan struct{}, 1), release: make(chan struct{})}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- tq.Run(ctx, map[string]Transport{"local": bt}) }()
			id := enqueue(t, tq.Queue, "a@example.org", "Subject: x\r\n\r\nbody\r\n", rcpt("toto", "local"))
			<-bt.started
			cancel()
			if tc.release {
				time.Sleep(10 * time.Millisecond) // let Run see the cancellation first
				close(bt.release)
			}
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			if err := tq.flush(); err != nil {
				t.Fatal(err)
			}
			env, err := tq.Get(context.Background(), id)
			switch {
			case tc.want == "" && err == nil:
				t.Errorf("message still queued with %v, want delivered and removed", states(env))
			case tc.want != "" && err != nil:
				t.Errorf("Get: %v, want the message deferred", err)
			case tc.want != "" && states(env)["toto"] != tc.want:
				t.Errorf("state %v, want %s", states(env), tc.want)
			}
		})
	}
}
