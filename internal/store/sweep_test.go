package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// reopenSwept closes s, opens its directory again with the clock moved by
// skew, and waits until the sweep started by Open has finished.
func reopenSwept(t *testing.T, s *Store, skew time.Duration) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	opt := cheap
	opt.SweepOrphans = true
	opt.Now = func() time.Time { return time.Now().Add(skew) }
	s2, err := OpenWith(s.dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	<-s2.swept
	return s2
}

// plant writes a file under blobs/ and returns its path.
func plant(t *testing.T, s *Store, name string) string {
	t.Helper()
	p := s.blobPath(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("orphan\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSweepRemovesOldOrphansOnly(t *testing.T) {
	s := newStore(t, "toto", "bob")
	if err := deliver(t, s, sample, rcpt{"toto", "", ""}); err != nil {
		t.Fatal(err)
	}
	if err := deliver(t, s, "Subject: shared\r\n\r\nbody\r\n", rcpt{"toto", "", ""}, rcpt{"bob", "", ""}); err != nil {
		t.Fatal(err)
	}
	referenced := blobFiles(t, s)
	// A file named only by a blobs row: that table is checked too.
	byBlobsRow := plant(t, s, "00/1.1.1")
	if _, err := s.wdb.Exec(`INSERT INTO blobs (name, size, refs) VALUES ('00/1.1.1', 8, 1)`); err != nil {
		t.Fatal(err)
	}
	oldOrphans := []string{plant(t, s, "00/2.2.2"), plant(t, s, "ff/3.3.3")}
	young := plant(t, s, "00/4.4.4")
	future := time.Now().Add(2 * time.Hour)
	if err := os.Chtimes(young, future, future); err != nil {
		t.Fatal(err)
	}
	notBlobs := []string{plant(t, s, "00/notes.txt"), plant(t, s, "other/5.5.5")}

	// Every file on disk is now 90 minutes old, but young's modification time.
	s = reopenSwept(t, s, 90*time.Minute)

	want := slices.Concat(referenced, []string{byBlobsRow, young}, notBlobs)
	slices.Sort(want)
	got := blobFiles(t, s)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files after the sweep (-want +got):\n%s", diff)
	}
	for _, p := range oldOrphans {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("old orphan %s kept (stat: %v)", p, err)
		}
	}
	for _, m := range []struct {
		account string
		uid     uint32
		want    string
	}{
		{"toto", 1, sample},
		{"toto", 2, "Subject: shared\r\n\r\nbody\r\n"},
		{"bob", 1, "Subject: shared\r\n\r\nbody\r\n"},
	} {
		if got := readMessage(t, s, m.account, "INBOX", m.uid); got != m.want {
			t.Errorf("%s %d read back %q after the sweep, want %q", m.account, m.uid, got, m.want)
		}
	}
}

// A blob that LinkFrom has just made from an old queue file has an old
// modification time; the status change of link(2) keeps it from the sweep.
func TestSweepKeepsRecentlyLinkedBlob(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("status-change times are read on Linux only")
	}
	s := newStore(t)
	queued := filepath.Join(t.TempDir(), "queued")
	if err := os.WriteFile(queued, []byte("Subject: deferred\r\n\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-3 * time.Hour)
	if err := os.Chtimes(queued, past, past); err != nil {
		t.Fatal(err)
	}
	blob := s.blobPath("00/6.6.6")
	if err := os.MkdirAll(filepath.Dir(blob), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(queued, blob); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	reopenSwept(t, s, 0)
	if _, err := os.Stat(blob); err != nil {
		t.Errorf("blob linked a moment ago from an old file was swept: %v", err)
	}
}

func TestCloseWaitsForSweep(t *testing.T) {
	started := make(chan struct{})
	var returned atomic.Bool
	opt := cheap
	opt.SweepOrphans = true
	opt.sweepHook = func(ctx context.Context) {
		close(started)
		<-ctx.Done() // a sweep still running when Close is called
		returned.Store(true)
	}
	s, err := OpenWith(t.TempDir(), opt)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !returned.Load() {
		t.Error("Close returned before the sweep was stopped")
	}
	select {
	case <-s.swept:
	default:
		t.Error("Close returned while the sweep goroutine was running")
	}
}

func TestValidBlobFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"18a2b3c4d5e6f708.1.0a1b2c3d4e5f", true},
		{"1.2.3", true},
		{"", false},
		{".hidden", false},
		{"notes.txt", false},
		{"18A2.1.2", false},
		{"1.2.3~", false},
	} {
		if got := validBlobFile(tc.name); got != tc.want {
			t.Errorf("validBlobFile(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
