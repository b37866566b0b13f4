package smtp

import (
	"strings"
	"sync"
	"testing"
	"time"

	"facteur/internal/queue"
)

func TestConnectionReuse(t *testing.T) {
	checkGoroutines(t)
	s := newSink(t, sinkConfig{})
	opt := testOptions(mxFake(s), port(s))
	opt.ConnCacheTime = time.Minute
	c := newClient(t, opt)
	for i := 0; i < 3; i++ {
		got := deliver(t, c, testMessage(testBody), rcpts("bob@example.org"))
		wantResult(t, 0, got[0], queue.Delivered, "2.0.0", "queued as", "")
	}
	if n := len(s.connections()); n != 1 {
		t.Errorf("%d connections for three messages, want 1", n)
	}
	if n := len(s.messages()); n != 3 {
		t.Errorf("%d messages, want 3", n)
	}
	c.Close()
	cmds := s.connections()[0].cmds
	if last := cmds[len(cmds)-1]; last != "QUIT" {
		t.Errorf("last command %q, want QUIT at Close", last)
	}
}

func TestCachedConnectionResetAfterFailure(t *testing.T) {
	checkGoroutines(t)
	s := newSink(t, sinkConfig{on: func(_ *sinkConn, line string) string {
		if strings.Contains(line, "<nobody@") {
			return "550 5.1.1 no such user"
		}
		return ""
	}})
	opt := testOptions(mxFake(s), port(s))
	opt.ConnCacheTime = time.Minute
	c := newClient(t, opt)
	got := deliver(t, c, testMessage(testBody), rcpts("nobody@example.org"))
	wantResult(t, 0, got[0], queue.Bounced, "5.1.1", "no such user", "")
	got = deliver(t, c, testMessage(testBody), rcpts("bob@example.org"))
	wantResult(t, 0, got[0], queue.Delivered, "2.0.0", "queued as", "")
	conns := s.connections()
	if len(conns) != 1 {
		t.Fatalf("%d connections, want 1", len(conns))
	}
	// The transaction left open by the refusal is reset before the next.
	var verbs []string
	for _, cmd := range conns[0].cmds {
		verb, _, _ := strings.Cut(cmd, " ")
		verbs = append(verbs, verb)
	}
	want := "EHLO MAIL RCPT DATA RSET MAIL RCPT DATA"
	if got := strings.Join(verbs, " "); got != want {
		t.Errorf("verbs %q, want %q", got, want)
	}
}

func TestStaleCachedConnection(t *testing.T) {
	checkGoroutines(t)
	var mu sync.Mutex
	seen := 0
	s := newSink(t, sinkConfig{on: func(_ *sinkConn, line string) string {
		if !strings.HasPrefix(line, "MAIL") {
			return ""
		}
		mu.Lock()
		defer mu.Unlock()
		seen++
		if seen == 2 {
			return "421 4.4.2 idle too long" // the cached connection's next MAIL
		}
		return ""
	}})
	opt := testOptions(mxFake(s), port(s))
	opt.ConnCacheTime = time.Minute
	c := newClient(t, opt)
	for i := 0; i < 2; i++ {
		got := deliver(t, c, testMessage(testBody), rcpts("bob@example.org"))
		wantResult(t, 0, got[0], queue.Delivered, "2.0.0", "queued as", "")
	}
	if n := len(s.connections()); n != 2 {
		t.Errorf("%d connections, want 2: the stale one, and a new one", n)
	}
	if n := len(s.messages()); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}

func TestIdleConnectionClosed(t *testing.T) {
	checkGoroutines(t)
	s := newSink(t, sinkConfig{})
	opt := testOptions(mxFake(s), port(s))
	opt.ConnCacheTime = 50 * time.Millisecond
	c := newClient(t, opt)
	got := deliver(t, c, testMessage(testBody), rcpts("bob@example.org"))
	wantResult(t, 0, got[0], queue.Delivered, "2.0.0", "queued as", "")
	waitFor(t, "QUIT on the idle connection", func() bool {
		conn := s.connections()[0]
		conn.mu.Lock()
		defer conn.mu.Unlock()
		return conn.cmds[len(conn.cmds)-1] == "QUIT"
	})
	c.mu.Lock()
	n := len(c.dests)
	c.mu.Unlock()
	if n != 0 {
		t.Errorf("%d destinations kept with nothing in them", n)
	}
}

