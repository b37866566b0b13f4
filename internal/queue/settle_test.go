package queue

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"facteur/internal/envelope"
)

// killCopy copies the queue in dir as a kill of the process would leave it
// on disk: the database, its write-ahead log and the content files, without
// the shared-memory index (SQLite rebuilds it). The queue must be idle: its
// commits are all on disk, nothing is being written.
func killCopy(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case filepath.Base(path) == "queue.db-shm":
			return nil
		}
		return copyFile(path, target)
	})
	if err != nil {
		t.Fatalf("copying the queue: %v", err)
	}
	return dst
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// deliveredUnsettled commits a message, lets the manager deliver it and
// waits until its removal waits for a transaction that, with a settle delay
// of an hour, only new mail or Close will bring.
func deliveredUnsettled(t *testing.T, q *testQueue, tr *fakeTransport) string {
	t.Helper()
	id := enqueue(t, q.Queue, "s@x", "body", rcpt("r@x", "local"))
	waitFor(t, "delivery recorded", func() bool { return tr.count("r@x") == 1 && q.isUnsettled(id) })
	return id
}

func TestKillBeforeSettlementRedelivers(t *testing.T) {
	q := openTest(t, "", Options{settleDelay: time.Hour})
	tr := newTransport(nil)
	runQueue(t, q.Queue, map[string]Transport{"local": tr})
	id := deliveredUnsettled(t, q, tr)
	dir := killCopy(t, q.dir)

	q2 := openTest(t, dir, Options{})
	if r := mustGet(t, q2.Queue, id).Recipients[0]; r.State != "pending" || r.Attempts != 0 {
		t.Errorf("after the kill: %s with %d attempts, want pending with none", r.State, r.Attempts)
	}
	tr2 := newTransport(nil)
	runQueue(t, q2.Queue, map[string]Transport{"local": tr2})
	waitFor(t, "redelivered and removed", func() bool { return len(q2.log.find(id+": removed")) == 1 })
	if tr2.count("r@x") != 1 || tr2.content["r@x"] != "body" {
		t.Errorf("after the kill: %d deliveries of %q, want 1 of the content", tr2.count("r@x"), tr2.content["r@x"])
	}
	if _, err := os.Stat(q2.contentPath(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("content file left: %v", err)
	}
}

func TestSettlementRidesWithNewMail(t *testing.T) {
	q := openTest(t, "", Options{settleDelay: time.Hour})
	tr := newTransport(nil)
	runQueue(t, q.Queue, map[string]Transport{"local": tr})
	id := deliveredUnsettled(t, q, tr)
	if _, err := q.Get(context.Background(), id); err != nil {
		t.Fatalf("removal committed before any new mail: %v", err)
	}
	if _, err := os.Stat(q.contentPath(id)); err != nil {
		t.Errorf("content removed before its rows: %v", err)
	}
	enqueue(t, q.Queue, "s@x", "body", rcpt("other@x", "local"))
	// The new message's transaction carried the removal.
	if _, err := q.Get(context.Background(), id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after the next commit: %v, want ErrNotFound", err)
	}
	waitFor(t, "removal logged", func() bool { return len(q.log.find("qmgr: "+id+": removed")) == 1 })
	if _, err := os.Stat(q.contentPath(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("content file left: %v", err)
	}
}

func TestCloseCommitsSettlements(t *testing.T) {
	q := openTest(t, "", Options{settleDelay: time.Hour})
	tr := newTransport(nil)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error)
	go func() { ran <- q.Run(ctx, map[string]Transport{"local": tr}) }()
	id := deliveredUnsettled(t, q, tr)
	cancel()
	<-ran
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if len(q.log.find("qmgr: "+id+": removed")) != 1 {
		t.Errorf("no removed line after Close: %q", q.log.lines)
	}
	if err := q.commitUpdates(settlement{id: id, remove: true}); !errors.Is(err, ErrClosed) {
		t.Errorf("settlement after Close: %v, want ErrClosed", err)
	}
	q2 := openTest(t, q.dir, Options{})
	if _, err := q2.Get(context.Background(), id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after reopening: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(q2.contentPath(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("content file left: %v", err)
	}
}

func TestSettlementAloneCommitsAfterDelay(t *testing.T) {
	q := openTest(t, "", Options{settleDelay: time.Millisecond})
	tr := newTransport(map[string]Result{"r@x": tempResult})
	runQueue(t, q.Queue, map[string]Transport{"local": tr})
	id := enqueue(t, q.Queue, "s@x", "body", rcpt("r@x", "local"))
	waitFor(t, "deferral committed", func() bool {
		env, err := q.Get(context.Background(), id)
		return err == nil && env.Recipients[0].State == "deferred" && !q.isUnsettled(id)
	})
}

func TestScanSkipsUnsettledMessages(t *testing.T) {
	q := openTest(t, "", Options{settleDelay: time.Hour})
	tr := newTransport(nil)
	ts := map[string]Transport{"local": tr}
	id := enqueue(t, q.Queue, "s@x", "body", rcpt("r@x", "local"))
	if _, ok := q.fresh.take(); !ok {
		t.Fatal("nothing in the hand-off")
	}
	q.Queue.process(context.Background(), id, ts) // delivered, removal not committed
	s := newScheduler(q.Queue, ts)
	s.scan(context.Background())
	if len(s.backlog) != 0 {
		t.Errorf("scan took %v while its removal waits", s.backlog)
	}
	if err := q.flush(); err != nil {
		t.Fatal(err)
	}
	s.scan(context.Background())
	if len(s.backlog) != 0 || tr.count("r@x") != 1 {
		t.Errorf("after the removal: backlog %v, %d deliveries", s.backlog, tr.count("r@x"))
	}
}

func TestUnsyncedDirectoryFailsCommit(t *testing.T) {
	q := openTest(t, "", Options{})
	f, err := q.Create(context.Background(), &envelope.Envelope{Sender: "s@x", Recipients: []*envelope.Recipient{rcpt("r@x", "local")}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	f.Write([]byte("body"))
	// The directory vanishes before the committer can fsync it: the message
	// must not be acknowledged, and its rows must not stay.
	shardDir := q.shardDir(f.ID())
	if err := os.Rename(shardDir, shardDir+".gone"); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(context.Background()); err == nil {
		t.Fatal("Commit succeeded without its directory fsync")
	}
	if _, err := q.Get(context.Background(), f.ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after the failed commit: %v, want ErrNotFound", err)
	}
	if q.fresh.holds(f.ID()) {
		t.Error("failed message left in the hand-off")
	}
}
