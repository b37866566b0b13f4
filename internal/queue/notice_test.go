package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"facteur/internal/dsn"
	"facteur/internal/envelope"
)

func notifyRcpt(addr string, n dsn.Notify) *envelope.Recipient {
	r := rcpt(addr, "local")
	r.Notify = n
	return r
}

func TestNotices(t *testing.T) {
	relayed := Result{Status: Delivered, DSN: "2.0.0", Text: "250 ok", Relay: "mx[192.0.2.1]:25", Reply: "250 ok", Relayed: true}
	passedOn := Result{Status: Delivered, DSN: "2.0.0", Text: "250 ok", Relay: "mx[192.0.2.1]:25", Reply: "250 ok"}
	results := map[string]Result{"perm@x": permResult, "relay@x": relayed, "dsn@x": passedOn}
	tests := []struct {
		name  string
		rcpts []*envelope.Recipient
		want  [][]string // notifier calls; nil: none, and the message is gone
	}{
		{"all delivered, no NOTIFY", []*envelope.Recipient{rcpt("ok@x", "local")}, nil},
		{"failure by default", []*envelope.Recipient{rcpt("ok@x", "local"), rcpt("perm@x", "local")},
			[][]string{{"perm@x 5.1.1 user unknown"}}},
		{"NOTIFY=NEVER", []*envelope.Recipient{notifyRcpt("perm@x", dsn.NotifyNever)}, nil},
		{"NOTIFY=DELAY has no failure notice", []*envelope.Recipient{notifyRcpt("perm@x", dsn.NotifyDelay)}, nil},
		{"success delivered here", []*envelope.Recipient{notifyRcpt("ok@x", dsn.NotifySuccess)},
			[][]string{{"ok@x 2.0.0 delivered to mailbox delivered"}}},
		{"success relayed", []*envelope.Recipient{notifyRcpt("relay@x", dsn.NotifySuccess)},
			[][]string{{"relay@x 2.0.0 250 ok relayed"}}},
		{"success passed on to the next hop", []*envelope.Recipient{notifyRcpt("dsn@x", dsn.NotifySuccess)}, nil},
		{"one notice for all", []*envelope.Recipient{notifyRcpt("ok@x", dsn.NotifySuccess|dsn.NotifyFailure),
			rcpt("perm@x", "local"), notifyRcpt("perm2@x", dsn.NotifyFailure)},
			[][]string{{"ok@x 2.0.0 delivered to mailbox delivered", "perm@x 5.1.1 user unknown", "perm2@x 5.1.1 user unknown"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &fakeNotifier{}
			q := openTest(t, "", Options{Notifier: n})
			res := map[string]Result{"perm2@x": permResult}
			for k, v := range results {
				res[k] = v
			}
			id := enqueue(t, q.Queue, "s@x", "body", tt.rcpts...)
			q.process(context.Background(), id, map[string]Transport{"local": newTransport(res)})
			if diff := cmp.Diff(tt.want, n.calls); diff != "" {
				t.Errorf("notices (-want +got):\n%s", diff)
			}
			if _, err := q.Get(context.Background(), id); !errors.Is(err, ErrNotFound) {
				t.Errorf("message still queued after its notice: %v", err)
			}
		})
	}
}

func TestDelayNotice(t *testing.T) {
	n := &fakeNotifier{}
	q := openTest(t, "", Options{Notifier: n, DelayWarning: time.Hour, MinBackoff: time.Minute, MaxBackoff: time.Minute})
	tr := newTransport(map[string]Result{"temp@x": tempResult})
	ts := map[string]Transport{"local": tr}
	id := enqueue(t, q.Queue, "s@x", "body", rcpt("temp@x", "local"), notifyRcpt("quiet@x", dsn.NotifyFailure))
	tr.set("quiet@x", tempResult)
	q.process(context.Background(), id, ts)
	if len(n.calls) != 0 {
		t.Fatalf("delay notice before delay_warning_time: %v", n.calls)
	}
	for range 3 {
		q.clock.Advance(40 * time.Minute)
		q.process(context.Background(), id, ts)
	}
	want := [][]string{{"delay:", "temp@x 4.2.2 mailbox full"}}
	if diff := cmp.Diff(want, n.calls); diff != "" {
		t.Errorf("delay notices (-want +got):\n%s", diff)
	}
	if !mustGet(t, q.Queue, id).DelayWarned {
		t.Error("the delay notice is not recorded")
	}

	t.Run("none for null-sender mail", func(t *testing.T) {
		n := &fakeNotifier{}
		q := openTest(t, "", Options{Notifier: n, DelayWarning: time.Hour})
		id := enqueue(t, q.Queue, "", "body", rcpt("temp@x", "local"))
		q.clock.Advance(2 * time.Hour)
		q.process(context.Background(), id, ts)
		if len(n.calls) != 0 {
			t.Errorf("delay notice for a bounce: %v", n.calls)
		}
	})
}

// postponer postpones its first n deliveries, then delivers.
type postponer struct {
	*fakeTransport
	n chan struct{}
}

func (p *postponer) Deliver(ctx context.Context, msg *Message, rcpts []*envelope.Recipient) []Result {
	select {
	case <-p.n:
		out := make([]Result, len(rcpts))
		for i := range out {
			out[i] = Result{Status: Postponed}
		}
		return out
	default:
		return p.fakeTransport.Deliver(ctx, msg, rcpts)
	}
}

func TestPostponedIsRetriedWithoutAnAttempt(t *testing.T) {
	q := openTest(t, "", Options{Now: time.Now})
	p := &postponer{fakeTransport: newTransport(nil), n: make(chan struct{}, 3)}
	for range 3 {
		p.n <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx, map[string]Transport{"local": p}) }()
	id := enqueue(t, q.Queue, "s@x", "body", rcpt("a@x", "local"))
	waitFor(t, "delivery after postponements", func() bool { return p.count("a@x") == 1 })
	cancel()
	<-done
	if len(p.n) != 0 {
		t.Errorf("%d postponements left", len(p.n))
	}
	if err := q.flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Get(context.Background(), id); !errors.Is(err, ErrNotFound) {
		t.Errorf("delivered message still queued: %v", err)
	}
	if got := q.log.find("deferred"); len(got) != 0 {
		t.Errorf("postponements logged as deferrals: %v", got)
	}
}