func TestDestinationConcurrency(t *testing.T) {
	checkGoroutines(t)
	entered := make(chan struct{}, 10)
	release := make(chan struct{})
	s := newSink(t, sinkConfig{on: func(_ *sinkConn, line string) string {
		if strings.HasPrefix(line, "MAIL") {
			entered <- struct{}{}
			<-release
		}
		return ""
	}})
	opt := testOptions(mxFake(s), port(s))
	opt.DestinationConcurrency = 2
	c := newClient(t, opt)
	results := make(chan queue.Result, 4)
	start := func() {
		go func() { results <- deliver(t, c, testMessage(testBody), rcpts("bob@example.org"))[0] }()
	}
	start()
	start()
	<-entered
	<-entered
	start()
	start()
	waitFor(t, "two callers waiting for a slot", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.dests["example.org"].waiters) == 2
	})
	got := deliver(t, c, testMessage(testBody), rcpts("bob@example.org"))
	if got[0].Status != queue.Postponed || got[0].Relay != "none" {
		t.Errorf("fifth caller: %+v, want postponed", got[0])
	}
	close(release)
	for i := 0; i < 4; i++ {
		r := <-results
		wantResult(t, i, r, queue.Delivered, "2.0.0", "queued as", "")
	}
	if n := s.maxConcurrent(); n != 2 {
		t.Errorf("at most %d sessions at once, want 2", n)
	}
	if n := len(s.messages()); n != 4 {
		t.Errorf("%d messages, want 4", n)
	}
}

func TestDeadDestination(t *testing.T) {
	checkGoroutines(t)
	s := newSink(t, sinkConfig{greeting: "421 4.3.2 not now"})
	f := mxFake(s)
	opt := testOptions(f, port(s))
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	opt.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	opt.Cooldown = 5 * time.Minute
	c := newClient(t, opt)
	got := deliver(t, c, testMessage(testBody), rcpts("a@example.org"))
	wantResult(t, 0, got[0], queue.Deferred, "4.3.2", "host mx1.example.org[127.0.0.1] refused to talk to me: 421 4.3.2 not now", "")
	queries := len(f.Queries())
	got = deliver(t, c, testMessage(testBody), rcpts("b@example.org", "c@example.org"))
	for i, r := range got {
		wantResult(t, i, r, queue.Deferred, "4.3.2",
			"delivery temporarily suspended: host mx1.example.org[127.0.0.1] refused to talk to me: 421 4.3.2 not now", "none")
	}
	if n := len(s.connections()); n != 1 {
		t.Errorf("%d connections, want 1: a dead destination is not tried", n)
	}
	if n := len(f.Queries()); n != queries {
		t.Errorf("%d DNS queries for a dead destination", n-queries)
	}
	// Other destinations are not affected.
	got = deliver(t, c, testMessage(testBody), rcpts("x@other.example"))
	wantResult(t, 0, got[0], queue.Bounced, "5.1.2", "Host or domain name not found", "none")
	// After the cool-down, it is tried again.
	mu.Lock()
	now = now.Add(opt.Cooldown)
	mu.Unlock()
	deliver(t, c, testMessage(testBody), rcpts("a@example.org"))
	if n := len(s.connections()); n != 2 {
		t.Errorf("%d connections, want 2 after the cool-down", n)
	}
	// Dead again, until an operator's flush makes it forget.
	deliver(t, c, testMessage(testBody), rcpts("a@example.org"))
	if n := len(s.connections()); n != 2 {
		t.Errorf("%d connections, want 2: dead again", n)
	}
	c.ForgetFailures()
	deliver(t, c, testMessage(testBody), rcpts("a@example.org"))
	if n := len(s.connections()); n != 3 {
		t.Errorf("%d connections, want 3 after ForgetFailures", n)
	}
}

func TestDeadDestinationWakesWaiters(t *testing.T) {
	checkGoroutines(t)
	s := newSink(t, sinkConfig{greeting: sinkHang})
	opt := testOptions(mxFake(s), port(s))
	opt.DestinationConcurrency = 1
	c := newClient(t, opt)
	// The first delivery holds the only slot, waiting for a greeting; the
	// second waits for the slot.
	first := make(chan queue.Result, 1)
	go func() { first <- deliver(t, c, testMessage(testBody), rcpts("a@example.org"))[0] }()
	waitFor(t, "the first connection", func() bool { return len(s.connections()) == 1 })
	second := make(chan queue.Result, 1)
	go func() { second <- deliver(t, c, testMessage(testBody), rcpts("b@example.org"))[0] }()
	waitFor(t, "the second delivery to wait", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.dests["example.org"].waiters) == 1
	})
	// The first session loses its connection: the destination is dead,
	// and the waiter is deferred without connecting.
	s.close()
	r1, r2 := <-first, <-second
	wantResult(t, 0, r1, queue.Deferred, "4.4.2",
		"lost connection with mx1.example.org[127.0.0.1] while receiving the initial server greeting", "")
	wantResult(t, 1, r2, queue.Deferred, "4.4.2",
		"delivery temporarily suspended: lost connection with mx1.example.org[127.0.0.1]", "none")
	if n := len(s.connections()); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// waitFor polls cond for a bounded time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i == 1000 {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
