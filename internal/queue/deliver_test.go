package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"facteur/internal/dsn"
	"facteur/internal/envelope"
)

var (
	okResult   = Result{Status: Delivered, DSN: "2.0.0", Text: "delivered to mailbox", Relay: "local"}
	tempResult = Result{Status: Deferred, DSN: "4.2.2", Text: "mailbox full", Relay: "local"}
	permResult = Result{Status: Bounced, DSN: "5.1.1", Text: "user unknown", Relay: "local"}
)

func TestMixedResultsPerRecipient(t *testing.T) {
	q := openTest(t, "", Options{MinBackoff: time.Minute, MaxBackoff: time.Hour})
	tr := newTransport(map[string]Result{"temp@x": tempResult, "perm@x": permResult})
	id := enqueue(t, q.Queue, "s@x", "body", rcpt("ok@x", "local"), rcpt("temp@x", "local"), rcpt("perm@x", "local"))

	q.process(context.Background(), id, map[string]Transport{"local": tr})

	env := mustGet(t, q.Queue, id)
	type got struct {
		State     envelope.State
		LastReply string
		Attempts  int
		NextTry   time.Time
	}
	var gots []got
	for _, r := range env.Recipients {
		gots = append(gots, got{r.State, r.LastReply, r.Attempts, r.NextTry})
	}
	now := q.clock.Now()
	want := []got{
		{envelope.Delivered, "2.0.0 delivered to mailbox", 1, time.Time{}},
		{envelope.Deferred, "4.2.2 mailbox full", 1, now.Add(time.Minute)},
		{envelope.Bounced, "5.1.1 user unknown", 1, time.Time{}},
	}
	if diff := cmp.Diff(want, gots); diff != "" {
		t.Errorf("recipients (-want +got):\n%s", diff)
	}
	for _, line := range []string{
		"local: " + id + ": to=<ok@x>, relay=local, delay=0.00, dsn=2.0.0, status=sent (delivered to mailbox)",
		"local: " + id + ": to=<temp@x>, relay=local, delay=0.00, dsn=4.2.2, status=deferred (mailbox full)",
		"local: " + id + ": to=<perm@x>, relay=local, delay=0.00, dsn=5.1.1, status=bounced (user unknown)",
	} {
		if len(q.log.find(line)) != 1 {
			t.Errorf("no log line %q in %q", line, q.log.lines)
		}
	}
	if tr.content["ok@x"] != "body" {
		t.Errorf("transport read %q", tr.content["ok@x"])
	}
}

