package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"facteur/internal/envelope"
)

// runQueue runs q's manager with transports until the test ends.
func runQueue(t *testing.T, q *Queue, transports map[string]Transport) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx, transports) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestHandoffAndScansDeliverOnce(t *testing.T) {
	const handoffCap = 8
	tests := []struct {
		name    string
		before  int // committed before Run: the hand-off holds handoffCap, scans find the rest
		running int // committed while Run scans every few milliseconds
	}{
		{"committed while scanning", 0, 60},
		{"hand-off overflowed before start", handoffCap + 12, 0},
		{"both", handoffCap + 4, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := openTest(t, "", Options{RunDelay: 5 * time.Millisecond, Concurrency: 3})
			q.fresh = newHandoff(handoffCap)
			tr := newTransport(nil)
			enqueueN := func(n int, prefix string) {
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() { enqueue(t, q.Queue, "s@x", "body", rcpt(fmt.Sprintf("%s%d@x", prefix, i), "local")) })
				}
				wg.Wait()
			}
			enqueueN(tt.before, "early")
			runQueue(t, q.Queue, map[string]Transport{"local": tr})
			enqueueN(tt.running, "late")
			waitFor(t, "every message removed", func() bool {
				return len(q.log.find(": removed")) == tt.before+tt.running
			})
			tr.mu.Lock()
			defer tr.mu.Unlock()
			if len(tr.calls) != tt.before+tt.running {
				t.Errorf("%d recipients delivered, want %d", len(tr.calls), tt.before+tt.running)
			}
			for addr, n := range tr.calls {
				if n != 1 {
					t.Errorf("%s delivered %d times", addr, n)
				}
			}
		})
	}
}

func TestScanSkipsHandedOffMessages(t *testing.T) {
	q := openTest(t, "", Options{})
	id := enqueue(t, q.Queue, "s@x", "body", rcpt("r@x", "local"))
	s := newScheduler(q.Queue, nil)
	s.scan(context.Background())
	if len(s.backlog) != 0 {
		t.Errorf("scan took %v while the hand-off holds it", s.backlog)
	}
	env, ok := q.fresh.take()
	if !ok || env.ID != id {
		t.Fatalf("hand-off gave %v, %v; want %s", env, ok, id)
	}
	if got := mustGet(t, q.Queue, id); got.Arrival != env.Arrival || got.Recipients[0].State != env.Recipients[0].State {
		t.Errorf("handed-off envelope %+v differs from the stored one %+v", env, got)
	}
	s.scan(context.Background())
	if len(s.backlog) != 1 || s.backlog[0] != id {
		t.Errorf("scan after the hand-off let go: %v, want [%s]", s.backlog, id)
	}
}

// closingTransport delivers, then closes the queue before the results can
// be committed: a crash between delivery and removal.
type closingTransport struct {
	q     *Queue
	calls int
}

func (c *closingTransport) Deliver(_ context.Context, _ *Message, rcpts []*envelope.Recipient) []Result {
	c.calls++
	c.q.Close()
	out := make([]Result, len(rcpts))
	for i := range out {
		out[i] = okResult
	}
	return out
}

func TestCrashBeforeRemovalRedelivers(t *testing.T) {
	dir := t.TempDir()
	q := openTest(t, dir, Options{})
	id := enqueue(t, q.Queue, "s@x", "body", rcpt("a@x", "local"), rcpt("b@x", "local"))
	env, ok := q.fresh.take()
	if !ok {
		t.Fatal("nothing in the hand-off")
	}
	crash := &closingTransport{q: q.Queue}
	q.processFresh(context.Background(), env, map[string]Transport{"local": crash})
	if len(q.log.find(id+": removed")) != 0 {
		t.Fatalf("removal logged though it could not commit: %q", q.log.lines)
	}

	q2 := openTest(t, dir, Options{})
	for _, r := range mustGet(t, q2.Queue, id).Recipients {
		if r.State != envelope.Pending || r.Attempts != 0 {
			t.Errorf("after the crash %s is %s with %d attempts, want pending with 0", r.Addr, r.State, r.Attempts)
		}
	}
	tr := newTransport(nil)
	runQueue(t, q2.Queue, map[string]Transport{"local": tr})
	waitFor(t, "redelivered and removed", func() bool { return len(q2.log.find(id+": removed")) == 1 })
	if crash.calls != 1 || tr.count("a@x") != 1 || tr.count("b@x") != 1 {
		t.Errorf("deliveries: %d before the crash, a %d and b %d after", crash.calls, tr.count("a@x"), tr.count("b@x"))
	}
	if _, err := os.Stat(q2.contentPath(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("content file left: %v", err)
	}
}

func TestContentLostBeforeFirstPass(t *testing.T) {
	q := openTest(t, "", Options{MinBackoff: time.Minute})
	id := enqueue(t, q.Queue, "s@x", "body", rcpt("r@x", "local"))
	if err := os.Remove(q.contentPath(id)); err != nil {
		t.Fatal(err)
	}
	env, _ := q.fresh.take()
	tr := newTransport(nil)
	ts := map[string]Transport{"local": tr}
	q.processFresh(context.Background(), env, ts)
	if r := mustGet(t, q.Queue, id).Recipients[0]; r.State != envelope.Deferred {
		t.Fatalf("first pass without content: %s (%s), want deferred", r.State, r.LastReply)
	}
	q.clock.Advance(time.Minute)
	q.process(context.Background(), id, ts)
	if len(q.log.find(id+": corrupt queue entry moved to corrupt/")) != 1 {
		t.Errorf("retry did not move the entry aside: %q", q.log.lines)
	}
	if _, err := q.Get(context.Background(), id); err != nil {
		t.Errorf("Get of the corrupt entry: %v", err)
	}
	if envs, _ := q.List(context.Background()); len(envs) != 0 {
		t.Errorf("corrupt entry listed: %v", envs)
	}
	if _, err := os.Stat(filepath.Join(q.dir, "corrupt")); err != nil {
		t.Error(err)
	}
	if tr.count("r@x") != 1 {
		t.Errorf("%d attempts, want the one of the first pass", tr.count("r@x"))
	}
}

func TestOverflowedHandoffDeliversWithoutPeriodicScan(t *testing.T) {
	// A RunDelay of an hour: only the hand-off and its misses start these.
	q := openTest(t, "", Options{RunDelay: time.Hour, Concurrency: 2})
	q.fresh = newHandoff(2)
	tr := newTransport(nil)
	runQueue(t, q.Queue, map[string]Transport{"local": tr})
	const n = 30
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { enqueue(t, q.Queue, "s@x", "body", rcpt(fmt.Sprintf("r%d@x", i), "local")) })
	}
	wg.Wait()
	waitFor(t, "every message removed", func() bool { return len(q.log.find(": removed")) == n })
	for i := range n {
		if c := tr.count(fmt.Sprintf("r%d@x", i)); c != 1 {
			t.Errorf("r%d@x delivered %d times", i, c)
		}
	}
}
