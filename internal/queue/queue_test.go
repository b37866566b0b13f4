package queue

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"facteur/internal/dsn"
	"facteur/internal/envelope"
)

func TestCommitThenReopen(t *testing.T) {
	dir := t.TempDir()
	q := openTest(t, dir, Options{})
	env := &envelope.Envelope{
		Sender: "alice@example.org", EnvID: "env-1", Ret: dsn.RetHdrs, Body: "8BITMIME", SMTPUTF8: true,
		Client: envelope.Client{Helo: "client.example", Addr: netip.MustParseAddr("192.0.2.7"), Protocol: "ESMTPS"},
		Recipients: []*envelope.Recipient{
			{Addr: "bob@example.org", Transport: envelope.TransportLocal, Dest: "bob", Final: "bob@example.org",
				ORCPT: dsn.ORCPT{Type: "rfc822", Addr: "Bob@Example.org"}, Notify: dsn.NotifyFailure | dsn.NotifySuccess},
			{Addr: "carol@remote.example", Transport: envelope.TransportSMTP, Dest: "carol@remote.example"},
		},
	}
	f, err := q.Create(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	body := "Subject: hi\r\n\r\nhello\r\n"
	if _, err := io.WriteString(f, body); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if env.ID != f.ID() || !validID(f.ID()) {
		t.Fatalf("ID %q, env.ID %q", f.ID(), env.ID)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}

	q2 := openTest(t, dir, Options{})
	got := mustGet(t, q2.Queue, f.ID())
	want := *env
	want.Size = int64(len(body))
	want.Arrival = q.clock.Now()
	want.Recipients = []*envelope.Recipient{ptr(*env.Recipients[0]), ptr(*env.Recipients[1])}
	for _, r := range want.Recipients {
		r.State = envelope.Pending
	}
	if diff := cmp.Diff(&want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("envelope after reopen (-want +got):\n%s", diff)
	}
	rc, err := q2.OpenContent(f.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); string(b) != body {
		t.Errorf("content %q, want %q", b, body)
	}
	if lines := q.log.find("qmgr: " + f.ID() + ": from=<alice@example.org>, size=22, nrcpt=2 (queue active)"); len(lines) != 1 {
		t.Errorf("commit log lines %q", q.log.lines)
	}
}

func ptr[T any](v T) *T { return &v }

func TestAbortLeavesNothing(t *testing.T) {
	q := openTest(t, "", Options{})
	f, err := q.Create(context.Background(), &envelope.Envelope{Recipients: []*envelope.Recipient{rcpt("a@x", "local")}})
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("data"))
	f.Abort()
	if _, err := f.Write([]byte("more")); err == nil {
		t.Error("Write after Abort succeeded")
	}
	if err := f.Commit(context.Background()); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if _, err := os.Stat(q.contentPath(f.ID())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("content file still there: %v", err)
	}
	envs, err := q.List(context.Background())
	if err != nil || len(envs) != 0 {
		t.Errorf("List = %v, %v; want empty", envs, err)
	}
}

func TestCommitAfterCloseFailsAndCleansUp(t *testing.T) {
	q := openTest(t, "", Options{})
	f, err := q.Create(context.Background(), &envelope.Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("x"))
	q.Close()
	if err := f.Commit(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Close = %v, want ErrClosed", err)
	}
	if _, err := os.Stat(q.contentPath(f.ID())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("content file of failed commit still there: %v", err)
	}
}

func TestConcurrentCommitsDurableAndUnique(t *testing.T) {
	dir := t.TempDir()
	q := openTest(t, dir, Options{Now: time.Now})
	const n = 64
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ids[i] = enqueue(t, q.Queue, "s@x", strings.Repeat("x", i), rcpt("r@y", "local"))
		})
	}
	wg.Wait()
	q.Close()

	q2 := openTest(t, dir, Options{})
	envs, err := q2.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, e := range envs {
		listed = append(listed, e.ID)
	}
	want := slices.Clone(ids)
	slices.Sort(want)
	if diff := cmp.Diff(want, listed); diff != "" {
		t.Errorf("listed IDs (-committed +listed):\n%s", diff)
	}
	if len(slices.Compact(want)) != n {
		t.Errorf("duplicate IDs")
	}
}

func TestIDsFollowArrival(t *testing.T) {
	q := openTest(t, "", Options{})
	var prev string
	for i := range 3000 { // more than one counter's worth at a frozen clock
		if i%1500 == 0 {
			q.clock.Advance(time.Millisecond)
		}
		id := q.ids.next()
		if !validID(id) {
			t.Fatalf("invalid ID %q", id)
		}
		if id <= prev {
			t.Fatalf("ID %q after %q: not increasing", id, prev)
		}
		prev = id
	}
}

