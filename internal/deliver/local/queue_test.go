package local

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"facteur/internal/envelope"
	"facteur/internal/queue"
)

// TestThroughQueue delivers a message that the real queue hands over, so
// that Deliver reads an actual *queue.Message.
func TestThroughQueue(t *testing.T) {
	st, _ := openStore(t, "bob")
	q, ctx, cancel := queueWithMessage(t)
	d := recordPath{newDeliverer(st, nil, Options{}), make(chan string, 1)}
	ran := make(chan error, 1)
	go func() { ran <- q.Run(ctx, map[string]queue.Transport{envelope.TransportLocal: d}) }()
	path := <-d.paths
	// Delivered, then forgotten: the queue removes its own name of the
	// content, which the mailbox linked.
	for i := 0; ; i++ {
		n, _ := st.Count(ctx, "bob", "INBOX")
		if _, err := os.Stat(path); n == 1 && errors.Is(err, fs.ErrNotExist) {
			break
		}
		if i == 500 {
			t.Fatal("the queued message never reached bob's INBOX, or the queue kept its file")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-ran
	want := []string{"Return-Path: <alice@example.com>\r\nDelivered-To: bob@example.org\r\n" + testMessage}
	if diff := cmp.Diff(want, stored(t, st, "bob")); diff != "" {
		t.Errorf("bob's INBOX (-want +got):\n%s", diff)
	}
}

// recordPath is the Deliverer, telling the test which queue file it had.
type recordPath struct {
	*Deliverer
	paths chan string
}

func (r recordPath) Deliver(ctx context.Context, msg *queue.Message, rcpts []*envelope.Recipient) []queue.Result {
	select {
	case r.paths <- msg.Path():
	default:
	}
	return r.Deliverer.Deliver(ctx, msg, rcpts)
}

// queueWithMessage opens a real queue holding one committed message from
// alice to bob, and a context whose cancel stops the queue's Run; both
// end with the test.
func queueWithMessage(t *testing.T) (*queue.Queue, context.Context, context.CancelFunc) {
	t.Helper()
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	env := &envelope.Envelope{Sender: "alice@example.com", Arrival: time.Now(),
		Recipients: []*envelope.Recipient{rcpt("bob@example.org", "bob", "bob@example.org")}}
	env.Recipients[0].State = envelope.Pending
	f, err := q.Create(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(testMessage)); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return q, ctx, cancel
}