func TestRestartResumesWithoutRedelivery(t *testing.T) {
	dir := t.TempDir()
	opt := Options{MinBackoff: time.Minute, MaxBackoff: time.Hour}
	q := openTest(t, dir, opt)
	tr := newTransport(map[string]Result{"later@x": tempResult})
	id := enqueue(t, q.Queue, "s@x", "body", rcpt("now@x", "local"), rcpt("later@x", "local"), rcpt("never-tried@x", "other"))
	// "other" has no transport in the first run, so it stays deferred too.
	q.process(context.Background(), id, map[string]Transport{"local": tr})
	start := q.clock.Now()
	q.Close()

	q2 := openTest(t, dir, opt)
	q2.clock.t = start.Add(2 * time.Minute)
	tr.set("later@x", okResult)
	other := newTransport(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q2.Run(ctx, map[string]Transport{"local": tr, "other": other}) }()
	waitFor(t, "message removed", func() bool { return len(q2.log.find(id+": removed")) == 1 })
	if _, err := q2.Get(context.Background(), id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after removal: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	want := map[string]int{"now@x": 1, "later@x": 2, "never-tried@x": 1}
	got := map[string]int{"now@x": tr.count("now@x"), "later@x": tr.count("later@x"), "never-tried@x": other.count("never-tried@x")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deliveries per recipient (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(q2.contentPath(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("content file left: %v", err)
	}
	if len(q2.log.find("qmgr: "+id+": removed")) != 1 {
		t.Errorf("no removed line in %q", q2.log.lines)
	}
}

func TestBackoffDoublesUpToMax(t *testing.T) {
	q := openTest(t, "", Options{MinBackoff: 5 * time.Minute, MaxBackoff: 4000 * time.Second})
	tests := []struct {
		attempts int
		want     time.Duration
	}{
		{1, 5 * time.Minute},
		{2, 10 * time.Minute},
		{3, 20 * time.Minute},
		{4, 40 * time.Minute},
		{5, 4000 * time.Second},
		{60, 4000 * time.Second},
	}
	for _, tt := range tests {
		if got := q.backoff(tt.attempts); got != tt.want {
			t.Errorf("backoff(%d) = %v, want %v", tt.attempts, got, tt.want)
		}
	}
}

func TestDeferredWaitsForNextTry(t *testing.T) {
	q := openTest(t, "", Options{MinBackoff: time.Minute, MaxBackoff: 3 * time.Minute})
	tr := newTransport(map[string]Result{"r@x": tempResult})
	ts := map[string]Transport{"local": tr}
	id := enqueue(t, q.Queue, "s@x", "body", rcpt("r@x", "local"))
	// Each step: advance the clock, run a pass, expect the attempt count and
	// the next try relative to the clock.
	steps := []struct {
		advance  time.Duration
		attempts int
		next     time.Duration // from the clock after the step
	}{
		{0, 1, time.Minute},
		{59 * time.Second, 1, time.Second}, // not due yet
		{time.Second, 2, 2 * time.Minute},
		{2 * time.Minute, 3, 3 * time.Minute},
		{3 * time.Minute, 4, 3 * time.Minute}, // capped
	}
	for i, st := range steps {
		q.clock.Advance(st.advance)
		q.process(context.Background(), id, ts)
		r := mustGet(t, q.Queue, id).Recipients[0]
		if tr.count("r@x") != st.attempts || r.Attempts != st.attempts {
			t.Errorf("step %d: %d calls, Attempts %d; want %d", i, tr.count("r@x"), r.Attempts, st.attempts)
		}
		if want := q.clock.Now().Add(st.next); !r.NextTry.Equal(want) {
			t.Errorf("step %d: NextTry %v, want %v", i, r.NextTry, want)
		}
	}
	due, err := dueIDs(context.Background(), q.db, q.clock.Now(), "", 10)
	if err != nil || len(due) != 0 {
		t.Errorf("dueIDs before NextTry = %v, %v", due, err)
	}
	q.clock.Advance(3 * time.Minute)
	if due, _ := dueIDs(context.Background(), q.db, q.clock.Now(), "", 10); len(due) != 1 || due[0] != id {
		t.Errorf("dueIDs at NextTry = %v", due)
	}
}

func TestExpiryBounces(t *testing.T) {
	tests := []struct {
		name   string
		sender string
		age    time.Duration
		want   envelope.State
	}{
		{"young", "s@x", 23 * time.Hour, envelope.Deferred},
		{"expired", "s@x", 24 * time.Hour, envelope.Bounced},
		{"null sender young", "", 59 * time.Minute, envelope.Deferred},
		{"null sender expired", "", time.Hour, envelope.Bounced},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := openTest(t, "", Options{MaxLifetime: 24 * time.Hour, BounceLifetime: time.Hour})
			id := enqueue(t, q.Queue, tt.sender, "body", rcpt("r@x", "local"))
			q.clock.Advance(tt.age)
			q.process(context.Background(), id, map[string]Transport{"local": newTransport(map[string]Result{"r@x": tempResult})})
			r := mustGet(t, q.Queue, id).Recipients[0]
			if r.State != tt.want || r.LastReply != "4.2.2 mailbox full" {
				t.Errorf("state %s (%q), want %s with the last reply", r.State, r.LastReply, tt.want)
			}
		})
	}
}

func TestMissingTransportDefers(t *testing.T) {
	q := openTest(t, "", Options{MinBackoff: time.Minute, MaxBackoff: time.Hour})
	local := newTransport(nil)
	id := enqueue(t, q.Queue, "s@x", "body", rcpt("me@here", "local"), rcpt("you@remote", "smtp"))
	q.process(context.Background(), id, map[string]Transport{"local": local})

	envs, err := q.List(context.Background())
	if err != nil || len(envs) != 1 {
		t.Fatalf("List = %v, %v", envs, err)
	}
	r := envs[0].Recipients[1]
	if r.State != envelope.Deferred || r.LastReply != "4.4.0 delivery temporarily suspended: no transport for remote mail" ||
		!r.NextTry.Equal(q.clock.Now().Add(time.Minute)) {
		t.Errorf("remote recipient %+v", r)
	}
	if envs[0].Recipients[0].State != envelope.Delivered {
		t.Errorf("local recipient %s", envs[0].Recipients[0].State)
	}
	q.clock.Advance(time.Minute)
	q.process(context.Background(), id, map[string]Transport{"local": local})
	if r := mustGet(t, q.Queue, id).Recipients[1]; r.Attempts != 2 || r.State != envelope.Deferred {
		t.Errorf("after retry: %+v", r)
	}
	if local.count("me@here") != 1 {
		t.Errorf("local recipient delivered %d times", local.count("me@here"))
	}
}

type fakeNotifier struct {
	err   error
	calls [][]string
}

func (b *fakeNotifier) Notify(_ context.Context, msg *Message, delay bool, rcpts []*envelope.Recipient) error {
	var addrs []string
	if delay {
		addrs = append(addrs, "delay:")
	}
	for _, r := range rcpts {
		s := r.Addr + " " + r.LastReply
		if r.Action != "" {
			s += " " + r.Action
		}
		addrs = append(addrs, s)
	}
	b.calls = append(b.calls, addrs)
	return b.err
}

func TestBouncedRecipients(t *testing.T) {
	ts := func() map[string]Transport {
		return map[string]Transport{"local": newTransport(map[string]Result{"perm@x": permResult})}
	}
	t.Run("without notifier the message stays", func(t *testing.T) {
		q := openTest(t, "", Options{})
		id := enqueue(t, q.Queue, "s@x", "body", rcpt("ok@x", "local"), rcpt("perm@x", "local"))
		q.process(context.Background(), id, ts())
		got := states(mustGet(t, q.Queue, id))
		if diff := cmp.Diff(map[string]envelope.State{"ok@x": envelope.Delivered, "perm@x": envelope.Bounced}, got); diff != "" {
			t.Errorf("states (-want +got):\n%s", diff)
		}
		if ids, _ := finishedIDs(context.Background(), q.db, false, "", 10); len(ids) != 0 {
			t.Errorf("held message rescanned: %v", ids)
		}
	})
	t.Run("notifier failing then succeeding", func(t *testing.T) {
		b := &fakeNotifier{err: errors.New("no")}
		q := openTest(t, "", Options{Notifier: b})
		id := enqueue(t, q.Queue, "s@x", "body", rcpt("ok@x", "local"), rcpt("perm@x", "local"))
		q.process(context.Background(), id, ts())
		if _, err := q.Get(context.Background(), id); err != nil {
			t.Fatalf("message gone after a failed bounce: %v", err)
		}
		if ids, _ := finishedIDs(context.Background(), q.db, true, "", 10); len(ids) != 1 {
			t.Fatalf("failed bounce not rescanned: %v", ids)
		}
		b.err = nil
		q.process(context.Background(), id, ts())
		if _, err := q.Get(context.Background(), id); !errors.Is(err, ErrNotFound) {
			t.Errorf("message kept after bounce: %v", err)
		}
		want := [][]string{{"perm@x 5.1.1 user unknown"}, {"perm@x 5.1.1 user unknown"}}
		if diff := cmp.Diff(want, b.calls); diff != "" {
			t.Errorf("bounce calls (-want +got):\n%s", diff)
		}
	})
}

func TestCorruptEntriesMovedAside(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(q *testQueue, id string) error
	}{
		{"missing file", func(q *testQueue, id string) error { return os.Remove(q.contentPath(id)) }},
		{"truncated file", func(q *testQueue, id string) error { return os.Truncate(q.contentPath(id), 2) }},
		{"undecodable row", func(q *testQueue, id string) error {
			_, err := q.db.Exec(`UPDATE messages SET client = '{' WHERE id = ?`, id)
			return err
		}},
		{"unknown state", func(q *testQueue, id string) error {
			_, err := q.db.Exec(`UPDATE recipients SET state = 'lost' WHERE msg_id = ?`, id)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Damage at rest, found by the scan at start: a message just
			// committed goes to delivery from the hand-off instead.
			dir := t.TempDir()
			q0 := openTest(t, dir, Options{})
			bad := enqueue(t, q0.Queue, "s@x", "spoilt body", rcpt("a@x", "local"))
			good := enqueue(t, q0.Queue, "s@x", "good body", rcpt("b@x", "local"))
			q0.Close()
			q := openTest(t, dir, Options{})
			if err := tt.spoil(q, bad); err != nil {
				t.Fatal(err)
			}
			tr := newTransport(nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- q.Run(ctx, map[string]Transport{"local": tr}) }()
			waitFor(t, "good message delivered and bad one moved aside", func() bool {
				return len(q.log.find(good+": removed")) == 1 && len(q.log.find(bad+": corrupt queue entry")) == 1
			})
			cancel()
			<-done
			if tr.count("a@x") != 0 || tr.count("b@x") != 1 {
				t.Errorf("deliveries: bad %d, good %d", tr.count("a@x"), tr.count("b@x"))
			}
			if envs, err := q.List(context.Background()); err != nil || len(envs) != 0 {
				t.Errorf("List = %v, %v; want the corrupt entry left out", envs, err)
			}
			if due, _ := dueIDs(context.Background(), q.db, q.clock.Now(), "", 10); len(due) != 0 {
				t.Errorf("corrupt entry still due: %v", due)
			}
			if tt.name != "missing file" {
				if _, err := os.Stat(filepath.Join(q.dir, "corrupt", bad)); err != nil {
					t.Errorf("content not moved to corrupt/: %v", err)
				}
			}
		})
	}
}

func TestRunDeliversNewMailAtOnce(t *testing.T) {
	// A RunDelay of an hour: only the committer's hand-off can start these.
	q := openTest(t, "", Options{RunDelay: time.Hour, Concurrency: 2})
	tr := newTransport(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx, map[string]Transport{"local": tr}) }()
	var ids []string
	for i := range 10 {
		orcpt := dsn.ORCPT{}
		if i == 0 {
			orcpt = dsn.ORCPT{Type: "rfc822", Addr: "alias@x"}
		}
		r := rcpt("r"+string(rune('a'+i))+"@x", "local")
		r.ORCPT = orcpt
		ids = append(ids, enqueue(t, q.Queue, "s@x", "body", r))
	}
	waitFor(t, "all delivered", func() bool {
		envs, _ := q.List(context.Background())
		return len(envs) == 0
	})
	cancel()
	<-done
	if lines := q.log.find(ids[0]+": to=<ra@x>, orig_to=<alias@x>, relay=local", "status=sent"); len(lines) != 1 {
		t.Errorf("no orig_to line in %q", q.log.lines)
	}
}
