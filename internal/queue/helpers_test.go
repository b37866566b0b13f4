package queue

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"facteur/internal/envelope"
	"facteur/internal/maillog"
)

// clock is a fake clock that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logRecorder keeps the mail log lines.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	service := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "service" {
			service = a.Value.String()
		}
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, service+": "+r.Message)
	l.mu.Unlock()
	return nil
}

// find returns the lines containing every one of parts.
func (l *logRecorder) find(parts ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
next:
	for _, line := range l.lines {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		out = append(out, line)
	}
	return out
}

// fakeTransport answers with the result set per address (Delivered by
// default) and counts the attempts per address.
type fakeTransport struct {
	mu      sync.Mutex
	results map[string]Result
	calls   map[string]int
	content map[string]string // address → content read
}

func newTransport(results map[string]Result) *fakeTransport {
	if results == nil {
		results = map[string]Result{}
	}
	return &fakeTransport{results: results, calls: map[string]int{}, content: map[string]string{}}
}

func (t *fakeTransport) Deliver(ctx context.Context, msg *Message, rcpts []*envelope.Recipient) []Result {
	var body []byte
	rc, err := msg.Open()
	if err == nil {
		body, err = io.ReadAll(rc)
		rc.Close()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Result, len(rcpts))
	for i, r := range rcpts {
		t.calls[r.Addr]++
		t.content[r.Addr] = string(body)
		res, ok := t.results[r.Addr]
		if !ok {
			res = Result{Status: Delivered, DSN: "2.0.0", Text: "delivered to mailbox", Relay: "local"}
		}
		if err != nil {
			res = Result{Status: Deferred, DSN: "4.3.0", Text: err.Error(), Relay: "local"}
		}
		out[i] = res
	}
	return out
}

func (t *fakeTransport) set(addr string, r Result) {
	t.mu.Lock()
	t.results[addr] = r
	t.mu.Unlock()
}

func (t *fakeTransport) count(addr string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls[addr]
}

type testQueue struct {
	*Queue
	dir   string
	clock *clock
	log   *logRecorder
}

// openTest opens a queue in dir (a new temporary one when "") with a fake
// clock and a recorded mail log; it is closed at the end of the test.
func openTest(t testing.TB, dir string, opt Options) *testQueue {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	tq := &testQueue{dir: dir, clock: newClock(), log: &logRecorder{}}
	if opt.Now == nil {
		opt.Now = tq.clock.Now
	}
	opt.Log = maillog.New(slog.New(tq.log))
	q, err := Open(dir, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	tq.Queue = q
	return tq
}

func rcpt(addr, transport string) *envelope.Recipient {
	return &envelope.Recipient{Addr: addr, Transport: transport, Dest: addr}
}

// enqueue commits a message from sender to rcpts with content body.
func enqueue(t testing.TB, q *Queue, sender, body string, rcpts ...*envelope.Recipient) string {
	t.Helper()
	env := &envelope.Envelope{Sender: sender, Recipients: rcpts, Body: "7BIT"}
	f, err := q.Create(context.Background(), env)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer f.Abort()
	if _, err := f.Write([]byte(body)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := f.Commit(context.Background()); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return f.ID()
}

func mustGet(t testing.TB, q *Queue, id string) *envelope.Envelope {
	t.Helper()
	env, err := q.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return env
}

// states returns each recipient's state by address.
func states(env *envelope.Envelope) map[string]envelope.State {
	m := map[string]envelope.State{}
	for _, r := range env.Recipients {
		m[r.Addr] = r.State
	}
	return m
}

// waitFor polls cond until it holds; it is a wait, not a timing assertion:
// the limit only keeps a broken test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// process makes a delivery pass as the manager does, then commits what it
// left to settle, so that the test reads its results from the database.
func (tq *testQueue) process(ctx context.Context, id string, transports map[string]Transport) {
	tq.Queue.process(ctx, id, transports)
	_ = tq.flush() // ErrClosed when the test closed the queue meanwhile
}

// processFresh is process for a message taken from the hand-off.
func (tq *testQueue) processFresh(ctx context.Context, env *envelope.Envelope, transports map[string]Transport) {
	tq.Queue.processFresh(ctx, env, transports)
	_ = tq.flush()
}