func TestCloseFlushesCommits(t *testing.T) {
	dir := t.TempDir()
	q := openTest(t, dir, Options{Now: time.Now})
	const n = 100
	type outcome struct {
		id  string
		err error
	}
	out := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			f, err := q.Create(context.Background(), &envelope.Envelope{Recipients: []*envelope.Recipient{rcpt("r@y", "local")}})
			if err != nil {
				out[i].err = err
				return
			}
			f.Write([]byte("body"))
			out[i] = outcome{f.ID(), f.Commit(context.Background())}
		})
	}
	q.Close() // races with the commits: each must be all or nothing
	wg.Wait()

	q2 := openTest(t, dir, Options{})
	for _, o := range out {
		if o.id == "" {
			continue
		}
		_, err := q2.Get(context.Background(), o.id)
		_, ferr := os.Stat(q2.contentPath(o.id))
		switch {
		case o.err == nil && (err != nil || ferr != nil):
			t.Errorf("%s: Commit returned nil but Get = %v, file %v", o.id, err, ferr)
		case o.err != nil && (err == nil || ferr == nil):
			t.Errorf("%s: Commit returned %v but entry or file remain", o.id, o.err)
		}
	}
}

func TestOpenReaderWhileRunning(t *testing.T) {
	q := openTest(t, "", Options{})
	id := enqueue(t, q.Queue, "a@x", "body", rcpt("b@y", "local"))
	r, err := OpenReader(q.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	envs, err := r.List(context.Background())
	if err != nil || len(envs) != 1 || envs[0].ID != id {
		t.Fatalf("reader List = %v, %v", envs, err)
	}
	id2 := enqueue(t, q.Queue, "a@x", "body", rcpt("c@y", "local"))
	if _, err := r.Get(context.Background(), id2); err != nil {
		t.Errorf("reader Get of a later commit: %v", err)
	}
	if _, err := r.Create(context.Background(), &envelope.Envelope{}); err == nil {
		t.Error("Create on a reader succeeded")
	}
	if _, err := OpenReader(t.TempDir()); err == nil {
		t.Error("OpenReader of an empty directory succeeded")
	}
}

func TestGetRejectsBadIDs(t *testing.T) {
	q := openTest(t, "", Options{})
	for _, id := range []string{"", "../../etc/passwd", "0000000000000000", "abcdefghijklmno", "00000000000000I"} {
		if _, err := q.Get(context.Background(), id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
		if _, err := q.OpenContent(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("OpenContent(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestSpaceOK(t *testing.T) {
	tests := []struct {
		minFree int64
		want    bool
	}{
		{0, true},
		{1, true},
		{1 << 62, false},
	}
	for _, tt := range tests {
		q := openTest(t, "", Options{MinFree: tt.minFree})
		if got := q.SpaceOK(); got != tt.want {
			t.Errorf("MinFree %d: SpaceOK = %v, want %v", tt.minFree, got, tt.want)
		}
	}
}

func TestFilesLandInShardDirectories(t *testing.T) {
	q := openTest(t, "", Options{})
	id := enqueue(t, q.Queue, "a@x", "body", rcpt("b@y", "local"))
	want := filepath.Join(q.dir, "msg", id[6:8], id)
	if _, err := os.Stat(want); err != nil {
		t.Errorf("content not at %s: %v", want, err)
	}
}

func TestSweepRemovesOnlyOldOrphans(t *testing.T) {
	q := openTest(t, "", Options{})
	queued := enqueue(t, q.Queue, "s@x", "body", rcpt("r@x", "local"))
	old := time.Now().Add(-2 * orphanAge)
	f, err := q.Create(context.Background(), &envelope.Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	orphan := f.ID()
	f.f.Close() // a crash before Commit: the file stays, no row
	f.f = nil
	young, err := q.Create(context.Background(), &envelope.Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	defer young.Abort()
	for _, id := range []string{queued, orphan} {
		if err := os.Chtimes(q.contentPath(id), old, old); err != nil {
			t.Fatal(err)
		}
	}
	q.sweepOrphans(context.Background())
	want := map[string]bool{queued: true, orphan: false, young.ID(): true}
	for id, kept := range want {
		_, err := os.Stat(q.contentPath(id))
		if (err == nil) != kept {
			t.Errorf("%s: kept %v, want %v", id, err == nil, kept)
		}
	}
}
