package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultAccountsRefresh is how often, at most, UserExists asks the
// database whether the accounts changed when the name it looks up is
// known (Options.AccountsRefresh); an unknown name is always checked.
const DefaultAccountsRefresh = 200 * time.Millisecond

// accountsGenSQL reads the accounts generation: a counter in meta that
// every transaction adding or deleting an account increases, whichever
// process runs it (the daemon, or `facteur user add` beside it).
const (
	accountsGenSQL  = `SELECT value FROM meta WHERE name = 'accounts_gen'`
	bumpAccountsSQL = `UPDATE meta SET value = value + 1 WHERE name = 'accounts_gen'`
)

// accountSet is an immutable snapshot of every account name, with the
// generation it was read at and when that generation was last checked.
type accountSet struct {
	names   map[string]struct{}
	gen     int64
	checked time.Time // monotonic; the zero time forces a check
}

// accountCache answers UserExists from memory.
//
// The bound on staleness: a change committed by this Store is seen by the
// next lookup (the change forces a check). A name missing from the
// snapshot is never answered from memory alone: the generation is checked
// first, so an account added by another process is seen at once, and an
// unknown recipient costs one small query, as every lookup did before.
// An account deleted by another process is seen by every lookup that
// starts more than refresh after the deletion committed (one generation
// query per refresh period), or sooner, after a delivery to it failed
// with ErrNotFound. The names are reloaded only when the generation moved.
type accountCache struct {
	refresh time.Duration
	cur     atomic.Pointer[accountSet]
	mu      sync.Mutex // one refresh at a time
}

// exists reports whether the stored (lower-case) name is an account,
// refreshing the snapshot first if it is older than the refresh period.
func (s *Store) accountExists(ctx context.Context, name string) (bool, error) {
	start := time.Now()
	set := s.accounts.cur.Load()
	if set != nil && start.Sub(set.checked) < s.accounts.refresh {
		if _, ok := set.names[name]; ok {
			return true, nil
		}
	}
	// Stale, or a miss: check the generation now (see accountCache).
	set, err := s.refreshAccounts(ctx, start)
	if err != nil {
		return false, err
	}
	_, ok := set.names[name]
	return ok, nil
}

// refreshAccounts checks the generation and reloads the names if it moved.
// A caller that waited for another's refresh takes that one's snapshot if
// it was checked after start, when the caller began its lookup.
func (s *Store) refreshAccounts(ctx context.Context, start time.Time) (*accountSet, error) {
	c := &s.accounts
	c.mu.Lock()
	defer c.mu.Unlock()
	set := c.cur.Load()
	if set != nil && set.checked.After(start) {
		return set, nil // checked while we waited
	}
	// The check time is taken before the queries: a change committed
	// after it is caught by the next check, one period later at most.
	now := time.Now()
	var gen int64
	if err := s.st.accountsGen.QueryRowContext(ctx).Scan(&gen); err != nil {
		return nil, fmt.Errorf("reading accounts generation: %w", err)
	}
	next := &accountSet{gen: gen, checked: now}
	if set != nil && set.gen == gen {
		next.names = set.names
	} else {
		// The names are read after the generation: if they change in
		// between, they are newer than gen, and the next check reloads
		// them once more; never older.
		names, err := s.Users(ctx)
		if err != nil {
			return nil, err
		}
		next.names = make(map[string]struct{}, len(names))
		for _, n := range names {
			next.names[n] = struct{}{}
		}
	}
	c.cur.Store(next)
	return next, nil
}

// accountsChanged makes the next lookup check the generation at once,
// after this Store committed a change of the accounts.
func (s *Store) accountsChanged() {
	c := &s.accounts
	c.mu.Lock()
	defer c.mu.Unlock()
	if set := c.cur.Load(); set != nil {
		c.cur.Store(&accountSet{names: set.names, gen: set.gen})
	}
}
