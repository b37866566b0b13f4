// Package limiter counts failed logins per client address within a sliding
// window, the throttle that SMTP AUTH, POP3 and IMAP logins share: past
// the limit a client address is refused before its credentials are
// checked, and each failure is answered after a longer pause.
package limiter

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// Limiter counts failures per client address within a sliding window. Its
// memory is bounded by the addresses that failed within the window, and
// each keeps at most limit times. It is safe for concurrent use.
type Limiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	fails   map[netip.Addr][]time.Time // oldest first
	sweepAt int                        // map size that triggers a sweep
}

const minSweep = 1024

// New returns a limiter that blocks an address after limit failures within
// window; now is the clock (time.Now outside tests).
func New(limit int, window time.Duration, now func() time.Time) *Limiter {
	return &Limiter{limit: limit, window: window, now: now,
		fails: make(map[netip.Addr][]time.Time), sweepAt: minSweep}
}

// Limit is the number of failures within the window that blocks.
func (l *Limiter) Limit() int { return l.limit }

// Blocked reports an address at or past the limit in the window. The zero
// address (a local session) is never counted.
func (l *Limiter) Blocked(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recent(addr)) >= l.limit
}

// Add records one failure and returns the address's failures in the
// window, this one included; 0 for the zero address.
func (l *Limiter) Add(addr netip.Addr) int {
	if !addr.IsValid() {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := append(l.recent(addr), l.now())
	if len(ts) > l.limit {
		ts = ts[len(ts)-l.limit:]
	}
	l.fails[addr] = ts
	if len(l.fails) >= l.sweepAt {
		l.sweep()
	}
	return len(ts)
}

// Len returns the number of addresses with a failure kept.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.fails)
}

// recent drops the failures of addr older than the window.
func (l *Limiter) recent(addr netip.Addr) []time.Time {
	ts := l.fails[addr]
	cut := l.now().Add(-l.window)
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	if i == len(ts) {
		delete(l.fails, addr)
		return nil
	}
	ts = ts[i:]
	l.fails[addr] = ts
	return ts
}

// sweep forgets every address without a failure in the window.
func (l *Limiter) sweep() {
	for a := range l.fails {
		l.recent(a)
	}
	l.sweepAt = max(minSweep, 2*len(l.fails))
}

// Sleep pauses d, or less when ctx is done: the pause before a failed
// login's reply.
func Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
