package smtpd

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// failureLimiter counts failed AUTH attempts per client address within a
// sliding window. Its memory is bounded by the addresses that failed
// within the window, and each keeps at most limit times.
type failureLimiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	fails   map[netip.Addr][]time.Time // oldest first
	sweepAt int                        // map size that triggers a sweep
}

const minSweep = 1024

func newFailureLimiter(limit int, window time.Duration, now func() time.Time) *failureLimiter {
	return &failureLimiter{limit: limit, window: window, now: now,
		fails: make(map[netip.Addr][]time.Time), sweepAt: minSweep}
}

// blocked reports an address at or past the limit in the window. The zero
// address (a local session) is never counted.
func (l *failureLimiter) blocked(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recent(addr)) >= l.limit
}

// add records one failure and returns the address's failures in the
// window, this one included.
func (l *failureLimiter) add(addr netip.Addr) int {
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

// recent drops the failures of addr older than the window.
func (l *failureLimiter) recent(addr netip.Addr) []time.Time {
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
func (l *failureLimiter) sweep() {
	for a := range l.fails {
		l.recent(a)
	}
	l.sweepAt = max(minSweep, 2*len(l.fails))
}

// sleepCtx pauses d, or less when ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
