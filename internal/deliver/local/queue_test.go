package local

import (
	"context"
	"testing"
	"time"

	"facteur/internal/envelope"
	"facteur/internal/queue"
)

// TestThroughQueue delivers a message that the real queue hands over, so
// that Deliver reads an actual *queue.Message.
func TestThroughQueue(t *testing.T) {
	st, dir := openStore(t, "bob")
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
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
	d := newDeliverer(st, nil, Options{})
	ran := make(chan error, 1)
	go func() { ran <- q.Run(ctx, map[string]queue.Transport{envelope.TransportLocal: d}) }()
	for i := 0; ; i++ {
		if n, _ := st.Count(ctx, "bob", "INBOX"); n == 1 {
			break
		}
		if i == 500 {
			t.Fatal("the queued message never reached bob's INBOX")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-ran
	prefixes, _, content := stored(t, dir)
	if len(prefixes) != 1 || prefixes[0] != "Return-Path: <alice@example.com>\r\nDelivered-To: bob@example.org\r\n" || content != testMessage {
		t.Errorf("stored %q + %q", prefixes, content)
	}
}
