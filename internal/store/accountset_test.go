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

// TestUserExistsCached: within the refresh period the answer comes from
// memory, except that this Store's own changes are seen at once.
func TestUserExistsCached(t *testing.T) {
	first, second := openPair(t, time.Hour)
	ctx := context.Background()
	if err := second.AddUser(ctx, "other", "pw"); err != nil {
		t.Fatal(err)
	}
	if ok, err := first.UserExists(ctx, "other"); ok || err != nil {
		t.Errorf("UserExists(other) = %v, %v: the snapshot taken at Open should still answer", ok, err)
	}
	if err := first.AddUser(ctx, "mine", "pw"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mine", "other"} {
		// first's own change forced a check, which also caught second's.
		if ok, err := first.UserExists(ctx, name); !ok || err != nil {
			t.Errorf("UserExists(%s) after own AddUser = %v, %v", name, ok, err)
		}
	}
	if err := first.DeleteUser(ctx, "mine"); err != nil {
		t.Fatal(err)
	}
	if ok, err := first.UserExists(ctx, "mine"); ok || err != nil {
		t.Errorf("UserExists(mine) after own DeleteUser = %v, %v", ok, err)
	}
	first.Close()
	if _, err := first.UserExists(ctx, "other"); !errors.Is(err, ErrClosed) {
		t.Errorf("UserExists after Close = %v, want ErrClosed", err)
	}
}
