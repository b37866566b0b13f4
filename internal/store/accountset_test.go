package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// openPair opens two Stores on one directory, as the daemon and a
// `facteur user` command would; first caches with the given refresh.
func openPair(t *testing.T, refresh time.Duration) (first, second *Store) {
	t.Helper()
	dir := t.TempDir()
	opt := cheap
	opt.AccountsRefresh = refresh
	first, err := OpenWith(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close() })
	return first, openTest(t, dir)
}

// eventually polls UserExists until it answers want; the deadline is far
// beyond the refresh period and only stops a broken test.
func eventually(t *testing.T, s *Store, name string, want bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := s.UserExists(context.Background(), name)
		if err != nil {
			t.Fatalf("UserExists(%s): %v", name, err)
		}
		if ok == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("UserExists(%s) still %v", name, ok)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestUserExistsOtherProcess: accounts added and deleted by another Store
// on the same directory become visible within the refresh period.
func TestUserExistsOtherProcess(t *testing.T) {
	first, second := openPair(t, 20*time.Millisecond)
	ctx := context.Background()
	eventually(t, first, "newbie", false) // loads the cache
	if err := second.AddUser(ctx, "Newbie", "pw"); err != nil {
		t.Fatal(err)
	}
	eventually(t, first, "newbie", true)
	eventually(t, first, "NEWBIE", true)
	if err := second.DeleteUser(ctx, "newbie"); err != nil {
		t.Fatal(err)
	}
	eventually(t, first, "newbie", false)
}

// TestUserExistsCached: within the refresh period a known name is
// answered from memory, so another process's deletion is not seen yet;
// an unknown name, this Store's own changes and a delivery that found the
// account gone are checked at once.
func TestUserExistsCached(t *testing.T) {
	first, second := openPair(t, time.Hour)
	ctx := context.Background()
	check := func(name string, want bool) {
		t.Helper()
		if ok, err := first.UserExists(ctx, name); ok != want || err != nil {
			t.Errorf("UserExists(%s) = %v, %v; want %v", name, ok, err, want)
		}
	}
	if err := second.AddUser(ctx, "other", "pw"); err != nil {
		t.Fatal(err)
	}
	check("other", true) // a miss checks the generation
	if err := second.DeleteUser(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	check("other", true) // known: from memory until the period ends
	if err := deliver(t, first, sample, rcpt{"other", "", ""}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delivery to deleted account = %v, want ErrNotFound", err)
	}
	check("other", false) // the failed delivery forced a check
	if err := first.AddUser(ctx, "mine", "pw"); err != nil {
		t.Fatal(err)
	}
	check("mine", true)
	if err := second.AddUser(ctx, "again", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := first.DeleteUser(ctx, "mine"); err != nil {
		t.Fatal(err)
	}
	check("mine", false)
	check("again", true)
	first.Close()
	if _, err := first.UserExists(ctx, "again"); !errors.Is(err, ErrClosed) {
		t.Errorf("UserExists after Close = %v, want ErrClosed", err)
	}
}