func TestOperatorCommands(t *testing.T) {
	ctx := context.Background()
	q := openTest(t, "", Options{MinBackoff: time.Hour, MaxBackoff: time.Hour})
	tr := newTransport(map[string]Result{"temp@x": tempResult})
	ts := map[string]Transport{"local": tr}
	a := enqueue(t, q.Queue, "s@x", "a", rcpt("temp@x", "local"))
	b := enqueue(t, q.Queue, "s@x", "b", rcpt("temp@x", "local"))
	q.process(ctx, a, ts)
	q.process(ctx, b, ts)
	due := func() []string {
		ids, err := dueIDs(ctx, q.db, q.clock.Now(), "", 100)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := due(); len(got) != 0 {
		t.Fatalf("due before flush: %v", got)
	}

	if n, err := q.Hold(ctx, a); n != 1 || err != nil {
		t.Fatalf("Hold = %d, %v", n, err)
	}
	if n, err := q.Flush(ctx, ""); n != 1 || err != nil { // a is on hold
		t.Fatalf("Flush = %d, %v", n, err)
	}
	if diff := cmp.Diff([]string{b}, due()); diff != "" {
		t.Errorf("due after flush, a held (-want +got):\n%s", diff)
	}
	if !mustGet(t, q.Queue, a).Held {
		t.Error("a not shown on hold")
	}
	if n, err := q.Release(ctx, All); n != 2 || err != nil {
		t.Fatalf("Release ALL = %d, %v", n, err)
	}
	if n, err := q.Requeue(ctx, a); n != 1 || err != nil {
		t.Fatalf("Requeue = %d, %v", n, err)
	}
	if r := mustGet(t, q.Queue, a).Recipients[0]; r.Attempts != 0 || !r.NextTry.IsZero() {
		t.Errorf("requeued recipient %+v", r)
	}
	if n, err := q.Delete(ctx, b); n != 1 || err != nil {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	if _, err := os.Stat(q.contentPath(b)); !os.IsNotExist(err) {
		t.Errorf("content of a deleted message: %v", err)
	}
	for name, op := range map[string]func(context.Context, string) (int, error){
		"Delete": q.Delete, "Hold": q.Hold, "Flush": q.Flush} {
		if _, err := op(ctx, b); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s of a gone message: %v", name, err)
		}
		if _, err := op(ctx, "../x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s of a bad ID: %v", name, err)
		}
	}
	if n, err := q.Delete(ctx, All); n != 1 || err != nil {
		t.Fatalf("Delete ALL = %d, %v", n, err)
	}
	if envs, err := q.List(ctx); err != nil || len(envs) != 0 {
		t.Errorf("after Delete ALL: %d messages, %v", len(envs), err)
	}
}

// orderTransport records the order of deliveries, each taking a moment,
// as a remote next hop does.
type orderTransport struct {
	mu    sync.Mutex
	order []string
}

func (o *orderTransport) Deliver(ctx context.Context, msg *Message, rcpts []*envelope.Recipient) []Result {
	time.Sleep(time.Millisecond)
	o.mu.Lock()
	o.order = append(o.order, rcpts[0].Addr)
	o.mu.Unlock()
	out := make([]Result, len(rcpts))
	for i := range out {
		out[i] = okResult
	}
	return out
}

func (o *orderTransport) delivered() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.order)
}

func (o *orderTransport) position(addr string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, a := range o.order {
		if a == addr {
			return i
		}
	}
	return -1
}

// A queue run over a long deferred backlog does not hold back new mail:
// new mail takes every other free slot (the deferred queue is paged, the
// new mail handed over at once).
func TestBacklogDoesNotStallNewMail(t *testing.T) {
	const backlog = 400
	dir := t.TempDir()
	q0 := openTest(t, dir, Options{})
	for i := range backlog {
		enqueue(t, q0.Queue, "s@x", "old", rcpt(fmt.Sprintf("old%d@x", i), "local"))
	}
	q0.Close()
	q := openTest(t, dir, Options{Now: time.Now, Concurrency: 2, scanLimit: 50})
	tr := &orderTransport{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx, map[string]Transport{"local": tr}) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the backlog run to start", func() bool { return tr.delivered() > 0 })
	enqueue(t, q.Queue, "s@x", "new", rcpt("new@x", "local"))
	waitFor(t, "the new message", func() bool { return tr.position("new@x") >= 0 })
	if pos := tr.position("new@x"); pos > backlog/4 {
		t.Errorf("new mail delivered after %d of %d backlog messages", pos, backlog)
	}
}
