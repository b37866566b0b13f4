package local

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"facteur/internal/envelope"
	"facteur/internal/queue"
)

// TestRedeliverySkipped delivers a queued message again, as the queue does
// after a crash between the store commit and its own record of the
// delivery: the mailboxes keep one copy and both attempts report success.
func TestRedeliverySkipped(t *testing.T) {
	for _, tt := range []struct {
		name    string
		wrap    func(fileContent) content
		otherID string // the second delivery's queue ID
		want    int    // messages per account afterwards
	}{
		{"linked, same queue message", func(f fileContent) content { return f }, "4A5B6C7D8E", 1},
		{"copied, same queue message", func(f fileContent) content { return openOnly{f} }, "4A5B6C7D8E", 1},
		{"another queue message", func(f fileContent) content { return f }, "4A5B6C7D8F", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, dir := openStore(t, "alice", "bob")
			d := newDeliverer(st, nil, Options{})
			msg := newMessage(t, "", testMessage)
			msg.content = tt.wrap(msg.content.(fileContent))
			rcpts := []*envelope.Recipient{
				rcpt("alice@example.org", "alice", "alice@example.org"),
				rcpt("bob@example.org", "bob", "bob@example.org"),
			}
			ok := queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "delivered to mailbox", Relay: "local"}
			for i, id := range []string{msg.env.ID, tt.otherID} {
				env := *msg.env
				env.ID = id
				got := d.deliver(context.Background(), message{env: &env, content: msg.content}, rcpts)
				if diff := cmp.Diff([]queue.Result{ok, ok}, got); diff != "" {
					t.Fatalf("delivery %d results (-want +got):\n%s", i, diff)
				}
			}
			for _, acct := range []string{"alice", "bob"} {
				if n := len(stored(t, st, acct)); n != tt.want {
					t.Errorf("%s's INBOX holds %d messages, want %d", acct, n, tt.want)
				}
			}
			if n := blobCount(t, dir); n != tt.want {
				t.Errorf("%d content files, want %d (a skipped delivery leaves none)", n, tt.want)
			}
		})
	}
}

// TestThroughQueueTwice makes the transport the real queue calls hand the
// same *queue.Message to Deliver twice.
func TestThroughQueueTwice(t *testing.T) {
	st, _ := openStore(t, "bob")
	q, ctx, cancel := queueWithMessage(t)
	tr := twice{newDeliverer(st, nil, Options{}), make(chan [2][]queue.Result, 1)}
	ran := make(chan error, 1)
	go func() { ran <- q.Run(ctx, map[string]queue.Transport{envelope.TransportLocal: tr}) }()
	var got [2][]queue.Result
	select {
	case got = <-tr.results:
	case <-time.After(10 * time.Second):
		t.Fatal("the queue never delivered the message")
	}
	cancel()
	<-ran
	for i, res := range got {
		if len(res) != 1 || res[0].Status != queue.Delivered {
			t.Errorf("Deliver call %d: %+v, want delivered", i, res)
		}
	}
	want := []string{"Return-Path: <alice@example.com>\r\nDelivered-To: bob@example.org\r\n" + testMessage}
	if diff := cmp.Diff(want, stored(t, st, "bob")); diff != "" {
		t.Errorf("bob's INBOX (-want +got):\n%s", diff)
	}
}

// twice is the Deliverer delivering every message two times over.
type twice struct {
	*Deliverer
	results chan [2][]queue.Result
}

func (tw twice) Deliver(ctx context.Context, msg *queue.Message, rcpts []*envelope.Recipient) []queue.Result {
	first := tw.Deliverer.Deliver(ctx, msg, rcpts)
	second := tw.Deliverer.Deliver(ctx, msg, rcpts)
	select {
	case tw.results <- [2][]queue.Result{first, second}:
	default:
	}
	return second
}
